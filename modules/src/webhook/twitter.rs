//! Twitter / X Account Activity API: events carry
//! `X-Twitter-Webhooks-Signature: sha256=<base64 HMAC-SHA256(body)>` keyed
//! with the app's consumer secret. The challenge-response check (CRC) is a
//! `GET` with a `crc_token` query parameter, answered with
//! `{"response_token": "sha256=<base64 HMAC-SHA256(crc_token)>"}`.
//!
//! Twitter does not sign CRC requests, so, as for every Twitter receiver,
//! the CRC answer is a MAC of caller-chosen text under the same key.

use serde_json::json;

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// Answers a CRC `GET`, or verifies an event's signature.
pub(crate) fn verify(key: &[u8], req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    if req.method == http::Method::GET {
        let token = util::query_param(req.url, "crc_token")
            .ok_or_else(|| WebhookError::malformed("GET request without crc_token"))?;
        let mac = util::hmac(Alg::Sha256, key, &[token.as_bytes()])?;
        let body = json!({ "response_token": format!("sha256={}", util::encode_base64(&mac)) });
        return Ok(Verification::Challenge(util::json_response(&body)));
    }
    let value = util::header(req, "X-Twitter-Webhooks-Signature")?;
    let provided = util::decode_base64(util::strip_prefix(value, "sha256=")?)?;
    let expected = util::hmac(Alg::Sha256, key, &[req.body])?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
