//! Providers that sign the raw body (or URL + body) with HMAC-SHA256 and no
//! timestamp: Shopify, Typeform, Sentry, Square and PagerDuty.

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(body)>`.
pub(crate) fn verify_shopify(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let provided = util::decode_base64(util::header(req, "X-Shopify-Hmac-Sha256")?)?;
    check(key, &[req.body], provided)
}

/// Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256(body)>`.
pub(crate) fn verify_typeform(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let value = util::header(req, "Typeform-Signature")?;
    let provided = util::decode_base64(util::strip_prefix(value, "sha256=")?)?;
    check(key, &[req.body], provided)
}

/// Sentry: `Sentry-Hook-Signature: <hex HMAC-SHA256(body)>`, keyed with the
/// integration's client secret. (`Sentry-Hook-Timestamp` is not signed.)
pub(crate) fn verify_sentry(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let provided = util::decode_hex(util::header(req, "Sentry-Hook-Signature")?)?;
    check(key, &[req.body], provided)
}

/// Square: `X-Square-HmacSha256-Signature: <base64 HMAC-SHA256(notification URL + body)>`.
/// The notification URL is the URL the request was sent to.
pub(crate) fn verify_square(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let provided = util::decode_base64(util::header(req, "X-Square-HmacSha256-Signature")?)?;
    check(key, &[req.url.as_bytes(), req.body], provided)
}

/// PagerDuty: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 of
/// the body; several signatures are sent while a secret is being rotated.
pub(crate) fn verify_pagerduty(
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let value = util::header(req, "X-PagerDuty-Signature")?;
    let candidates = value
        .split(',')
        .map(str::trim)
        .filter_map(|item| item.strip_prefix("v1="))
        .map(util::decode_hex)
        .collect::<Result<Vec<_>, _>>()?;
    if candidates.is_empty() {
        return Err(WebhookError::malformed(
            "no v1 signature in X-PagerDuty-Signature",
        ));
    }
    let expected = util::hmac(Alg::Sha256, key, &[req.body])?;
    util::match_any(&expected, candidates)?;
    Ok(Verification::Verified)
}

fn check(key: &[u8], parts: &[&[u8]], provided: Vec<u8>) -> Result<Verification, WebhookError> {
    let expected = util::hmac(Alg::Sha256, key, parts)?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
