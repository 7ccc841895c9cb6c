//! GitLab: the `X-Gitlab-Token` header carries the configured secret token
//! itself, so verification is a constant-time comparison with the secret.

use super::util;
use super::{Verification, WebhookError, WebhookRequest};

const TOKEN: &str = "X-Gitlab-Token";

/// Compares `X-Gitlab-Token` with the secret. Both sides are hashed first so
/// that the comparison time reveals neither content nor length of the secret.
pub(crate) fn verify(key: &[u8], req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    let token = req
        .headers
        .get(TOKEN)
        .ok_or(WebhookError::MissingHeader(TOKEN))?;
    if util::ct_eq(&util::sha256(token.as_bytes()), &util::sha256(key)) {
        Ok(Verification::Verified)
    } else {
        Err(WebhookError::SignatureMismatch)
    }
}
