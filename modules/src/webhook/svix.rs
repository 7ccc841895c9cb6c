//! Svix and Standard Webhooks (also used by Clerk): `svix-id`,
//! `svix-timestamp`, `svix-signature` (or the same with the `webhook-`
//! prefix). The signed content is `"{id}.{timestamp}.{body}"`, the key is the
//! base64 part of the `whsec_...` secret, and the signature header is a
//! space-separated list of `v1,<base64 HMAC-SHA256>` entries.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

const SECRET_PREFIX: &str = "whsec_";

/// Header names of one header family.
struct Family {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const SVIX: Family = Family {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

const STANDARD: Family = Family {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

/// Decodes the HMAC key from a `whsec_<base64>` (or bare base64) secret.
pub(crate) fn signing_key(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
    let key = BASE64
        .decode(encoded)
        .map_err(|_| WebhookError::invalid_secret("expected whsec_ followed by base64"))?;
    if key.is_empty() {
        return Err(WebhookError::invalid_secret(
            "the decoded signing key is empty",
        ));
    }
    Ok(key)
}

/// Verifies a Svix / Standard Webhooks signature and its timestamp.
pub(crate) fn verify(
    secret: &str,
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    let key = signing_key(secret)?;
    let family = if req.headers.contains_key(SVIX.id) {
        &SVIX
    } else if req.headers.contains_key(STANDARD.id) {
        &STANDARD
    } else {
        return Err(WebhookError::MissingHeader(SVIX.id));
    };
    let id = util::header(req, family.id)?;
    let timestamp = util::header(req, family.timestamp)?;
    let signatures = util::header(req, family.signature)?;

    let seconds = util::parse_timestamp(timestamp)?;
    let candidates: Vec<Vec<u8>> = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| BASE64.decode(sig).ok())
        .collect();
    if candidates.is_empty() {
        return Err(WebhookError::malformed("no valid v1 signature"));
    }
    let expected = util::hmac(
        Alg::Sha256,
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", req.body],
    )?;
    util::match_any(&expected, candidates)?;
    util::check_age_secs(seconds, now, tolerance)?;
    Ok(Verification::Verified)
}
