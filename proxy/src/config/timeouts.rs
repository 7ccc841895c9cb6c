//! `timeouts:` of the edge config: connection, header, shutdown and request-body timeouts,
//! validated with their locations.

use std::time::Duration;

use super::check::{Checker, key, parse_duration};
use super::raw::RawTimeouts;
use crate::body_pace::BodyTimeouts;

/// Largest `timeouts.body_min_rate` (bytes a second): above it, ordinary uploads would fail.
const MAX_BODY_MIN_RATE: u64 = 100 * 1024 * 1024;

/// The validated `timeouts:` (defaults where a key is absent or wrong).
pub(super) struct Timeouts {
    pub idle: Duration,
    pub header_read: Duration,
    pub shutdown_grace: Duration,
    pub body: BodyTimeouts,
}

/// Validates `timeouts:`; a bad value is reported and its default kept.
pub(super) fn timeouts_section(cx: &mut Checker<'_>, raw: Option<&RawTimeouts>) -> Timeouts {
    let mut out = Timeouts {
        idle: Duration::from_secs(300),
        header_read: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(10),
        body: BodyTimeouts::default(),
    };
    let Some(t) = raw else {
        return out;
    };
    for (value, slot, name) in [
        (&t.idle, &mut out.idle, "idle"),
        (&t.header_read, &mut out.header_read, "header_read"),
        (&t.shutdown_grace, &mut out.shutdown_grace, "shutdown_grace"),
        (&t.body_read, &mut out.body.read, "body_read"),
        (
            &t.body_min_rate_grace,
            &mut out.body.grace,
            "body_min_rate_grace",
        ),
    ] {
        let Some(text) = value else { continue };
        match parse_duration(text) {
            Some(d) if !d.is_zero() => *slot = d,
            _ => cx.error(
                &[key("timeouts"), key(name)],
                format!("`{text}` is not a duration like 300ms, 10s, 5m or 1h"),
            ),
        }
    }
    match t.body_min_rate {
        Some(rate) if rate > MAX_BODY_MIN_RATE => cx.error(
            &[key("timeouts"), key("body_min_rate")],
            format!(
                "{rate} bytes a second is more than the {MAX_BODY_MIN_RATE} allowed (0 turns the minimum rate off)"
            ),
        ),
        Some(rate) => out.body.min_rate = rate,
        None => {}
    }
    out
}
