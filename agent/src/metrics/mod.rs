//! Traffic metrics of each endpoint, in the shape ngrok's local API returns under `metrics`:
//! connections (count, open gauge, 1/5/15-minute rates, duration percentiles) and HTTP
//! requests (count, rates, duration percentiles). The forwarders feed them (a connection is
//! one tunnelled stream, a request one exchange served on it); the local API, `/status` and
//! the terminal console read them.
//!
//! Durations are nanoseconds and rates events per second, as ngrok (go-metrics) reports them.
//! Percentiles come from an [`hdrhistogram`] of every duration since the endpoint started.

mod body;
mod ewma;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

pub use body::TimedBody;
pub use ewma::{Rates, TICK};

/// Longest duration the histograms resolve (one day); longer ones count as this.
const MAX_NANOS: u64 = 86_400_000_000_000;
/// Significant decimal digits the histograms keep (1 % resolution).
const SIGFIG: u8 = 2;

/// Counters, rates and a duration histogram of one kind of event.
#[derive(Debug)]
struct Timer {
    count: AtomicU64,
    state: Mutex<TimerState>,
}

#[derive(Debug)]
struct TimerState {
    rates: Rates,
    /// Made at the first duration recorded: a histogram over this range is ~40 KB, and an
    /// agent may bind a thousand endpoints that never see a request.
    durations: Option<Histogram<u64>>,
}

impl Timer {
    fn new(now: Instant) -> Self {
        Timer {
            count: AtomicU64::new(0),
            state: Mutex::new(TimerState {
                rates: Rates::new(now),
                durations: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TimerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one event starting at `now`.
    fn start(&self, now: Instant) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.lock().rates.mark(now);
    }

    /// Records the duration of an event that ended.
    fn finish(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let mut state = self.lock();
        if state.durations.is_none() {
            state.durations = Histogram::new_with_bounds(1, MAX_NANOS, SIGFIG).ok();
        }
        if let Some(h) = state.durations.as_mut() {
            h.saturating_record(nanos.clamp(1, MAX_NANOS));
        }
    }

    fn snapshot(&self, now: Instant) -> (u64, [f64; 3], [f64; 4]) {
        let mut state = self.lock();
        let rates = state.rates.read(now);
        let percentiles = match state.durations.as_ref().filter(|h| !h.is_empty()) {
            Some(h) => [0.5, 0.9, 0.95, 0.99].map(|q| h.value_at_quantile(q) as f64),
            None => [0.0; 4],
        };
        (self.count.load(Ordering::Relaxed), rates, percentiles)
    }
}

struct Inner {
    conns: Timer,
    open: AtomicI64,
    http: Timer,
}

/// The metrics of one endpoint. Cheap to clone; every clone counts into the same numbers.
#[derive(Clone)]
pub struct EndpointMetrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EndpointMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointMetrics")
            .field("conns", &self.inner.conns.count.load(Ordering::Relaxed))
            .field("http", &self.inner.http.count.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for EndpointMetrics {
    fn default() -> Self {
        let now = Instant::now();
        EndpointMetrics {
            inner: Arc::new(Inner {
                conns: Timer::new(now),
                open: AtomicI64::new(0),
                http: Timer::new(now),
            }),
        }
    }
}

/// An open connection: counted when made, its duration recorded and the open gauge lowered
/// when dropped.
#[derive(Debug)]
pub struct OpenConnection {
    metrics: EndpointMetrics,
    since: Instant,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let inner = &self.metrics.inner;
        inner.open.fetch_sub(1, Ordering::Relaxed);
        inner.conns.finish(self.since.elapsed());
    }
}

impl EndpointMetrics {
    /// Fresh metrics, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a connection that opens now; hold the guard until it closes.
    pub fn open_connection(&self) -> OpenConnection {
        let now = Instant::now();
        self.inner.conns.start(now);
        self.inner.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection {
            metrics: self.clone(),
            since: now,
        }
    }

    /// Counts an HTTP request that arrived at `started`.
    pub fn request_started(&self, started: Instant) {
        self.inner.http.start(started);
    }

    /// Records the duration of a request (until its response body ended).
    pub fn request_finished(&self, took: Duration) {
        self.inner.http.finish(took);
    }

    /// The numbers as of now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let now = Instant::now();
        let (count, [rate1, rate5, rate15], [p50, p90, p95, p99]) = self.inner.conns.snapshot(now);
        let conns = ConnMetrics {
            count,
            gauge: self.inner.open.load(Ordering::Relaxed).max(0),
            rate1,
            rate5,
            rate15,
            p50,
            p90,
            p95,
            p99,
        };
        let (count, [rate1, rate5, rate15], [p50, p90, p95, p99]) = self.inner.http.snapshot(now);
        let http = HttpMetrics {
            count,
            rate1,
            rate5,
            rate15,
            p50,
            p90,
            p95,
            p99,
        };
        MetricsSnapshot { conns, http }
    }
}

/// ngrok's `metrics` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// Connections (tunnelled streams).
    pub conns: ConnMetrics,
    /// HTTP requests.
    pub http: HttpMetrics,
}

/// ngrok's `metrics.conns`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ConnMetrics {
    /// Connections opened since the endpoint started.
    pub count: u64,
    /// Connections open now.
    pub gauge: i64,
    /// Connections per second, 1-minute moving average.
    pub rate1: f64,
    /// 5-minute moving average.
    pub rate5: f64,
    /// 15-minute moving average.
    pub rate15: f64,
    /// Median connection duration, nanoseconds.
    pub p50: f64,
    /// 90th percentile, nanoseconds.
    pub p90: f64,
    /// 95th percentile, nanoseconds.
    pub p95: f64,
    /// 99th percentile, nanoseconds.
    pub p99: f64,
}

/// ngrok's `metrics.http`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HttpMetrics {
    /// Requests since the endpoint started.
    pub count: u64,
    /// Requests per second, 1-minute moving average.
    pub rate1: f64,
    /// 5-minute moving average.
    pub rate5: f64,
    /// 15-minute moving average.
    pub rate15: f64,
    /// Median request duration, nanoseconds.
    pub p50: f64,
    /// 90th percentile, nanoseconds.
    pub p90: f64,
    /// 95th percentile, nanoseconds.
    pub p95: f64,
    /// 99th percentile, nanoseconds.
    pub p99: f64,
}

impl MetricsSnapshot {
    /// The sum over several endpoints, as the console's `Connections` line shows them:
    /// counts, gauges and rates add up; percentiles are the largest of any endpoint.
    pub fn total<'a>(all: impl IntoIterator<Item = &'a MetricsSnapshot>) -> MetricsSnapshot {
        let mut t = MetricsSnapshot::default();
        for m in all {
            t.conns.count += m.conns.count;
            t.conns.gauge += m.conns.gauge;
            t.conns.rate1 += m.conns.rate1;
            t.conns.rate5 += m.conns.rate5;
            t.conns.rate15 += m.conns.rate15;
            t.conns.p50 = t.conns.p50.max(m.conns.p50);
            t.conns.p90 = t.conns.p90.max(m.conns.p90);
            t.conns.p95 = t.conns.p95.max(m.conns.p95);
            t.conns.p99 = t.conns.p99.max(m.conns.p99);
            t.http.count += m.http.count;
            t.http.rate1 += m.http.rate1;
            t.http.rate5 += m.http.rate5;
            t.http.rate15 += m.http.rate15;
            t.http.p50 = t.http.p50.max(m.http.p50);
            t.http.p90 = t.http.p90.max(m.http.p90);
            t.http.p95 = t.http.p95.max(m.http.p95);
            t.http.p99 = t.http.p99.max(m.http.p99);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_without_traffic_holds_no_histogram() {
        let m = EndpointMetrics::new();
        let held = |t: &Timer| t.lock().durations.is_some();
        assert!(!held(&m.inner.http) && !held(&m.inner.conns));
        assert_eq!(m.snapshot().http.p99, 0.0);
        m.request_started(Instant::now());
        m.request_finished(Duration::from_millis(5));
        assert!(held(&m.inner.http) && !held(&m.inner.conns));
        assert!(m.snapshot().http.p99 > 0.0);
    }

    #[test]
    fn counts_gauges_and_ordered_percentiles() {
        let m = EndpointMetrics::new();
        let guards: Vec<_> = (0..3).map(|_| m.open_connection()).collect();
        assert_eq!(m.snapshot().conns.gauge, 3);
        for ms in 1..=100u64 {
            m.request_started(Instant::now());
            m.request_finished(Duration::from_millis(ms));
        }
        drop(guards);
        let s = m.snapshot();
        assert_eq!((s.conns.count, s.conns.gauge), (3, 0));
        assert!(s.conns.p50 > 0.0);
        assert_eq!(s.http.count, 100);
        let h = s.http;
        assert!(h.p50 < h.p90 && h.p90 < h.p95 && h.p95 <= h.p99, "{h:?}");
        // 1 % resolution around 50 ms and 99 ms.
        assert!((h.p50 / 1e6 - 50.0).abs() < 1.0, "{}", h.p50);
        assert!((h.p99 / 1e6 - 99.0).abs() < 1.5, "{}", h.p99);
        let json = serde_json::to_value(s).unwrap_or_default();
        let keys = |v: &serde_json::Value| {
            v.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(
            keys(&json["conns"]),
            [
                "count", "gauge", "rate1", "rate5", "rate15", "p50", "p90", "p95", "p99"
            ]
        );
        assert_eq!(
            keys(&json["http"]),
            [
                "count", "rate1", "rate5", "rate15", "p50", "p90", "p95", "p99"
            ]
        );
        let t = MetricsSnapshot::total([&s, &s]);
        assert_eq!((t.http.count, t.conns.count), (200, 6));
    }
}
