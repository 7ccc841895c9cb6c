use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn at(secs: f64) -> SystemTime {
    // Aligned to every bucket width used below.
    UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_secs_f64(secs)
}

fn breaker(cfg: BreakerConfig) -> CircuitBreaker {
    CircuitBreaker::new(cfg).expect("valid config")
}

fn ticket(b: &CircuitBreaker, now: SystemTime) -> Ticket {
    match b.admit(now) {
        Admission::Admitted(t) => t,
        Admission::Rejected => panic!("rejected at {now:?}"),
    }
}

/// Admits and records `n` outcomes at `now`.
fn run(b: &CircuitBreaker, now: SystemTime, n: usize, is_error: bool) {
    for _ in 0..n {
        b.record(ticket(b, now), is_error, now);
    }
}

/// Default config tripped at t=0 by 10 errors.
fn tripped() -> CircuitBreaker {
    let b = breaker(BreakerConfig::default());
    run(&b, at(0.0), 10, true);
    assert_eq!(b.state(at(0.0)), BreakerState::Open);
    b
}

#[test]
fn validates_ngrok_ranges() {
    let ok = BreakerConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    let bad = |f: fn(&mut BreakerConfig)| {
        let mut c = ok;
        f(&mut c);
        CircuitBreaker::new(c).err()
    };
    assert!(matches!(
        bad(|c| c.error_threshold = 1.01),
        Some(BreakerConfigError::ErrorThreshold(_))
    ));
    assert!(matches!(
        bad(|c| c.error_threshold = f64::NAN),
        Some(BreakerConfigError::ErrorThreshold(_))
    ));
    assert_eq!(
        bad(|c| c.volume_threshold = 0),
        Some(BreakerConfigError::VolumeThreshold(0))
    );
    assert!(matches!(
        bad(|c| c.window = Duration::from_millis(999)),
        Some(BreakerConfigError::Window(_))
    ));
    assert!(matches!(
        bad(|c| c.tripped = Duration::from_secs(121)),
        Some(BreakerConfigError::Tripped(_))
    ));
    assert_eq!(bad(|c| c.buckets = 0), Some(BreakerConfigError::Buckets(0)));
    assert_eq!(
        bad(|c| c.buckets = 129),
        Some(BreakerConfigError::Buckets(129))
    );
    assert_eq!(bad(|c| c.buckets = 128), None);
}

#[test]
fn stays_closed_below_volume_threshold() {
    let b = breaker(BreakerConfig::default());
    run(&b, at(0.0), 9, true);
    assert_eq!(b.state(at(0.0)), BreakerState::Closed);
    assert!(matches!(b.admit(at(0.5)), Admission::Admitted(_)));
}

#[test]
fn trips_exactly_when_threshold_reached() {
    let b = breaker(BreakerConfig::default());
    run(&b, at(0.0), 6, false);
    run(&b, at(1.0), 4, true); // 4/10
    assert_eq!(b.state(at(1.0)), BreakerState::Closed);
    run(&b, at(2.0), 1, true); // 5/11
    assert_eq!(b.state(at(2.0)), BreakerState::Closed);
    run(&b, at(3.0), 1, true); // 6/12 = 0.5
    assert_eq!(b.state(at(3.0)), BreakerState::Open);
}

#[test]
fn zero_threshold_trips_on_volume_alone() {
    let cfg = BreakerConfig {
        error_threshold: 0.0,
        volume_threshold: 3,
        ..Default::default()
    };
    let b = breaker(cfg);
    run(&b, at(0.0), 2, false);
    assert_eq!(b.state(at(0.0)), BreakerState::Closed);
    run(&b, at(0.0), 1, false);
    assert_eq!(b.state(at(0.0)), BreakerState::Open);
}

#[test]
fn rejects_while_open() {
    let b = tripped();
    assert!(matches!(b.admit(at(0.0)), Admission::Rejected));
    assert!(matches!(b.admit(at(9.999)), Admission::Rejected));
    assert_eq!(b.state(at(9.999)), BreakerState::Open);
    assert_eq!(b.state(at(10.0)), BreakerState::HalfOpen);
}

#[test]
fn half_open_admits_one_probe() {
    let b = tripped();
    let probe = ticket(&b, at(10.0));
    assert!(probe.is_probe());
    assert!(matches!(b.admit(at(10.0)), Admission::Rejected));
    assert!(matches!(b.admit(at(15.0)), Admission::Rejected));
    assert_eq!(b.state(at(15.0)), BreakerState::HalfOpen);
    b.record(probe, false, at(15.0));
}

#[test]
fn probe_success_closes_and_clears_window() {
    let b = tripped();
    let probe = ticket(&b, at(10.0));
    b.record(probe, false, at(10.5));
    assert_eq!(b.state(at(10.5)), BreakerState::Closed);
    assert!(!ticket(&b, at(10.5)).is_probe());
    // A fresh window: 9 errors are below the volume threshold again.
    run(&b, at(11.0), 9, true);
    assert_eq!(b.state(at(11.0)), BreakerState::Closed);
    run(&b, at(11.0), 1, true);
    assert_eq!(b.state(at(11.0)), BreakerState::Open);
}

#[test]
fn probe_failure_reopens() {
    let b = tripped();
    let probe = ticket(&b, at(10.0));
    probe.record(true, at(12.0));
    assert_eq!(b.state(at(12.0)), BreakerState::Open);
    assert!(matches!(b.admit(at(21.999)), Admission::Rejected));
    let probe = ticket(&b, at(22.0));
    assert!(probe.is_probe());
    b.record(probe, false, at(22.0));
    assert_eq!(b.state(at(22.0)), BreakerState::Closed);
}

#[test]
fn dropped_probe_releases_the_slot() {
    let b = tripped();
    let probe = ticket(&b, at(10.0));
    drop(probe);
    assert_eq!(b.state(at(10.0)), BreakerState::HalfOpen);
    let probe = ticket(&b, at(11.0));
    assert!(probe.is_probe());
    b.record(probe, false, at(11.0));
    assert_eq!(b.state(at(11.0)), BreakerState::Closed);
}

#[test]
fn stale_outcomes_are_ignored() {
    let b = breaker(BreakerConfig::default());
    let early: Vec<Ticket> = (0..5).map(|_| ticket(&b, at(0.0))).collect();
    run(&b, at(0.0), 10, true);
    // Results of requests admitted before the trip do not count afterwards.
    let probe = ticket(&b, at(10.0));
    b.record(probe, false, at(10.0));
    for t in early {
        b.record(t, true, at(10.0));
    }
    run(&b, at(10.0), 5, true);
    assert_eq!(b.state(at(10.0)), BreakerState::Closed);
}

#[test]
fn old_buckets_age_out_of_the_window() {
    let b = breaker(BreakerConfig::default());
    run(&b, at(0.0), 9, true);
    // 11s later the 9 errors are gone: 1 error is below volume.
    run(&b, at(11.0), 1, true);
    assert_eq!(b.state(at(11.0)), BreakerState::Closed);

    let b = breaker(BreakerConfig::default());
    run(&b, at(0.0), 9, true);
    // Still inside the window (bucket 9 of 0..=9).
    run(&b, at(9.5), 1, true);
    assert_eq!(b.state(at(9.5)), BreakerState::Open);
}

#[test]
fn bucket_granularity() {
    let cfg = BreakerConfig {
        buckets: 2,
        ..Default::default()
    };
    // Two 5s buckets: errors at 4.9s still count at 9.99s ...
    let b = breaker(cfg);
    run(&b, at(4.9), 9, true);
    run(&b, at(9.99), 1, true);
    assert_eq!(b.state(at(9.99)), BreakerState::Open);
    // ... but the whole first bucket drops at 10s, only 5.1s after them.
    let b = breaker(cfg);
    run(&b, at(4.9), 9, true);
    run(&b, at(10.0), 1, true);
    assert_eq!(b.state(at(10.0)), BreakerState::Closed);

    // One bucket: the window is the current 10s bucket only.
    let b = breaker(BreakerConfig { buckets: 1, ..cfg });
    run(&b, at(9.9), 9, true);
    run(&b, at(10.0), 1, true);
    assert_eq!(b.state(at(10.0)), BreakerState::Closed);
}

#[test]
fn clock_going_backwards_does_not_shorten_or_reopen() {
    let b = tripped();
    let probe = ticket(&b, at(10.0));
    b.record(probe, false, at(10.0));
    assert_eq!(b.state(at(5.0)), BreakerState::Closed);
    let b = tripped();
    assert_eq!(b.state(at(10.0)), BreakerState::HalfOpen);
    assert_eq!(b.state(at(1.0)), BreakerState::HalfOpen);
}

#[test]
fn concurrent_half_open_admits_exactly_one_probe() {
    let b = Arc::new(tripped());
    let probes = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (b, probes) = (Arc::clone(&b), Arc::clone(&probes));
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for _ in 0..100 {
                    if let Admission::Admitted(t) = b.admit(at(10.0)) {
                        probes.fetch_add(1, Ordering::Relaxed);
                        held.push(t);
                    }
                }
                held
            })
        })
        .collect();
    let held: Vec<Ticket> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread panicked"))
        .collect();
    assert_eq!(probes.load(Ordering::Relaxed), 1);
    assert_eq!(held.len(), 1);
}

#[test]
fn breaker_and_tickets_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CircuitBreaker>();
    assert_send_sync::<Ticket>();
    assert_send_sync::<crate::limits::SlidingWindowLimiter>();
}
