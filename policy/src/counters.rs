//! Counters that several edges share (the edge's `rate_limit.redis`): what `rate-limit` counts
//! in when they are configured, reached by actions through [`crate::BuildCx`]. The store itself
//! (Redis) lives outside this crate; this is only its shape.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// One request offered to a shared sliding window.
#[derive(Debug, Clone, Copy)]
pub struct WindowHit<'a> {
    /// The bucket's key in the store, without the window index (already isolates the
    /// account, the endpoint, the action and the bucket-key values).
    pub key: &'a str,
    /// Index of the fixed window the request falls in (`now / window`).
    pub index: u64,
    /// Nanoseconds into that window.
    pub offset_nanos: u128,
    /// The window's length.
    pub window: Duration,
    /// Requests admitted per window.
    pub capacity: u64,
}

/// What the store saw and decided for a [`WindowHit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCounts {
    /// Whether the request was admitted (and counted in window `index`).
    pub admitted: bool,
    /// Admitted requests in window `index - 1`.
    pub prev: u64,
    /// Admitted requests in window `index`, before this one.
    pub curr: u64,
}

/// A shared store failed to answer; the caller counts locally instead.
#[derive(Debug, Clone, thiserror::Error)]
#[error("shared counters: {0}")]
pub struct SharedCountersError(pub String);

/// A store of sliding-window counters shared by several edges.
#[async_trait]
pub trait SharedWindows: Send + Sync + fmt::Debug {
    /// Admits `hit` when the weighted two-window estimate plus one fits its capacity, counting
    /// it only then, atomically with respect to every other edge.
    async fn admit(&self, hit: WindowHit<'_>) -> Result<WindowCounts, SharedCountersError>;
}

/// Shared counters as a policy load sees them: the edge's store and the scope (the account, or
/// the edge config) that the policy's keys are made in, so that no two accounts share a count.
#[derive(Clone)]
pub struct SharedCounters {
    /// The edge's store (one connection per edge).
    pub store: Arc<dyn SharedWindows>,
    /// Who the policy belongs to, e.g. `account:acme` or `config`.
    pub scope: Arc<str>,
}

impl fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCounters")
            .field("store", &self.store)
            .field("scope", &self.scope)
            .finish()
    }
}
