//! The `X-Hub-Signature` family: GitHub, Bitbucket and Intercom sign the raw
//! body with HMAC and send `<alg>=<hex digest>`.

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

const GITHUB_SHA256: &str = "X-Hub-Signature-256";
const HUB_SIGNATURE: &str = "X-Hub-Signature";

/// GitHub: `X-Hub-Signature-256: sha256=<hex>`; the legacy
/// `X-Hub-Signature: sha1=<hex>` is accepted only when the former is absent.
pub(crate) fn verify_github(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    if let Some(value) = util::opt_header(req, GITHUB_SHA256)? {
        return verify_prefixed_hex(key, req.body, value, "sha256=", Alg::Sha256);
    }
    match util::opt_header(req, HUB_SIGNATURE)? {
        Some(value) => verify_prefixed_hex(key, req.body, value, "sha1=", Alg::Sha1),
        None => Err(WebhookError::MissingHeader(GITHUB_SHA256)),
    }
}

/// Bitbucket: `X-Hub-Signature: sha256=<hex HMAC-SHA256(body)>`.
pub(crate) fn verify_bitbucket(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let value = util::header(req, HUB_SIGNATURE)?;
    verify_prefixed_hex(key, req.body, value, "sha256=", Alg::Sha256)
}

/// Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1(body)>`, keyed with the app's client secret.
pub(crate) fn verify_intercom(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let value = util::header(req, HUB_SIGNATURE)?;
    verify_prefixed_hex(key, req.body, value, "sha1=", Alg::Sha1)
}

fn verify_prefixed_hex(
    key: &[u8],
    body: &[u8],
    value: &str,
    prefix: &str,
    alg: Alg,
) -> Result<Verification, WebhookError> {
    let provided = util::decode_hex(util::strip_prefix(value, prefix)?)?;
    let expected = util::hmac(alg, key, &[body])?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
