//! Contentful: the signature covers a canonical form of the whole request, not just the
//! body. `x-contentful-signed-headers` lists (comma-separated, lower-case) the headers that
//! are signed, always including `x-contentful-timestamp` (Unix milliseconds); the canonical
//! request is the method, the path with its query, those headers as `name:value` joined by
//! `;`, and the body, joined by newlines. `x-contentful-signature` is its hex HMAC-SHA256
//! keyed with the space's webhook signing secret, which Contentful requires to be 64
//! characters of `[0-9a-zA-Z+/=_-]`. Contentful's own verifier rejects requests signed more
//! than 30 seconds ago.

use std::time::{Duration, SystemTime};

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// How long a signed request stays valid, as Contentful's verifier defaults to.
pub(crate) const TOLERANCE: Duration = Duration::from_secs(30);

const TIMESTAMP: &str = "x-contentful-timestamp";

/// Checks the secret's documented shape.
pub(crate) fn validate_secret(secret: &str) -> Result<(), WebhookError> {
    let ok = secret.len() == 64
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(WebhookError::invalid_secret(
            "a Contentful signing secret is 64 characters of 0-9, a-z, A-Z, +, /, =, _ or -",
        ))
    }
}

/// The path and query of `url` (everything after the authority, without a fragment).
fn path_and_query(url: &str) -> &str {
    let url = url.split('#').next().unwrap_or(url);
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// Verifies a Contentful webhook.
pub(crate) fn verify(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
) -> Result<Verification, WebhookError> {
    let provided = util::decode_hex(util::header(req, "x-contentful-signature")?)?;
    let names = util::header(req, "x-contentful-signed-headers")?;
    let names: Vec<String> = names
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if !names.iter().any(|n| n == TIMESTAMP) {
        return Err(WebhookError::malformed(
            "x-contentful-timestamp is not among the signed headers",
        ));
    }
    let ts = util::parse_timestamp(util::header(req, TIMESTAMP)?)?;
    util::check_age_ms(i128::from(ts), now, TOLERANCE)?;
    let mut signed = Vec::with_capacity(names.len());
    for name in &names {
        let value = req
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| WebhookError::Malformed(format!("signed header {name} is missing")))?;
        signed.push(format!("{name}:{}", value.trim()));
    }
    let head = format!(
        "{}\n{}\n{}\n",
        req.method.as_str(),
        path_and_query(req.url),
        signed.join(";")
    );
    let expected = util::hmac(Alg::Sha256, key, &[head.as_bytes(), req.body])?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
