//! How fast a request body must arrive: at most [`BodyTimeouts::read`] between two chunks
//! (nginx's `client_body_timeout`), and on average at least [`BodyTimeouts::min_rate`] bytes a
//! second after a grace period (Apache's `mod_reqtimeout` `MinRate`: the body may take the
//! grace period plus one second per `min_rate` bytes received). A client trickling a byte
//! every few seconds can no longer hold a connection and an upstream connection for ever.
//!
//! [`BodyPace`] is the arithmetic, per request; the service turns it into the HTTP/1 session's
//! read timeout before each body read and checks it as each chunk arrives.

use std::time::{Duration, Instant};

/// The edge's request body limits (`timeouts:` in the edge config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeouts {
    /// Longest wait for the next chunk of a request body.
    pub read: Duration,
    /// Least average rate, in bytes a second, once `grace` has passed; 0 turns it off.
    pub min_rate: u64,
    /// Time a body gets before the minimum rate applies.
    pub grace: Duration,
}

impl Default for BodyTimeouts {
    fn default() -> Self {
        BodyTimeouts {
            read: Duration::from_secs(60),
            min_rate: 500,
            grace: Duration::from_secs(10),
        }
    }
}

/// One request body's progress against [`BodyTimeouts`].
#[derive(Debug, Clone)]
pub struct BodyPace {
    limits: BodyTimeouts,
    started: Instant,
    bytes: u64,
}

impl BodyPace {
    /// A body whose request began at `started`.
    pub fn new(limits: BodyTimeouts, started: Instant) -> Self {
        BodyPace {
            limits,
            started,
            bytes: 0,
        }
    }

    /// Counts `n` more bytes received.
    pub fn record(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }

    /// How long the next chunk may take, from `now`; `None` when the body is already too slow.
    pub fn next_wait(&self, now: Instant) -> Option<Duration> {
        let mut wait = self.limits.read;
        if self.limits.min_rate > 0 {
            let earned = Duration::from_secs_f64(self.bytes as f64 / self.limits.min_rate as f64);
            let allowed = self.limits.grace.saturating_add(earned);
            let left = allowed.checked_sub(now.saturating_duration_since(self.started))?;
            if left.is_zero() {
                return None;
            }
            wait = wait.min(left);
        }
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyTimeouts = BodyTimeouts {
        read: Duration::from_secs(60),
        min_rate: 500,
        grace: Duration::from_secs(10),
    };

    #[test]
    fn the_read_timeout_caps_every_wait() {
        let t0 = Instant::now();
        let mut pace = BodyPace::new(LIMITS, t0);
        pace.record(1_000_000);
        assert_eq!(pace.next_wait(t0), Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_trickle_runs_out_after_the_grace_period() {
        let t0 = Instant::now();
        let mut pace = BodyPace::new(LIMITS, t0);
        // One byte every 3 s: 0.33 bytes a second.
        let mut t = t0;
        let mut refused_at = None;
        for _ in 0..20 {
            t += Duration::from_secs(3);
            pace.record(1);
            if pace.next_wait(t).is_none() {
                refused_at = Some(t - t0);
                break;
            }
        }
        assert_eq!(refused_at, Some(Duration::from_secs(12)));
        // Before that, the wait left shrinks to what the rate allows.
        let mut pace = BodyPace::new(LIMITS, t0);
        pace.record(500);
        assert_eq!(
            pace.next_wait(t0 + Duration::from_secs(9)),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_fast_body_earns_time() {
        let t0 = Instant::now();
        let mut pace = BodyPace::new(LIMITS, t0);
        pace.record(50_000);
        // 10 s of grace and 100 s earned.
        assert!(pace.next_wait(t0 + Duration::from_secs(100)).is_some());
        assert!(pace.next_wait(t0 + Duration::from_secs(110)).is_none());
    }

    #[test]
    fn a_zero_rate_only_keeps_the_read_timeout() {
        let t0 = Instant::now();
        let pace = BodyPace::new(
            BodyTimeouts {
                min_rate: 0,
                ..LIMITS
            },
            t0,
        );
        assert_eq!(
            pace.next_wait(t0 + Duration::from_secs(3600)),
            Some(Duration::from_secs(60))
        );
    }
}
