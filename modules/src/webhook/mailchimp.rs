//! Mailchimp Transactional (Mandrill): `X-Mandrill-Signature` is the base64 HMAC-SHA1, keyed
//! with the webhook's key, of the webhook URL exactly as configured followed by every
//! form parameter of the body as `key + value`, sorted by key (the same construction as
//! Twilio's, without Twilio's port variants).

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest, twilio};

/// Verifies a Mandrill webhook.
pub(crate) fn verify(key: &[u8], req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    let provided = util::decode_base64(util::header(req, "X-Mandrill-Signature")?)?;
    let params = if req.body.is_empty() {
        String::new()
    } else if util::is_form_encoded(req) {
        twilio::sorted_params(req.body)
    } else {
        return Err(WebhookError::malformed(
            "the body is not form-encoded, so the signature does not cover it",
        ));
    };
    let expected = util::hmac(Alg::Sha1, key, &[req.url.as_bytes(), params.as_bytes()])?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
