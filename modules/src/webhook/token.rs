//! Providers whose header carries the configured secret itself, so verification is a
//! constant-time comparison with the secret and nothing is signed:
//!
//! - GitLab: `X-Gitlab-Token`.
//! - Orbit (orbit.love): `X-Orbit-Signature` holds the webhook secret entered in Orbit's
//!   webhook settings (described as a secret-key check, "very much like a password", by the
//!   webhook guide of RedwoodJS, which verifies Orbit webhooks this way).

use super::util;
use super::{Verification, WebhookError, WebhookRequest};

/// GitLab's token header.
pub(crate) const GITLAB: &str = "X-Gitlab-Token";

/// Orbit's secret header.
pub(crate) const ORBIT: &str = "X-Orbit-Signature";

/// Compares the header `name` with the secret. Both sides are hashed first so that the
/// comparison time reveals neither content nor length of the secret.
pub(crate) fn verify(
    name: &'static str,
    key: &[u8],
    req: &WebhookRequest<'_>,
) -> Result<Verification, WebhookError> {
    let token = req
        .headers
        .get(name)
        .ok_or(WebhookError::MissingHeader(name))?;
    if util::ct_eq(&util::sha256(token.as_bytes()), &util::sha256(key)) {
        Ok(Verification::Verified)
    } else {
        Err(WebhookError::SignatureMismatch)
    }
}
