//! Amazon SNS: the message is a JSON body signed with RSA by an AWS certificate, not with a
//! shared secret (so the action takes no `secret` for it, as ngrok's ERR_NGROK_1626 says).
//!
//! As AWS documents the check of an HTTP/S notification:
//! - `SigningCertURL` must be `https` on a host `sns.<region>.amazonaws.com` (or `.com.cn`)
//!   and name a `.pem` file; the certificate is fetched from there ([`super::sns_certs`]);
//! - the signed string is `Name\nValue\n` for, in this order, `Message`, `MessageId`,
//!   `Subject` (only when present), `Timestamp`, `TopicArn`, `Type` for a `Notification`,
//!   and `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`
//!   for a `SubscriptionConfirmation` or `UnsubscribeConfirmation`;
//! - `Signature` is the base64 RSA PKCS#1 v1.5 signature of it, with SHA-1 when
//!   `SignatureVersion` is `1` and SHA-256 when it is `2`.
//!
//! The signed `Timestamp` must be within [`TOLERANCE`] of now: SNS retries a delivery for
//! up to an hour under its longest retry policy, so a shorter window would drop retries.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::util;
use super::{WebhookError, WebhookRequest};

/// Replay tolerance on the signed `Timestamp`.
pub const TOLERANCE: Duration = Duration::from_secs(3600);

/// The hash of the RSA signature, from `SignatureVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureVersion {
    /// `1`: SHA1withRSA.
    Sha1,
    /// `2`: SHA256withRSA.
    Sha256,
}

/// The fields of an SNS message that take part in its verification.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Body {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    topic_arn: String,
    message: String,
    timestamp: String,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    subject: Option<String>,
    token: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
}

/// A parsed message, ready to be checked against its certificate.
#[derive(Debug)]
pub(crate) struct SignedMessage {
    /// The string AWS signed.
    pub string_to_sign: String,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// Which hash was used.
    pub version: SignatureVersion,
    /// Where the signing certificate is, already checked to be an SNS URL.
    pub cert_url: http::Uri,
}

/// Parses the message, checks its certificate URL and the signed timestamp.
pub(crate) fn parse(
    req: &WebhookRequest<'_>,
    now: SystemTime,
) -> Result<SignedMessage, WebhookError> {
    let body: Body = serde_json::from_slice(req.body)
        .map_err(|e| WebhookError::Malformed(format!("not an SNS message: {e}")))?;
    let version = match body.signature_version.as_str() {
        "1" => SignatureVersion::Sha1,
        "2" => SignatureVersion::Sha256,
        other => {
            return Err(WebhookError::Malformed(format!(
                "unsupported SignatureVersion {other:?}"
            )));
        }
    };
    let cert_url = cert_url(&body.signing_cert_url)?;
    util::check_age_ms(util::parse_date_time_ms(&body.timestamp)?, now, TOLERANCE)?;
    let string_to_sign = string_to_sign(&body)?;
    let signature = util::decode_base64(&body.signature)?;
    Ok(SignedMessage {
        string_to_sign,
        signature,
        version,
        cert_url,
    })
}

/// The `Name\nValue\n` string of the message's type.
fn string_to_sign(body: &Body) -> Result<String, WebhookError> {
    let required = |name: &'static str, value: &Option<String>| {
        value
            .clone()
            .ok_or_else(|| WebhookError::Malformed(format!("SNS message without {name}")))
    };
    let fields: Vec<(&str, String)> = match body.kind.as_str() {
        "Notification" => {
            let mut f = vec![
                ("Message", body.message.clone()),
                ("MessageId", body.message_id.clone()),
            ];
            if let Some(subject) = &body.subject {
                f.push(("Subject", subject.clone()));
            }
            f.extend([
                ("Timestamp", body.timestamp.clone()),
                ("TopicArn", body.topic_arn.clone()),
                ("Type", body.kind.clone()),
            ]);
            f
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => vec![
            ("Message", body.message.clone()),
            ("MessageId", body.message_id.clone()),
            (
                "SubscribeURL",
                required("SubscribeURL", &body.subscribe_url)?,
            ),
            ("Timestamp", body.timestamp.clone()),
            ("Token", required("Token", &body.token)?),
            ("TopicArn", body.topic_arn.clone()),
            ("Type", body.kind.clone()),
        ],
        other => {
            return Err(WebhookError::Malformed(format!(
                "unknown SNS message Type {other:?}"
            )));
        }
    };
    Ok(fields
        .into_iter()
        .map(|(name, value)| format!("{name}\n{value}\n"))
        .collect())
}

/// Checks that `url` is an SNS signing-certificate URL: `https`, default port, host
/// `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`), path ending in `.pem`.
pub(crate) fn cert_url(url: &str) -> Result<http::Uri, WebhookError> {
    let bad = || WebhookError::malformed("SigningCertURL is not an Amazon SNS certificate URL");
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("https") || uri.port().is_some() {
        return Err(bad());
    }
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@') {
        return Err(bad());
    }
    let host = authority.host().to_ascii_lowercase();
    let region = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        .and_then(|h| h.strip_prefix("sns."))
        .ok_or_else(bad)?;
    let region_ok = region.len() >= 3
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok || !uri.path().ends_with(".pem") {
        return Err(bad());
    }
    Ok(uri)
}

/// Verifies the message's RSA signature with the certificate (DER).
pub(crate) fn check_signature(
    message: &SignedMessage,
    cert_der: &[u8],
) -> Result<(), WebhookError> {
    let der = rustls_pki_types::CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| {
        WebhookError::Malformed(format!("the SNS signing certificate is unusable: {e}"))
    })?;
    let alg: &dyn rustls_pki_types::SignatureVerificationAlgorithm = match message.version {
        SignatureVersion::Sha1 => &RSA_PKCS1_SHA1,
        SignatureVersion::Sha256 => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    };
    cert.verify_signature(alg, message.string_to_sign.as_bytes(), &message.signature)
        .map_err(|_| WebhookError::SignatureMismatch)
}

/// SHA1withRSA, which webpki leaves out (it is for certificate chains, where SHA-1 is
/// retired) but SNS still uses for `SignatureVersion` 1; verified with `ring`'s legacy
/// algorithm, keys of 2048 to 8192 bits.
#[derive(Debug)]
struct RsaPkcs1Sha1;

static RSA_PKCS1_SHA1: RsaPkcs1Sha1 = RsaPkcs1Sha1;

impl rustls_pki_types::SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), rustls_pki_types::InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| rustls_pki_types::InvalidSignature)
    }

    fn public_key_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        rustls_pki_types::alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> rustls_pki_types::AlgorithmIdentifier {
        // sha1WithRSAEncryption (1.2.840.113549.1.1.5) with NULL parameters.
        rustls_pki_types::AlgorithmIdentifier::from_slice(&[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ])
    }
}
