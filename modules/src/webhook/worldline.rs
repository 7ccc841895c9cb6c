//! Worldline (Connect / Direct): events carry
//! `X-GCS-Signature: <base64 HMAC-SHA256(body)>` keyed with the webhook
//! secret key (`X-GCS-KeyId` names the key). When an endpoint is registered,
//! Worldline sends a `GET` with `X-GCS-Webhooks-Endpoint-Verification` and
//! expects that header's value echoed as the response body.

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

const VERIFICATION: &str = "X-GCS-Webhooks-Endpoint-Verification";

/// Answers the endpoint verification `GET`, or verifies an event's signature.
pub(crate) fn verify(key: &[u8], req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    if req.method == http::Method::GET {
        let value = util::header(req, VERIFICATION)?;
        let response = util::ok_response("text/plain", value.as_bytes().to_vec());
        return Ok(Verification::Challenge(response));
    }
    let provided = util::decode_base64(util::header(req, "X-GCS-Signature")?)?;
    let expected = util::hmac(Alg::Sha256, key, &[req.body])?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
