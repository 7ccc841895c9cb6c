//! Linear: `Linear-Signature: <hex HMAC-SHA256(body)>`; replay protection
//! comes from the `webhookTimestamp` field (Unix milliseconds) of the JSON
//! body, which Linear asks receivers to accept only within a minute.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// Verifies the body signature, then the signed `webhookTimestamp`.
pub(crate) fn verify(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    let provided = util::decode_hex(util::header(req, "Linear-Signature")?)?;
    let expected = util::hmac(Alg::Sha256, key, &[req.body])?;
    util::match_any(&expected, [provided])?;

    let payload: Value = serde_json::from_slice(req.body)
        .map_err(|_| WebhookError::malformed("body is not JSON"))?;
    let timestamp_ms = match payload.get("webhookTimestamp") {
        Some(Value::Number(n)) => n.as_i64().map(i128::from),
        Some(Value::String(s)) => util::parse_timestamp(s).ok().map(i128::from),
        _ => None,
    }
    .ok_or_else(|| WebhookError::malformed("body has no integer webhookTimestamp"))?;
    util::check_age_ms(timestamp_ms, now, tolerance)?;
    Ok(Verification::Verified)
}
