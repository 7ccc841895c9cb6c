use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::EncodePublicKey as _;

use super::*;
use crate::webhook::validate_secret;

const BODY: &str = r#"[{"email":"example@test.com","event":"processed","sg_event_id":"rbtnWrG1DVDGGGFHFyun0A==","timestamp":1700000000}]"#;

/// A fresh key pair: the signing key, and the verification key as SendGrid
/// shows it (base64 DER SubjectPublicKeyInfo).
fn key_pair() -> (SigningKey, String) {
    let signing = SigningKey::generate();
    let der = signing
        .verifying_key()
        .to_public_key_der()
        .expect("encode public key");
    (signing, b64(der.as_bytes()))
}

/// SendGrid signs `timestamp + body` with ECDSA P-256 / SHA-256 (DER, base64).
fn sendgrid_req(signing: &SigningKey, ts: u64, body: &str) -> Req {
    let signature: Signature = signing.sign(format!("{ts}{body}").as_bytes());
    Req::post(body)
        .header(
            "X-Twilio-Email-Event-Webhook-Signature",
            &b64(signature.to_der().as_bytes()),
        )
        .header("X-Twilio-Email-Event-Webhook-Timestamp", &ts.to_string())
}

#[test]
fn sendgrid_valid_signature() {
    let (signing, public) = key_pair();
    assert_eq!(validate_secret(Provider::SendGrid, &public), Ok(()));
    let req = sendgrid_req(&signing, NOW, BODY);
    assert_verified(req.verify(Provider::SendGrid, &public, now()));
}

#[test]
fn sendgrid_accepts_a_pem_public_key() {
    let (signing, public) = key_pair();
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{public}\n-----END PUBLIC KEY-----\n");
    assert_eq!(validate_secret(Provider::SendGrid, &pem), Ok(()));
    assert_verified(sendgrid_req(&signing, NOW, BODY).verify(Provider::SendGrid, &pem, now()));
}

#[test]
fn sendgrid_rejections() {
    let (signing, public) = key_pair();
    let (_, other_public) = key_pair();
    let req = sendgrid_req(&signing, NOW, BODY);
    assert_mismatch(req.verify(Provider::SendGrid, &other_public, now()));
    assert_mismatch(
        req.clone()
            .body("[]")
            .verify(Provider::SendGrid, &public, now()),
    );
    let moved = req.clone().header(
        "X-Twilio-Email-Event-Webhook-Timestamp",
        &(NOW + 1).to_string(),
    );
    assert_mismatch(moved.verify(Provider::SendGrid, &public, now()));
    assert_missing(
        req.clone()
            .without("X-Twilio-Email-Event-Webhook-Signature")
            .verify(Provider::SendGrid, &public, now()),
        "X-Twilio-Email-Event-Webhook-Signature",
    );
    assert_missing(
        req.without("X-Twilio-Email-Event-Webhook-Timestamp")
            .verify(Provider::SendGrid, &public, now()),
        "X-Twilio-Email-Event-Webhook-Timestamp",
    );
    let stale = sendgrid_req(&signing, NOW - 301, BODY);
    assert_stale(stale.verify(Provider::SendGrid, &public, now()), 300);
}

#[test]
fn sendgrid_secret_must_be_a_p256_public_key() {
    for bad in [
        "not base64!",
        "aGVsbG8=",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(matches!(
            validate_secret(Provider::SendGrid, bad),
            Err(WebhookError::InvalidSecret(_))
        ));
    }
}
