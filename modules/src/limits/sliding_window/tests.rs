use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const MIN: Duration = Duration::from_secs(60);

fn at(secs: f64) -> SystemTime {
    // A window-aligned base far from the epoch.
    UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_secs_f64(secs)
}

fn limiter(capacity: u64) -> SlidingWindowLimiter {
    SlidingWindowLimiter::new(capacity, MIN).expect("valid config")
}

fn admitted(l: &SlidingWindowLimiter, key: u64, now: SystemTime, tries: u64) -> u64 {
    (0..tries)
        .filter(|_| l.check(key, now).is_allowed())
        .count() as u64
}

#[test]
fn validates_ngrok_ranges() {
    assert_eq!(limiter(1).capacity(), 1);
    assert!(SlidingWindowLimiter::new(MAX_CAPACITY, MAX_WINDOW).is_ok());
    assert_eq!(
        SlidingWindowLimiter::new(0, MIN).err(),
        Some(RateLimitConfigError::Capacity(0))
    );
    assert!(SlidingWindowLimiter::new(MAX_CAPACITY + 1, MIN).is_err());
    for bad in [50, 65, 86_410] {
        let w = Duration::from_secs(bad);
        assert_eq!(
            SlidingWindowLimiter::new(1, w).err(),
            Some(RateLimitConfigError::Window(w))
        );
    }
}

#[test]
fn capacity_then_refusal() {
    let l = limiter(10);
    for i in 0..10 {
        assert_eq!(l.check(1, at(0.0)), Decision::Allowed { remaining: 9 - i });
    }
    // Exact wait is 66s (next window at 60s, then prev weight 10*(1-e/60) <= 9
    // needs e >= 6s); it is capped at the window.
    assert_eq!(l.check(1, at(0.0)), Decision::Limited { retry_after: MIN });
    assert!(!l.check(1, at(65.9)).is_allowed());
    assert!(l.check(1, at(66.0)).is_allowed());
}

#[test]
fn refused_requests_are_not_counted() {
    let l = limiter(10);
    assert_eq!(admitted(&l, 1, at(0.0), 1_000), 10);
    // Had the 990 refusals counted, nothing would pass at t=90.
    assert_eq!(admitted(&l, 1, at(90.0), 100), 5);
}

#[test]
fn capacity_returns_after_two_windows() {
    let l = limiter(10);
    assert_eq!(admitted(&l, 1, at(0.0), 20), 10);
    assert_eq!(admitted(&l, 1, at(120.0), 20), 10);
    assert_eq!(admitted(&l, 1, at(300.0), 20), 10);
}

#[test]
fn previous_window_weight_matches_formula() {
    let l = limiter(10);
    assert_eq!(admitted(&l, 1, at(0.0), 10), 10);
    // t = 90s: window 1, elapsed 30s, estimate 10 * 0.5 = 5.
    for i in 0..5 {
        assert_eq!(l.check(1, at(90.0)), Decision::Allowed { remaining: 4 - i });
    }
    // 10 * (1 - e/60) + 5 + 1 <= 10  <=>  e >= 36s: 6s from now.
    assert_eq!(
        l.check(1, at(90.0)),
        Decision::Limited {
            retry_after: Duration::from_secs(6)
        }
    );
    assert!(!l.check(1, at(95.999)).is_allowed());
    assert!(l.check(1, at(96.0)).is_allowed());
}

#[test]
fn weight_at_window_start_and_fractional_retry() {
    let l = limiter(10);
    assert_eq!(admitted(&l, 1, at(0.0), 4), 4);
    // t = 60s: estimate 4 => 6 admitted.
    assert_eq!(admitted(&l, 1, at(60.0), 20), 6);
    // t = 60.5: prev 4 weighs 4 * 119/120 = 3.97 + 6 -> refused;
    // needs 4 * (60 - e)/60 <= 3 <=> e >= 15s: 14.5s -> 15s ceiling.
    assert_eq!(
        l.check(1, at(60.5)),
        Decision::Limited {
            retry_after: Duration::from_secs(15)
        }
    );
    assert!(l.check(1, at(75.0)).is_allowed());
}

#[test]
fn retry_after_is_at_least_one_second() {
    let l = limiter(10);
    assert_eq!(admitted(&l, 1, at(0.0), 10), 10);
    // At t = 65.95: need e >= 6s, 50ms away -> rounds up to 1s.
    assert_eq!(
        l.check(1, at(65.95)),
        Decision::Limited {
            retry_after: Duration::from_secs(1)
        }
    );
}

#[test]
fn keys_are_independent() {
    let l = limiter(3);
    assert_eq!(admitted(&l, 1, at(0.0), 5), 3);
    assert_eq!(admitted(&l, 2, at(0.0), 5), 3);
    assert_eq!(admitted(&l, 1, at(1.0), 5), 0);
    assert_eq!(l.len(), 2);
}

#[test]
fn backwards_clock_is_conservative() {
    let l = limiter(10);
    assert_eq!(admitted(&l, 1, at(0.0), 10), 10);
    assert_eq!(admitted(&l, 1, at(90.0), 1), 1);
    // Back into window 0: evaluated at the start of window 1 (prev weight 10).
    assert_eq!(admitted(&l, 1, at(30.0), 5), 0);
    assert_eq!(admitted(&l, 1, UNIX_EPOCH - MIN, 5), 0);
}

#[test]
fn concurrent_checks_never_exceed_capacity() {
    let l = Arc::new(limiter(1_000));
    let total = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (l, total) = (Arc::clone(&l), Arc::clone(&total));
            std::thread::spawn(move || {
                let n = admitted(&l, 42, at(10.0), 500);
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread panicked");
    }
    assert_eq!(total.load(Ordering::Relaxed), 1_000);
}

#[test]
fn hash_key_is_length_prefixed() {
    assert_ne!(hash_key(&["a", "bc"]), hash_key(&["ab", "c"]));
    assert_ne!(hash_key(&["a", ""]), hash_key(&["a"]));
    assert_ne!(hash_key(&[""]), hash_key(&[]));
    assert_eq!(hash_key(&["x", "y"]), hash_key(&["x", "y"]));
}

#[test]
fn buckets_are_compact() {
    assert_eq!(std::mem::size_of::<Bucket>(), 16);
    assert_eq!(std::mem::size_of::<(u64, Bucket)>(), 24);
}

#[test]
fn explicit_sweep_drops_only_idle_buckets() {
    let l = limiter(5);
    l.check(1, at(0.0));
    l.check(2, at(70.0));
    assert_eq!(l.sweep(at(119.0)), 0);
    assert_eq!(l.sweep(at(120.0)), 1);
    assert_eq!(l.len(), 1);
    assert_eq!(l.sweep(at(180.0)), 1);
    assert!(l.is_empty());
}

#[test]
fn million_keys_stay_bounded() {
    const KEYS: u64 = 1_000_000;
    const WINDOWS: u64 = 10;
    let l = limiter(10);
    let span_nanos = u128::from(WINDOWS) * MIN.as_nanos();
    let base = at(0.0);
    let mut max_len = 0;
    for i in 0..KEYS {
        let offset = u128::from(i) * span_nanos / u128::from(KEYS);
        let now = base + Duration::from_nanos(offset as u64);
        assert!(l.check(hash_key(&[&i.to_string()]), now).is_allowed());
        if i % 10_000 == 0 {
            max_len = max_len.max(l.len());
        }
    }
    // 100k keys per window; only the current and previous windows are kept.
    assert!(max_len <= 200_000 + 10_000, "max live buckets {max_len}");
    assert!(l.len() <= 200_000, "final live buckets {}", l.len());
    let slots: usize = l.shards.iter().map(|s| s.lock().buckets.capacity()).sum();
    // Each slot is 24 bytes of entry + 1 control byte.
    assert!(slots * 25 < 16 << 20, "{slots} slots");
    // Two windows after the last key nothing has weight and all is swept.
    let later = base + MIN * (WINDOWS as u32 + 2);
    assert!(l.check(7, later).is_allowed());
    l.sweep(later);
    assert_eq!(l.len(), 1);
}
