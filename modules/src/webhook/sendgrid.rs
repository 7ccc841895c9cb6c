//! SendGrid's signed Event Webhook: an ECDSA P-256 / SHA-256 signature over
//! `timestamp + body`, sent base64 (DER) in
//! `X-Twilio-Email-Event-Webhook-Signature`, with the timestamp in
//! `X-Twilio-Email-Event-Webhook-Timestamp`. The configured secret is the
//! verification key SendGrid shows: a base64 DER SubjectPublicKeyInfo (a PEM
//! block is accepted too). SendGrid documents no tolerance; the default applies.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;

use super::util;
use super::{Verification, WebhookError, WebhookRequest};

const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// Parses the configured verification key.
pub(crate) fn public_key(secret: &str) -> Result<VerifyingKey, WebhookError> {
    let base64_text: String = secret
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.split_ascii_whitespace())
        .collect();
    let der = BASE64
        .decode(base64_text)
        .map_err(|_| WebhookError::invalid_secret("the verification key is not base64"))?;
    VerifyingKey::from_public_key_der(&der).map_err(|_| {
        WebhookError::invalid_secret("the verification key is not an ECDSA P-256 public key")
    })
}

/// Verifies the ECDSA signature, then the timestamp.
pub(crate) fn verify(
    secret: &str,
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    let key = public_key(secret)?;
    let signature = util::decode_base64(util::header(req, SIGNATURE)?)?;
    let timestamp = util::header(req, TIMESTAMP)?;
    let seconds = util::parse_timestamp(timestamp)?;
    let signature = Signature::from_der(&signature)
        .map_err(|_| WebhookError::malformed("signature is not a DER ECDSA signature"))?;
    let mut message = Vec::with_capacity(timestamp.len() + req.body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(req.body);
    key.verify(&message, &signature)
        .map_err(|_| WebhookError::SignatureMismatch)?;
    util::check_age_secs(seconds, now, tolerance)?;
    Ok(Verification::Verified)
}
