//! `tunnel.auth_limits`: how many failed authtokens a source address may present before the
//! tunnel listener blocks it, and for how long (see [`AuthLimiter`](crate::auth_limit)).

use std::time::Duration;

use super::check::{Checker, key, parse_duration};
use super::raw::RawAuthLimits;
use crate::auth_limit::AuthLimits;

/// Most addresses the table may be told to track (a few hundred bytes each).
const MAX_TRACKED: usize = 10_000_000;

/// Validates `tunnel.auth_limits` over the defaults.
pub(super) fn auth_limits(cx: &mut Checker<'_>, raw: Option<&RawAuthLimits>) -> AuthLimits {
    let mut limits = AuthLimits::default();
    let Some(raw) = raw else { return limits };
    let at = |k: &str| [key("tunnel"), key("auth_limits"), key(k)];
    if let Some(n) = raw.free_failures {
        limits.free_failures = n;
    }
    for (value, slot, name) in [
        (&raw.window, &mut limits.window, "window"),
        (&raw.base_delay, &mut limits.base_delay, "base_delay"),
        (&raw.max_delay, &mut limits.max_delay, "max_delay"),
    ] {
        let Some(text) = value else { continue };
        match parse_duration(text) {
            Some(d) if !d.is_zero() && d <= Duration::from_secs(86_400) => *slot = d,
            _ => cx.error(
                &at(name),
                format!("`{text}` is not a duration between 1ms and 24h, like 1s, 1m or 5m"),
            ),
        }
    }
    if limits.max_delay < limits.base_delay {
        cx.error(
            &at("max_delay"),
            "max_delay must not be shorter than base_delay",
        );
    }
    if let Some(n) = raw.max_tracked {
        match usize::try_from(n) {
            Ok(n) if (1..=MAX_TRACKED).contains(&n) => limits.max_tracked = n,
            _ => cx.error(
                &at("max_tracked"),
                format!("max_tracked must be between 1 and {MAX_TRACKED}"),
            ),
        }
    }
    limits
}
