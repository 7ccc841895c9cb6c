//! Xero: `x-xero-signature: <base64 HMAC-SHA256(body)>` keyed with the
//! webhook key. Xero's "intent to receive" check sends signed payloads with
//! an empty `events` list and expects `200` with an empty body when the
//! signature is right and `401` when it is wrong (see
//! [`Provider::failure_status`](super::Provider::failure_status)).

use serde_json::Value;

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// Verifies the signature and answers intent-to-receive payloads directly.
pub(crate) fn verify(key: &[u8], req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    let provided = util::decode_base64(util::header(req, "x-xero-signature")?)?;
    let expected = util::hmac(Alg::Sha256, key, &[req.body])?;
    util::match_any(&expected, [provided])?;

    let is_intent_to_receive = serde_json::from_slice::<Value>(req.body)
        .ok()
        .and_then(|payload| payload.get("events")?.as_array().map(Vec::is_empty))
        .unwrap_or(false);
    if is_intent_to_receive {
        let mut response = util::ok_response("text/plain", Vec::new());
        response.headers_mut().remove(http::header::CONTENT_TYPE);
        return Ok(Verification::Challenge(response));
    }
    Ok(Verification::Verified)
}
