//! Where `rate-limit` counts: this edge's memory ([`SlidingWindowLimiter`]) or a store shared
//! with other edges ([`SharedWindowStore`], over [`SharedWindows`] such as Redis). The action
//! holds a `Box<dyn WindowStore>` and does not know which.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sluice_policy::{SharedCounters, WindowHit};

use super::sliding_window::{Decision, RateLimitConfigError, SlidingWindowLimiter, hash_key};

/// A sliding-window counter store for one `rate-limit` action.
#[async_trait]
pub trait WindowStore: Send + Sync {
    /// Checks one request of the bucket `parts` (the bucket-key values) on the endpoint
    /// `endpoint` (its URL) at `now`, counting it if admitted.
    async fn check(&self, endpoint: &str, parts: &[&str], now: SystemTime) -> Decision;
    /// Requests admitted per window.
    fn capacity(&self) -> u64;
    /// The window's length.
    fn window(&self) -> Duration;
}

#[async_trait]
impl WindowStore for SlidingWindowLimiter {
    async fn check(&self, _endpoint: &str, parts: &[&str], now: SystemTime) -> Decision {
        // One built action serves one endpoint, so the bucket values alone pick the bucket.
        SlidingWindowLimiter::check(self, hash_key(parts), now)
    }
    fn capacity(&self) -> u64 {
        SlidingWindowLimiter::capacity(self)
    }
    fn window(&self) -> Duration {
        SlidingWindowLimiter::window(self)
    }
}

/// Counts in a shared store; when the store fails (it answers an error or not in time; see
/// the store's own timeout), the request is counted in this edge's memory instead.
pub struct SharedWindowStore {
    shared: SharedCounters,
    /// SHA-256 state over the scope and the action's identity: what every key starts from.
    identity: Sha256,
    local: SlidingWindowLimiter,
}

impl SharedWindowStore {
    /// A store for the action at `action_path` named `name` with `capacity` per `window` and
    /// bucket-key expressions `bucket_key`, in `shared` (whose scope isolates the account).
    pub fn new(
        shared: SharedCounters,
        action_path: &str,
        name: &str,
        capacity: u64,
        window: Duration,
        bucket_key: &[&str],
    ) -> Result<Self, RateLimitConfigError> {
        let local = SlidingWindowLimiter::new(capacity, window)?;
        let mut identity = Sha256::new();
        let window_secs = window.as_secs().to_string();
        let capacity_text = capacity.to_string();
        let mut fields = vec![
            "sluice rate-limit v1",
            &shared.scope,
            action_path,
            name,
            capacity_text.as_str(),
            window_secs.as_str(),
        ];
        fields.extend_from_slice(bucket_key);
        write_fields(&mut identity, &fields);
        Ok(SharedWindowStore {
            shared,
            identity,
            local,
        })
    }

    /// The store key of a bucket (without its window index): `sluice:rl:{<hash>}`, the hash
    /// over the action's identity, the endpoint and the bucket-key values. The braces keep a
    /// bucket's windows in one Redis Cluster slot.
    fn key(&self, endpoint: &str, parts: &[&str]) -> String {
        let mut h = self.identity.clone();
        write_fields(&mut h, &[endpoint]);
        write_fields(&mut h, parts);
        let digest = h.finalize();
        format!("sluice:rl:{{{}}}", hex::encode(&digest[..16]))
    }
}

/// Hashes `fields` length-prefixed, so `["a", "bc"]` and `["ab", "c"]` differ.
fn write_fields(h: &mut Sha256, fields: &[&str]) {
    h.update((fields.len() as u64).to_le_bytes());
    for f in fields {
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
}

#[async_trait]
impl WindowStore for SharedWindowStore {
    async fn check(&self, endpoint: &str, parts: &[&str], now: SystemTime) -> Decision {
        let (index, offset) = self.local.position(now);
        let key = self.key(endpoint, parts);
        let hit = WindowHit {
            key: &key,
            index,
            offset_nanos: offset,
            window: self.local.window(),
            capacity: self.local.capacity(),
        };
        match self.shared.store.admit(hit).await {
            Ok(c) => self.local.decide(c.prev, c.curr, offset, Some(c.admitted)),
            // The store logs its outage once; the limit holds per edge meanwhile.
            Err(_) => self.local.check(hash_key(parts), now),
        }
    }
    fn capacity(&self) -> u64 {
        self.local.capacity()
    }
    fn window(&self) -> Duration {
        self.local.window()
    }
}
