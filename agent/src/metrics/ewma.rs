//! Exponentially weighted moving rates, the way go-metrics' `Meter` (which ngrok's `rate1`,
//! `rate5`, `rate15` come from) computes them: events are counted, and every 5 s tick folds the
//! tick's rate into 1-, 5- and 15-minute averages.
//!
//! Hand-written (about forty lines): the maintained metrics crates either export to a backend
//! (`metrics`, `prometheus`) or offer no decaying rate one can read back in-process, and the
//! formula is the textbook one, so a dependency would not make it more correct.

use std::time::{Duration, Instant};

/// How often the averages are updated.
pub const TICK: Duration = Duration::from_secs(5);

/// One moving average over `window` (e.g. 1 minute), in events per second.
#[derive(Debug, Clone, Copy)]
struct Average {
    alpha: f64,
    rate: Option<f64>,
}

impl Average {
    fn new(window: Duration) -> Self {
        Average {
            alpha: 1.0 - (-TICK.as_secs_f64() / window.as_secs_f64()).exp(),
            rate: None,
        }
    }

    /// Folds one tick during which `events` happened.
    fn tick(&mut self, events: u64) {
        let instant = events as f64 / TICK.as_secs_f64();
        self.rate = Some(match self.rate {
            None => instant,
            Some(r) => r + self.alpha * (instant - r),
        });
    }
}

/// The 1-, 5- and 15-minute rates of one kind of event. Ticks are applied lazily: whoever
/// marks or reads first after a tick boundary catches up every whole tick that passed.
#[derive(Debug, Clone)]
pub struct Rates {
    averages: [Average; 3],
    uncounted: u64,
    last_tick: Instant,
}

impl Rates {
    /// Rates starting now, at zero.
    pub fn new(now: Instant) -> Self {
        Rates {
            averages: [1, 5, 15].map(|m| Average::new(Duration::from_secs(60 * m))),
            uncounted: 0,
            last_tick: now,
        }
    }

    fn catch_up(&mut self, now: Instant) {
        while now.saturating_duration_since(self.last_tick) >= TICK {
            let events = std::mem::take(&mut self.uncounted);
            for a in &mut self.averages {
                a.tick(events);
            }
            self.last_tick += TICK;
        }
    }

    /// Counts one event at `now`.
    pub fn mark(&mut self, now: Instant) {
        self.catch_up(now);
        self.uncounted += 1;
    }

    /// `[rate1, rate5, rate15]` in events per second, as of `now`.
    pub fn read(&mut self, now: Instant) -> [f64; 3] {
        self.catch_up(now);
        self.averages.map(|a| a.rate.unwrap_or(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rate_is_reported_after_the_first_tick() {
        let t0 = Instant::now();
        let mut r = Rates::new(t0);
        for i in 0..10u32 {
            r.mark(t0 + Duration::from_millis(100 * u64::from(i)));
        }
        assert_eq!(r.read(t0 + Duration::from_secs(1)), [0.0; 3]);
        // 10 events in the first 5 s: 2 per second, the first tick sets every average.
        let [r1, r5, r15] = r.read(t0 + TICK);
        assert!((r1 - 2.0).abs() < 1e-9 && (r5 - 2.0).abs() < 1e-9 && (r15 - 2.0).abs() < 1e-9);
        // A quiet minute decays the 1-minute rate faster than the 15-minute one.
        let [r1, r5, r15] = r.read(t0 + TICK + Duration::from_secs(60));
        assert!(r1 < r5 && r5 < r15 && r15 < 2.0, "{r1} {r5} {r15}");
        assert!((r1 - 2.0 * (-1.0f64).exp()).abs() < 0.01, "{r1}");
    }
}
