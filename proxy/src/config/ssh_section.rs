//! `ssh:`: settings of the SSH gateway (its address is `listeners.ssh`).

use std::time::Duration;

use super::check::{Checker, key, parse_duration};
use super::raw::RawSsh;

/// Keepalive interval when the file gives none (OpenSSH's `ClientAliveInterval` in spirit).
pub(super) const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// Longest keepalive interval accepted.
const MAX_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(3600);

/// Validates the `ssh:` section; `listener` says whether `listeners.ssh` is set. The
/// keepalive interval (the default when there is no section).
pub(super) fn ssh_section(cx: &mut Checker<'_>, raw: Option<&RawSsh>, listener: bool) -> Duration {
    let Some(raw) = raw else {
        return DEFAULT_KEEPALIVE_INTERVAL;
    };
    if !listener {
        cx.error(
            &[key("ssh")],
            "ssh settings need the ssh listener: give listeners.ssh too",
        );
    }
    let Some(text) = &raw.keepalive_interval else {
        return DEFAULT_KEEPALIVE_INTERVAL;
    };
    match parse_duration(text) {
        Some(d) if d >= Duration::from_secs(1) && d <= MAX_KEEPALIVE_INTERVAL => d,
        _ => {
            cx.error(
                &[key("ssh"), key("keepalive_interval")],
                format!("`{text}` is not a duration between 1s and 1h, like 15s or 1m"),
            );
            DEFAULT_KEEPALIVE_INTERVAL
        }
    }
}
