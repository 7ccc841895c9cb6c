//! State for the limiting actions: the sliding-window store behind `rate-limit` (in memory, or
//! shared with other edges through [`sluice_policy::SharedWindows`]) and the rolling-window
//! breaker behind `circuit-breaker` (their durations are parsed with
//! [`sluice_wire::parse_duration`]). All time is passed in by the caller (virtual in tests).

// Some of the state machines' API (sweeping, inspecting state) is only used by their tests.
#![cfg_attr(not(test), allow(dead_code))]

pub mod circuit_breaker;
pub mod sliding_window;
pub mod store;

pub use circuit_breaker::{Admission, BreakerConfig, CircuitBreaker};
pub use sliding_window::{Decision, SlidingWindowLimiter};
pub use store::{SharedWindowStore, WindowStore};
