//! Percentiles of a finished run, by the nearest-rank method.

use std::time::Duration;

/// Sorted latencies of a run.
pub struct Percentiles<'a>(&'a [Duration]);

impl<'a> Percentiles<'a> {
    /// Sorts `samples` in place.
    pub fn new(samples: &'a mut [Duration]) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds: the smallest sample that at least
    /// `q` of all samples are no greater than. `None` for an empty run.
    pub fn at(&self, q: f64) -> Option<f64> {
        let n = self.0.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(self.0[rank - 1].as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<Duration> = (1..=1000).rev().map(Duration::from_millis).collect();
        let p = Percentiles::new(&mut v);
        assert_eq!(p.at(0.5), Some(500.0));
        assert_eq!(p.at(0.99), Some(990.0));
        assert_eq!(p.at(0.999), Some(999.0));
        assert_eq!(p.at(1.0), Some(1000.0));
        assert_eq!(Percentiles::new(&mut []).at(0.5), None);
    }
}
