//! ngrok's `compress-response` action: negotiation, planning, header edits
//! and streaming encoders.
//!
//! Typical use on a response:
//! 1. [`plan`] decides what to do;
//! 2. on [`Plan::Compress`], [`apply_headers`] edits the response headers and
//!    the body is fed through [`encoder`]`(alg)`.

mod brotli;
mod encoder;
mod lzw;
mod negotiate;
mod plan;

#[cfg(test)]
mod tests;

pub use encoder::encoder;
#[cfg(test)]
pub use negotiate::negotiate;
pub use negotiate::{Algorithm, AlgorithmError, parse_algorithms};
pub use plan::{Plan, apply_headers, plan};
