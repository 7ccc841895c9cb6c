//! Zoom: `x-zm-signature: v0=<hex HMAC-SHA256("v0:{ts}:{body}")>` with
//! `x-zm-request-timestamp`, plus the `endpoint.url_validation` handshake.
//!
//! The handshake is answered only after the request's own signature has been
//! verified: answering unsigned challenges would let anyone obtain
//! `HMAC(secret, chosen text)` and so forge signatures.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest, slack};

const URL_VALIDATION: &str = "endpoint.url_validation";

/// Verifies the signature, then answers a URL-validation event with
/// `{"plainToken": ..., "encryptedToken": hex(HMAC-SHA256(secret, plainToken))}`.
pub(crate) fn verify(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    slack::verify_v0(
        key,
        req,
        "x-zm-signature",
        "x-zm-request-timestamp",
        now,
        tolerance,
    )?;
    if !util::contains(req.body, URL_VALIDATION.as_bytes()) {
        return Ok(Verification::Verified);
    }
    let Ok(event) = serde_json::from_slice::<Value>(req.body) else {
        return Ok(Verification::Verified);
    };
    if event.get("event").and_then(Value::as_str) != Some(URL_VALIDATION) {
        return Ok(Verification::Verified);
    }
    let plain_token = event
        .pointer("/payload/plainToken")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            WebhookError::malformed("url_validation event without payload.plainToken")
        })?;
    let encrypted = hex::encode(util::hmac(Alg::Sha256, key, &[plain_token.as_bytes()])?);
    let body = json!({ "plainToken": plain_token, "encryptedToken": encrypted });
    Ok(Verification::Challenge(util::json_response(&body)))
}
