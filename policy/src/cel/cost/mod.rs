//! Bounded cost of policy evaluation: a worst-case estimate refused over a limit at load
//! ([`estimate`]), and a budget per phase enforced while running ([`meter`]). The numbers live
//! in [`limits`].

mod calls;
pub(crate) mod estimate;
pub mod limits;
pub mod meter;
mod size;
