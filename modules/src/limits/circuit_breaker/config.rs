//! Configuration of the circuit breaker, validated against ngrok's ranges.

use std::time::Duration;

/// Largest `volume_threshold` ngrok accepts.
pub const MAX_VOLUME_THRESHOLD: u64 = 2_000_000_000;
/// Longest `window_duration` / `tripped_duration` ngrok accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(120);
/// Shortest `window_duration` / `tripped_duration` ngrok accepts.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// Largest `num_buckets` ngrok accepts.
pub const MAX_BUCKETS: u32 = 128;

/// Circuit-breaker configuration, with ngrok's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Error ratio (0.0..=1.0) that trips the breaker; default 0.5.
    pub error_threshold: f64,
    /// Outcomes the window must hold before it can trip; default 10.
    pub volume_threshold: u64,
    /// Rolling window length (1s..=2m); default 10s.
    pub window: Duration,
    /// How long the breaker stays open (1s..=2m); default 10s.
    pub tripped: Duration,
    /// Buckets the window is split into (1..=128); default 10.
    pub buckets: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            error_threshold: 0.5,
            volume_threshold: 10,
            window: Duration::from_secs(10),
            tripped: Duration::from_secs(10),
            buckets: 10,
        }
    }
}

/// Invalid circuit-breaker configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BreakerConfigError {
    /// `error_threshold` outside 0.0..=1.0 (or NaN).
    #[error("error_threshold must be between 0.0 and 1.0, got {0}")]
    ErrorThreshold(f64),
    /// `volume_threshold` outside 1..=2_000_000_000.
    #[error("volume_threshold must be between 1 and {MAX_VOLUME_THRESHOLD}, got {0}")]
    VolumeThreshold(u64),
    /// `window_duration` outside 1s..=2m.
    #[error("window_duration must be between 1s and 2m, got {0:?}")]
    Window(Duration),
    /// `tripped_duration` outside 1s..=2m.
    #[error("tripped_duration must be between 1s and 2m, got {0:?}")]
    Tripped(Duration),
    /// `num_buckets` outside 1..=128.
    #[error("num_buckets must be between 1 and {MAX_BUCKETS}, got {0}")]
    Buckets(u32),
}

impl BreakerConfig {
    /// Checks every field against ngrok's documented ranges.
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        if !(0.0..=1.0).contains(&self.error_threshold) {
            return Err(BreakerConfigError::ErrorThreshold(self.error_threshold));
        }
        if !(1..=MAX_VOLUME_THRESHOLD).contains(&self.volume_threshold) {
            return Err(BreakerConfigError::VolumeThreshold(self.volume_threshold));
        }
        if !(MIN_DURATION..=MAX_DURATION).contains(&self.window) {
            return Err(BreakerConfigError::Window(self.window));
        }
        if !(MIN_DURATION..=MAX_DURATION).contains(&self.tripped) {
            return Err(BreakerConfigError::Tripped(self.tripped));
        }
        if !(1..=MAX_BUCKETS).contains(&self.buckets) {
            return Err(BreakerConfigError::Buckets(self.buckets));
        }
        Ok(())
    }
}
