//! Capped exponential backoff with jitter, for reconnecting.

use std::time::Duration;

/// Delay policy between reconnect attempts: `initial * multiplier^attempt`, capped at `max`, then
/// scaled by a random factor in `[1 - jitter, 1]` so that agents do not reconnect in lockstep.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Growth per attempt (≥ 1).
    pub multiplier: f64,
    /// Fraction of the delay that is randomized, in `[0, 1]`.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 100 ms doubling to 30 s, half of it jittered.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based), with jitter drawn from `unit`, a number
    /// in `[0, 1)`.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self.multiplier.max(1.0).powi(attempt.min(64) as i32);
        let capped = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64((capped * (1.0 - jitter)).max(0.0))
    }

    /// The delay before retry number `attempt` (0-based), with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.5,
        };
        assert_eq!(b.delay_with(0, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay_with(3, 0.0), Duration::from_millis(800));
        assert_eq!(b.delay_with(10, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay_with(u32::MAX, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay_with(10, 1.0), Duration::from_secs(1));
        for attempt in 0..20 {
            let d = b.delay(attempt);
            assert!(d <= Duration::from_secs(2), "{d:?}");
        }
    }
}
