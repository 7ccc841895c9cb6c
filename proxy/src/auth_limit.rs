//! Per-source-IP limiting of failed authentications, shared by every listener that checks a
//! secret (the tunnel listener now, the SSH gateway later).
//!
//! Hand-written rather than `governor`: governor limits the rate of all attempts, while this
//! counts failures only (a good agent reconnecting often is never slowed) and answers with
//! a growing, capped back-off per address, which governor's fixed quotas do not express.
//!
//! Rules: each address may fail [`AuthLimits::free_failures`] times per
//! [`AuthLimits::window`]; every failure after that blocks the address for a delay that starts
//! at [`AuthLimits::base_delay`] and doubles with each further failure, up to
//! [`AuthLimits::max_delay`]. While blocked, attempts are refused without looking at the secret
//! (and do not lengthen the block). IPv6 addresses count per /64, as one host usually owns a
//! whole /64. The table holds at most [`AuthLimits::max_tracked`] addresses: when full, idle
//! entries go first, then the least recently seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The limits of an [`AuthLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLimits {
    /// Failures an address may make per window before it is blocked.
    pub free_failures: u32,
    /// How long failures are remembered (from an address's first failure).
    pub window: Duration,
    /// The first block's length; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest block.
    pub max_delay: Duration,
    /// Addresses tracked at most (bounds memory under many source addresses).
    pub max_tracked: usize,
}

impl Default for AuthLimits {
    fn default() -> Self {
        AuthLimits {
            free_failures: 5,
            window: Duration::from_secs(60),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_tracked: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Start of the current window.
    since: Instant,
    /// Failures in the current window.
    failures: u32,
    /// Blocked until then.
    blocked_until: Option<Instant>,
    /// Last failure or refusal.
    last: Instant,
}

impl Entry {
    /// Whether the entry no longer affects anything at `now`.
    fn idle(&self, now: Instant, window: Duration) -> bool {
        self.blocked_until.is_none_or(|b| b <= now) && now.duration_since(self.since) >= window
    }
}

/// Counts failed authentications per source address and blocks those failing too often.
#[derive(Debug)]
pub struct AuthLimiter {
    limits: AuthLimits,
    table: Mutex<HashMap<IpAddr, Entry>>,
}

/// The key an address is counted under: itself for IPv4, its /64 for IPv6.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

impl AuthLimiter {
    /// A limiter with these limits.
    pub fn new(limits: AuthLimits) -> Self {
        AuthLimiter {
            limits,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The limits.
    pub fn limits(&self) -> AuthLimits {
        self.limits
    }

    /// Whether `ip` may try now: `Err(retry_after)` while it is blocked.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    /// [`check`](Self::check) at `now`.
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(e) = table.get_mut(&key(ip)) else {
            return Ok(());
        };
        match e.blocked_until {
            Some(until) if until > now => {
                e.last = now;
                Err(until - now)
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt by `ip`; returns the block it now serves, if any.
    pub fn failure(&self, ip: IpAddr) -> Option<Duration> {
        self.failure_at(ip, Instant::now())
    }

    /// [`failure`](Self::failure) at `now`.
    pub fn failure_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let limits = self.limits;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let k = key(ip);
        if !table.contains_key(&k) && table.len() >= limits.max_tracked.max(1) {
            make_room(&mut table, now, limits.window, limits.max_tracked.max(1));
        }
        let e = table.entry(k).or_insert(Entry {
            since: now,
            failures: 0,
            blocked_until: None,
            last: now,
        });
        if e.idle(now, limits.window) {
            *e = Entry {
                since: now,
                failures: 0,
                blocked_until: None,
                last: now,
            };
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        let over = e
            .failures
            .checked_sub(limits.free_failures)?
            .checked_sub(1)?;
        let delay = limits
            .base_delay
            .checked_mul(1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(limits.max_delay)
            .min(limits.max_delay);
        e.blocked_until = Some(now + delay);
        Some(delay)
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Frees a slot below `cap`: drops idle entries, else the least recently seen one.
fn make_room(table: &mut HashMap<IpAddr, Entry>, now: Instant, window: Duration, cap: usize) {
    table.retain(|_, e| !e.idle(now, window));
    if table.len() < cap {
        return;
    }
    let oldest = table.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k);
    if let Some(k) = oldest {
        table.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_tracked: usize) -> AuthLimiter {
        AuthLimiter::new(AuthLimits {
            free_failures: 3,
            window: Duration::from_secs(60),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            max_tracked,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn blocks_after_free_failures_with_doubling_capped_delay() {
        let l = limiter(100);
        let t0 = Instant::now();
        let a = ip("10.0.0.1");
        for _ in 0..3 {
            assert_eq!(l.failure_at(a, t0), None);
            assert_eq!(l.check_at(a, t0), Ok(()));
        }
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(l.failure_at(a, t0), secs(1));
        assert_eq!(l.check_at(a, t0), Err(Duration::from_secs(1)));
        assert_eq!(l.failure_at(a, t0), secs(2));
        assert_eq!(l.failure_at(a, t0), secs(4));
        assert_eq!(l.failure_at(a, t0), secs(8));
        assert_eq!(l.failure_at(a, t0), secs(8));
        // Another address is not affected.
        assert_eq!(l.check_at(ip("10.0.0.2"), t0), Ok(()));
        // The block ends, and after the window the count starts again.
        assert_eq!(l.check_at(a, t0 + Duration::from_secs(9)), Ok(()));
        let later = t0 + Duration::from_secs(61);
        assert_eq!(l.failure_at(a, later), None);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = limiter(100);
        let t0 = Instant::now();
        for i in 0..4 {
            l.failure_at(ip(&format!("2001:db8::{i}")), t0);
        }
        assert!(l.check_at(ip("2001:db8::ffff"), t0).is_err());
        assert_eq!(l.check_at(ip("2001:db8:0:1::1"), t0), Ok(()));
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn table_is_bounded() {
        let l = limiter(50);
        let t0 = Instant::now();
        for i in 0..5_000u32 {
            let [a, b, c, d] = i.to_be_bytes();
            l.failure_at(IpAddr::from([10, a.max(b), c, d]), t0);
        }
        assert!(l.tracked() <= 50, "{}", l.tracked());
    }
}
