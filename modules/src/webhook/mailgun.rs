//! Mailgun: the signature travels in the body, not in a header. A JSON event carries
//! `{"signature": {"timestamp", "token", "signature"}, "event-data": …}`; a form-encoded
//! (legacy) one carries the fields `timestamp`, `token` and `signature`. `signature` is the
//! hex HMAC-SHA256, keyed with the account's HTTP webhook signing key, of `timestamp` (Unix
//! seconds) followed by `token`.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

#[derive(Deserialize)]
struct Event {
    signature: Signature,
}

#[derive(Deserialize)]
struct Signature {
    timestamp: String,
    token: String,
    signature: String,
}

/// Verifies a Mailgun webhook.
pub(crate) fn verify(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    let sig = if util::is_form_encoded(req) {
        let field = |name: &str| {
            form_urlencoded::parse(req.body)
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .ok_or_else(|| WebhookError::Malformed(format!("no `{name}` field in the body")))
        };
        Signature {
            timestamp: field("timestamp")?,
            token: field("token")?,
            signature: field("signature")?,
        }
    } else {
        serde_json::from_slice::<Event>(req.body)
            .map_err(|_| WebhookError::malformed("the body has no `signature` object"))?
            .signature
    };
    util::check_age_secs(util::parse_timestamp(&sig.timestamp)?, now, tolerance)?;
    let provided = util::decode_hex(&sig.signature)?;
    let expected = util::hmac(
        Alg::Sha256,
        key,
        &[sig.timestamp.as_bytes(), sig.token.as_bytes()],
    )?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
