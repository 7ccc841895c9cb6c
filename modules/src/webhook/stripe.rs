//! The `t=<timestamp>,v1=<hex>` family: Stripe and Calendly sign
//! `"{t}.{body}"` with HMAC-SHA256 and send the timestamp alongside.

use std::time::{Duration, SystemTime};

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// Stripe: `Stripe-Signature: t=..,v1=..[,v1=..]`; several `v1` entries are
/// sent while a secret is being rolled. The `whsec_...` secret is used as is.
pub(crate) fn verify_stripe(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    verify_timestamped(key, req, "Stripe-Signature", now, tolerance)
}

/// Calendly: `Calendly-Webhook-Signature: t=..,v1=..` with the subscription's signing key.
pub(crate) fn verify_calendly(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    verify_timestamped(key, req, "Calendly-Webhook-Signature", now, tolerance)
}

fn verify_timestamped(
    key: &[u8],
    req: &WebhookRequest<'_>,
    header: &'static str,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    let value = util::header(req, header)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for (name, item) in util::kv_items(value, ',') {
        match name {
            "t" if timestamp.is_none() => timestamp = Some(item),
            // Undecodable entries cannot match; other entries (v0, ...) are ignored.
            "v1" => candidates.extend(hex::decode(item).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| WebhookError::malformed("no t= timestamp"))?;
    if candidates.is_empty() {
        return Err(WebhookError::malformed("no valid v1 signature"));
    }
    let seconds = util::parse_timestamp(timestamp)?;
    let expected = util::hmac(Alg::Sha256, key, &[timestamp.as_bytes(), b".", req.body])?;
    util::match_any(&expected, candidates)?;
    util::check_age_secs(seconds, now, tolerance)?;
    Ok(Verification::Verified)
}
