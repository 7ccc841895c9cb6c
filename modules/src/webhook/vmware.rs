//! VMware Workspace ONE UEM event notifications: the console sends the username and password
//! entered on the notification (Edit Event Notification) as HTTP Basic authentication, and
//! ngrok's guide configures the secret as `"{username}::{password}"`. Nothing is signed, so
//! verification compares the credentials in constant time.

use super::util;
use super::{Verification, WebhookError, WebhookRequest};

const AUTHORIZATION: &str = "Authorization";

/// The `username:password` text of the secret `username::password`, as Basic authentication
/// carries it. The username must be non-empty and free of `:` (RFC 7617); the password may
/// hold anything, `::` included.
pub(crate) fn credentials(secret: &str) -> Result<String, WebhookError> {
    let (username, password) = secret.split_once("::").ok_or_else(|| {
        WebhookError::invalid_secret(
            "the secret must be `username::password`, the credentials set on the event notification",
        )
    })?;
    if username.is_empty() || username.contains(':') {
        return Err(WebhookError::invalid_secret(
            "the username before `::` must be non-empty and must not contain `:`",
        ));
    }
    if password.is_empty() {
        return Err(WebhookError::invalid_secret(
            "the password after `::` must not be empty",
        ));
    }
    Ok(format!("{username}:{password}"))
}

/// Checks `Authorization: Basic <base64(username:password)>` against the secret.
pub(crate) fn verify(secret: &str, req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    let expected = credentials(secret)?;
    let value = util::header(req, AUTHORIZATION)?;
    let (scheme, encoded) = value
        .split_once(' ')
        .ok_or_else(|| WebhookError::malformed("Authorization is not Basic credentials"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(WebhookError::malformed(
            "Authorization is not Basic credentials",
        ));
    }
    let presented = util::decode_base64(encoded)
        .map_err(|_| WebhookError::malformed("Basic credentials are not valid base64"))?;
    // Hashed first so that the comparison time reveals neither content nor length.
    if util::ct_eq(
        &util::sha256(&presented),
        &util::sha256(expected.as_bytes()),
    ) {
        Ok(Verification::Verified)
    } else {
        Err(WebhookError::SignatureMismatch)
    }
}
