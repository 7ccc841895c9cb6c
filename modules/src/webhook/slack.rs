//! Slack signs `"v0:{timestamp}:{body}"` with HMAC-SHA256 and sends
//! `v0=<hex>`; Zoom uses the same construction with other header names.

use std::time::{Duration, SystemTime};

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// Slack: `X-Slack-Signature: v0=<hex>` with `X-Slack-Request-Timestamp`.
pub(crate) fn verify(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    verify_v0(
        key,
        req,
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
        now,
        tolerance,
    )?;
    Ok(Verification::Verified)
}

/// Checks a `v0=<hex HMAC-SHA256("v0:{ts}:{body}")>` signature and its timestamp.
pub(crate) fn verify_v0(
    key: &[u8],
    req: &WebhookRequest<'_>,
    signature_header: &'static str,
    timestamp_header: &'static str,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let signature = util::header(req, signature_header)?;
    let timestamp = util::header(req, timestamp_header)?;
    let provided = util::decode_hex(util::strip_prefix(signature, "v0=")?)?;
    let seconds = util::parse_timestamp(timestamp)?;
    let expected = util::hmac(
        Alg::Sha256,
        key,
        &[b"v0:", timestamp.as_bytes(), b":", req.body],
    )?;
    util::match_any(&expected, [provided])?;
    util::check_age_secs(seconds, now, tolerance)
}
