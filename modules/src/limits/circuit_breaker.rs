//! Rolling-window circuit breaker behind ngrok's `circuit-breaker` action.
//!
//! Closed: every request is admitted and its outcome is recorded into the
//! current time bucket; the window is the last `buckets` buckets of
//! `window / buckets` each. Once the window holds at least
//! `volume_threshold` outcomes and `errors / total >= error_threshold`, the
//! breaker opens for `tripped`. Both comparisons include equality, so an
//! `error_threshold` of 0 trips on volume alone, as ngrok's own example
//! (`error_threshold: 0, volume_threshold: 1`) shows: the second request is
//! refused.
//! Then it is half-open: exactly one probe is admitted at a time; a
//! successful probe closes the breaker with an empty window, a failed one
//! reopens it for `tripped`.
//!
//! Outcomes of requests admitted before the breaker tripped are ignored once
//! it has tripped. A [`Ticket`] dropped without being recorded records
//! nothing; if it was the half-open probe, the probe slot is released so the
//! next request becomes the probe (the breaker never gets stuck half-open).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

mod config;
#[cfg(test)]
mod tests;

pub use config::{
    BreakerConfig, BreakerConfigError, MAX_BUCKETS, MAX_DURATION, MAX_VOLUME_THRESHOLD,
    MIN_DURATION,
};

/// Observable breaker state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Admitting everything and counting outcomes.
    Closed,
    /// Rejecting everything until the tripped duration has passed.
    Open,
    /// Admitting one probe at a time.
    HalfOpen,
}

/// Answer of [`CircuitBreaker::admit`].
#[derive(Debug)]
#[must_use = "an admitted request's outcome must be recorded with its ticket"]
pub enum Admission {
    /// Forward the request, then record its outcome with the ticket.
    Admitted(Ticket),
    /// Do not forward the request (ngrok answers 503).
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TicketKind {
    /// Admitted while closed in the given generation.
    Normal { generation: u64 },
    /// The half-open probe with the given id.
    Probe { id: u64 },
}

/// Proof of admission; pass it to [`CircuitBreaker::record`] (or
/// [`Ticket::record`]) with the outcome. Dropping it unrecorded records
/// nothing and releases a half-open probe slot.
#[derive(Debug)]
#[must_use = "record the outcome of the admitted request"]
pub struct Ticket {
    shared: Arc<Shared>,
    kind: TicketKind,
    recorded: bool,
}

impl Ticket {
    /// True if this ticket is the half-open probe.
    pub fn is_probe(&self) -> bool {
        matches!(self.kind, TicketKind::Probe { .. })
    }

    /// Records the outcome of the admitted request; `is_error` means the
    /// upstream answered 5xx (or failed).
    pub fn record(mut self, is_error: bool, now: SystemTime) {
        self.recorded = true;
        self.shared.record(self.kind, is_error, now);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.recorded
            && let TicketKind::Probe { id } = self.kind
        {
            let mut st = self.shared.state.lock();
            if st.phase == (Phase::HalfOpen { probe: Some(id) }) {
                st.phase = Phase::HalfOpen { probe: None };
            }
        }
    }
}

/// A circuit breaker for one upstream; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

impl CircuitBreaker {
    /// Creates a closed breaker after validating `cfg`.
    pub fn new(cfg: BreakerConfig) -> Result<Self, BreakerConfigError> {
        cfg.validate()?;
        let buckets = cfg.buckets as usize;
        let shared = Shared {
            error_threshold: cfg.error_threshold,
            volume_threshold: cfg.volume_threshold,
            bucket_nanos: nanos(cfg.window) / u64::from(cfg.buckets),
            tripped_nanos: nanos(cfg.tripped),
            state: Mutex::new(State {
                clock: 0,
                phase: Phase::Closed,
                generation: 0,
                next_probe: 0,
                buckets: vec![Bucket::default(); buckets].into_boxed_slice(),
            }),
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Asks whether a request may be forwarded at `now`.
    pub fn admit(&self, now: SystemTime) -> Admission {
        let mut st = self.shared.state.lock();
        let now = st.advance(now);
        let kind = match st.phase {
            Phase::Closed => TicketKind::Normal {
                generation: st.generation,
            },
            Phase::Open { until } if now < until => return Admission::Rejected,
            Phase::HalfOpen { probe: Some(_) } => return Admission::Rejected,
            Phase::Open { .. } | Phase::HalfOpen { probe: None } => {
                st.next_probe += 1;
                let id = st.next_probe;
                st.phase = Phase::HalfOpen { probe: Some(id) };
                TicketKind::Probe { id }
            }
        };
        drop(st);
        Admission::Admitted(Ticket {
            shared: Arc::clone(&self.shared),
            kind,
            recorded: false,
        })
    }

    /// Reports the outcome of an admitted request (`is_error`: 5xx upstream).
    pub fn record(&self, ticket: Ticket, is_error: bool, now: SystemTime) {
        // The ticket knows its own breaker; this also handles a ticket
        // accidentally passed to another breaker.
        ticket.record(is_error, now);
    }

    /// Current state at `now` (an elapsed open period reads as half-open).
    pub fn state(&self, now: SystemTime) -> BreakerState {
        let mut st = self.shared.state.lock();
        let now = st.advance(now);
        match st.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[derive(Debug)]
struct Shared {
    error_threshold: f64,
    volume_threshold: u64,
    bucket_nanos: u64,
    tripped_nanos: u64,
    state: Mutex<State>,
}

impl Shared {
    fn record(&self, kind: TicketKind, is_error: bool, now: SystemTime) {
        let mut st = self.state.lock();
        let now = st.advance(now);
        match kind {
            TicketKind::Normal { generation }
                if st.phase == Phase::Closed && generation == st.generation =>
            {
                let index = now / self.bucket_nanos;
                let n = st.buckets.len() as u64;
                let slot = &mut st.buckets[(index % n) as usize];
                if slot.index != index {
                    *slot = Bucket {
                        index,
                        total: 0,
                        errors: 0,
                    };
                }
                slot.total += 1;
                slot.errors += u64::from(is_error);
                let (total, errors) = st.totals(index);
                let ratio = errors as f64 / total as f64;
                if total >= self.volume_threshold && ratio >= self.error_threshold {
                    st.trip(now, self.tripped_nanos);
                }
            }
            TicketKind::Probe { id } if st.phase == (Phase::HalfOpen { probe: Some(id) }) => {
                if is_error {
                    st.trip(now, self.tripped_nanos);
                } else {
                    st.phase = Phase::Closed;
                    st.buckets.fill(Bucket::default());
                }
            }
            // Stale outcome: admitted before a trip, or a superseded probe.
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    /// Open until the given clock value (nanoseconds since the epoch).
    Open {
        until: u64,
    },
    /// Half-open; `probe` is the id of the probe in flight, if any.
    HalfOpen {
        probe: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    index: u64,
    total: u64,
    errors: u64,
}

#[derive(Debug)]
struct State {
    /// Latest time seen (ns since the epoch); never goes backwards.
    clock: u64,
    phase: Phase,
    /// Bumped on every trip so outcomes from before it are ignored.
    generation: u64,
    next_probe: u64,
    buckets: Box<[Bucket]>,
}

impl State {
    /// Moves the monotonic clock to `now` and returns it.
    fn advance(&mut self, now: SystemTime) -> u64 {
        let now = nanos(now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO));
        self.clock = self.clock.max(now);
        self.clock
    }

    /// Totals over the buckets within the window ending at bucket `current`.
    fn totals(&self, current: u64) -> (u64, u64) {
        let n = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|b| b.index <= current && current - b.index < n)
            .fold((0, 0), |(t, e), b| (t + b.total, e + b.errors))
    }

    fn trip(&mut self, now: u64, tripped_nanos: u64) {
        self.phase = Phase::Open {
            until: now.saturating_add(tripped_nanos),
        };
        self.generation += 1;
        self.buckets.fill(Bucket::default());
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
