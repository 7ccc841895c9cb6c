//! Sliding-window counter store behind ngrok's `rate-limit` action.
//!
//! Each bucket key keeps the index of its current fixed window plus the
//! admitted counts of that window and the one before. The estimate at offset
//! `e` into the current window of length `R` is
//! `prev * (1 - e / R) + curr`; a request is admitted when
//! `estimate + 1 <= capacity` and only admitted requests are counted.
//! All arithmetic is exact (integer nanoseconds), never floating point.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

#[cfg(test)]
mod tests;

/// Largest `capacity` ngrok accepts for a `rate-limit` action.
pub const MAX_CAPACITY: u64 = 2_000_000_000;
/// Shortest `rate` (window) ngrok accepts.
pub const MIN_WINDOW: Duration = Duration::from_secs(60);
/// Longest `rate` (window) ngrok accepts.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// The `rate` must be a whole multiple of this step.
pub const WINDOW_STEP: Duration = Duration::from_secs(10);

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// Below this many slots a shard's map is never shrunk after a sweep.
const MIN_SHRINK_CAPACITY: usize = 1024;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Invalid `rate-limit` configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitConfigError {
    /// `capacity` outside `1..=2_000_000_000`.
    #[error("rate-limit capacity must be between 1 and {MAX_CAPACITY}, got {0}")]
    Capacity(u64),
    /// `rate` outside 60s..=24h or not a multiple of 10s.
    #[error("rate-limit rate must be a multiple of 10s between 60s and 24h, got {0:?}")]
    Window(Duration),
}

/// Outcome of [`SlidingWindowLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request was admitted and counted.
    Allowed {
        /// Requests that could still be admitted right now for this key.
        remaining: u64,
    },
    /// The request was refused and not counted.
    Limited {
        /// Whole seconds (>= 1, rounded up, capped at the window) until the
        /// estimate has dropped enough to admit one request.
        retry_after: Duration,
    },
}

impl Decision {
    /// True for [`Decision::Allowed`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// Per-key state: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Index of the fixed window `curr` belongs to.
    window: u64,
    /// Admitted requests in window `window`.
    curr: u32,
    /// Admitted requests in window `window - 1`.
    prev: u32,
}

struct Shard {
    buckets: HashMap<u64, Bucket, RandomState>,
    /// Window index at which this shard was last swept.
    swept_window: u64,
}

impl Shard {
    /// Drops buckets whose counts are both zero at window `now_window`.
    fn sweep(&mut self, now_window: u64) -> usize {
        let before = self.buckets.len();
        self.buckets
            .retain(|_, b| b.window.saturating_add(2) > now_window);
        self.swept_window = self.swept_window.max(now_window);
        let len = self.buckets.len();
        if self.buckets.capacity() > MIN_SHRINK_CAPACITY && self.buckets.capacity() > 4 * len {
            self.buckets.shrink_to((2 * len).max(MIN_SHRINK_CAPACITY));
        }
        before - len
    }
}

/// Concurrent sliding-window rate limiter keyed by a 64-bit bucket-key hash.
///
/// Idle buckets are dropped automatically: the first check that lands on a
/// shard in a new window sweeps that shard, so at most the keys seen in the
/// current and previous window are kept.
pub struct SlidingWindowLimiter {
    capacity: u64,
    window: Duration,
    window_nanos: u128,
    shards: Box<[Mutex<Shard>]>,
}

impl std::fmt::Debug for SlidingWindowLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlidingWindowLimiter")
            .field("capacity", &self.capacity)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl SlidingWindowLimiter {
    /// Creates a limiter admitting `capacity` requests per sliding `window`,
    /// validated against ngrok's ranges (see [`RateLimitConfigError`]).
    pub fn new(capacity: u64, window: Duration) -> Result<Self, RateLimitConfigError> {
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(RateLimitConfigError::Capacity(capacity));
        }
        let step_ok = window.as_nanos().is_multiple_of(WINDOW_STEP.as_nanos());
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) || !step_ok {
            return Err(RateLimitConfigError::Window(window));
        }
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    buckets: HashMap::default(),
                    swept_window: 0,
                })
            })
            .collect();
        Ok(Self {
            capacity,
            window,
            window_nanos: window.as_nanos(),
            shards,
        })
    }

    /// Configured capacity per window.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Configured window length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Checks one request for `key` (a hash of the bucket-key values, see
    /// [`hash_key`]) at time `now`, counting it if admitted.
    pub fn check(&self, key: u64, now: SystemTime) -> Decision {
        let (index, offset) = self.position(now);
        let mut shard = self.shards[shard_of(key)].lock();
        if index > shard.swept_window {
            shard.sweep(index);
        }
        let bucket = shard.buckets.entry(key).or_insert(Bucket {
            window: index,
            curr: 0,
            prev: 0,
        });
        self.evaluate(bucket, index, offset)
    }

    /// Number of live buckets across all shards.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().buckets.len()).sum()
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.lock().buckets.is_empty())
    }

    /// Drops buckets idle for more than two windows; returns how many were dropped.
    ///
    /// Such buckets carry no weight any more, so dropping them never changes
    /// a decision. Calling this is optional: checks sweep shards on their own.
    pub fn sweep(&self, now: SystemTime) -> usize {
        let (index, _) = self.position(now);
        self.shards.iter().map(|s| s.lock().sweep(index)).sum()
    }

    /// Window index and nanosecond offset into it; times before the epoch
    /// are clamped to it.
    pub(crate) fn position(&self, now: SystemTime) -> (u64, u128) {
        let nanos = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        let index = u64::try_from(nanos / self.window_nanos).unwrap_or(u64::MAX);
        (index, nanos % self.window_nanos)
    }

    fn evaluate(&self, bucket: &mut Bucket, index: u64, offset: u128) -> Decision {
        // A clock that went backwards past the bucket's window is treated as
        // the very start of the bucket's window (the most conservative point).
        let (index, offset) = if index < bucket.window {
            (bucket.window, 0)
        } else {
            (index, offset)
        };
        if index == bucket.window.saturating_add(1) {
            bucket.prev = bucket.curr;
            bucket.curr = 0;
        } else if index > bucket.window {
            bucket.prev = 0;
            bucket.curr = 0;
        }
        bucket.window = index;

        let decision = self.decide(u64::from(bucket.prev), u64::from(bucket.curr), offset, None);
        if decision.is_allowed() {
            // curr + 1 <= capacity <= 2e9 < u32::MAX: cannot overflow.
            bucket.curr += 1;
        }
        decision
    }

    /// The decision for a request at `offset` into the current window, given the admitted
    /// counts of the previous (`prev`) and current (`curr`, before this request) windows.
    /// `admitted` overrides the verdict when a shared store already took it (its arithmetic
    /// is the same estimate at a coarser offset), so the remaining count and the retry time
    /// still come from this formula.
    pub(crate) fn decide(
        &self,
        prev: u64,
        curr: u64,
        offset: u128,
        admitted: Option<bool>,
    ) -> Decision {
        let w = self.window_nanos;
        let cap = u128::from(self.capacity) * w;
        let prev = u128::from(prev);
        let curr = u128::from(curr);
        // estimate * w, exact.
        let used = prev * (w - offset) + curr * w;
        if admitted.unwrap_or(used + w <= cap) {
            let remaining = cap.saturating_sub(used + w) / w;
            Decision::Allowed {
                remaining: u64::try_from(remaining).unwrap_or(u64::MAX),
            }
        } else {
            Decision::Limited {
                retry_after: self.retry_after(prev, curr, offset),
            }
        }
    }

    /// Time until one request fits, from the formula, for a refused request.
    fn retry_after(&self, prev: u128, curr: u128, offset: u128) -> Duration {
        let w = self.window_nanos;
        let cap = u128::from(self.capacity);
        let mut wait = None;
        // Still in this window: need prev * (w - o) <= (cap - curr - 1) * w.
        if curr < cap && prev > 0 {
            let slack = (cap - curr - 1) * w / prev;
            let needed = w.saturating_sub(slack);
            if needed < w {
                wait = Some(needed.saturating_sub(offset));
            }
        }
        // Next window (prev' = curr, curr' = 0): need curr * (w - o) <= (cap - 1) * w.
        let wait = wait.unwrap_or_else(|| {
            let needed = match curr {
                0 => 0,
                c => w.saturating_sub((cap - 1) * w / c),
            };
            (w - offset) + needed
        });
        let secs = wait.div_ceil(NANOS_PER_SEC).max(1);
        let max_secs = w.div_ceil(NANOS_PER_SEC);
        let secs = u64::try_from(secs.min(max_secs)).unwrap_or(u64::MAX);
        Duration::from_secs(secs)
    }
}

/// Shard for a key; mixes the bits so poorly distributed keys still spread.
fn shard_of(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARD_BITS)) as usize
}

/// Hashes bucket-key values into the 64-bit key taken by
/// [`SlidingWindowLimiter::check`].
///
/// Uses SipHash seeded randomly once per process (not stable across
/// processes) with a length-prefixed encoding, so `["a", "bc"]` and
/// `["ab", "c"]` differ.
pub fn hash_key(parts: &[&str]) -> u64 {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    let mut hasher = SEED.get_or_init(RandomState::new).build_hasher();
    hasher.write_usize(parts.len());
    for part in parts {
        hasher.write_usize(part.len());
        hasher.write(part.as_bytes());
    }
    hasher.finish()
}
