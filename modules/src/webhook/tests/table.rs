//! One test per provider of the HMAC table (and Mailgun, Mailchimp): each request is signed
//! here as the provider's documentation describes, with the `hmac`/`sha*` crates directly,
//! then checked for accept, reject on a flipped body byte, reject with another secret,
//! reject without the signature header, and (for providers that sign a timestamp) reject
//! when stale.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat};

use super::*;
use crate::webhook::validate_secret;

pub(super) const BODY: &str = r#"{"event":"order.created","id":"evt_123","amount":4200}"#;

fn hmac_sha512(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

pub(super) fn hex(data: &[u8]) -> String {
    hex::encode(data)
}

pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(super) fn provider(id: &str) -> Provider {
    id.parse().unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Signs `BODY` at Unix time `ts` with `secret` the way the provider documents.
pub(super) type Sign = dyn Fn(Req, &str, u64) -> Req;

/// The checks every provider gets. `header` is the signature header; `tolerance` the replay
/// window in seconds when the provider signs a timestamp.
#[track_caller]
pub(super) fn check(id: &str, secret: &str, header: &str, tolerance: Option<u64>, sign: &Sign) {
    let p = provider(id);
    assert_eq!(p.id(), id);
    validate_secret(p, secret).unwrap_or_else(|e| panic!("{id}: {e}"));
    let signed = sign(Req::post(BODY), secret, NOW);
    assert_verified(signed.verify(p, secret, now()));
    // A flipped byte in the body.
    let mut flipped = signed.clone();
    flipped.body[10] ^= 0x01;
    assert_mismatch(flipped.verify(p, secret, now()));
    // Another secret.
    let other = sign(Req::post(BODY), &format!("{secret}x"), NOW);
    assert_mismatch(other.verify(p, secret, now()));
    // No signature.
    assert_missing(
        signed.clone().without(header).verify(p, secret, now()),
        header,
    );
    match tolerance {
        Some(t) => {
            assert_eq!(p.tolerance(), Some(Duration::from_secs(t)), "{id}");
            let stale = sign(Req::post(BODY), secret, NOW - t - 5);
            assert_stale(stale.verify(p, secret, now()), t);
            let future = sign(Req::post(BODY), secret, NOW + t + 5);
            assert_stale(future.verify(p, secret, now()), t);
            let recent = sign(Req::post(BODY), secret, NOW - t + 5);
            assert_verified(recent.verify(p, secret, now()));
        }
        None => assert_eq!(p.tolerance(), None, "{id} signs no timestamp"),
    }
}

/// A row whose signature is `prefix` + the encoded HMAC of the body in `header`.
#[track_caller]
fn body_hmac(
    id: &str,
    header: &'static str,
    prefix: &'static str,
    mac: fn(&[u8], &[u8]) -> String,
) {
    check(
        id,
        "provider-signing-secret",
        header,
        None,
        &move |req, secret, _| {
            let sig = format!("{prefix}{}", mac(secret.as_bytes(), BODY.as_bytes()));
            req.header(header, &sig)
        },
    );
}

pub(super) fn hex256(k: &[u8], m: &[u8]) -> String {
    hex(&hmac_sha256(k, m))
}
pub(super) fn b64_256(k: &[u8], m: &[u8]) -> String {
    b64(&hmac_sha256(k, m))
}
fn hex1(k: &[u8], m: &[u8]) -> String {
    hex(&hmac_sha1(k, m))
}
fn b64_1(k: &[u8], m: &[u8]) -> String {
    b64(&hmac_sha1(k, m))
}

fn rfc3339(ts: u64) -> String {
    let secs = i64::try_from(ts).expect("test time fits");
    DateTime::from_timestamp(secs, 0)
        .expect("valid time")
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[test]
fn aftership() {
    body_hmac("aftership", "aftership-hmac-sha256", "", b64_256);
}

#[test]
fn alchemy() {
    body_hmac("alchemy", "X-Alchemy-Signature", "", hex256);
}

#[test]
fn autodesk() {
    body_hmac("autodesk", "x-adsk-signature", "sha1hash=", hex1);
}

#[test]
fn bolt() {
    body_hmac("bolt", "X-Bolt-Hmac-Sha256", "", b64_256);
}

#[test]
fn box_primary_or_secondary_key_over_body_then_timestamp() {
    let sign = |req: Req, secret: &str, ts: u64| {
        let ts = rfc3339(ts);
        let msg = cat(&[BODY.as_bytes(), ts.as_bytes()]);
        req.header("box-delivery-timestamp", &ts).header(
            "box-signature-primary",
            &b64(&hmac_sha256(secret.as_bytes(), &msg)),
        )
    };
    check(
        "box",
        "box-primary-key",
        "box-signature-primary",
        Some(600),
        &sign,
    );
    // The configured key may be the secondary one.
    let ts = rfc3339(NOW);
    let msg = cat(&[BODY.as_bytes(), ts.as_bytes()]);
    let req = Req::post(BODY)
        .header("box-delivery-timestamp", &ts)
        .header(
            "box-signature-primary",
            &b64(&hmac_sha256(b"box-primary-key", &msg)),
        )
        .header(
            "box-signature-secondary",
            &b64(&hmac_sha256(b"the-other-key", &msg)),
        );
    assert_verified(req.verify(provider("box"), "the-other-key", now()));
    assert_verified(req.verify(provider("box"), "box-primary-key", now()));
}

#[test]
fn buildkite() {
    check(
        "buildkite",
        "bk-token",
        "X-Buildkite-Signature",
        Some(300),
        &|req, secret, ts| {
            let msg = format!("{ts}.{BODY}");
            let sig = hex256(secret.as_bytes(), msg.as_bytes());
            req.header(
                "X-Buildkite-Signature",
                &format!("timestamp={ts},signature={sig}"),
            )
        },
    );
}

#[test]
fn castle() {
    body_hmac("castle", "X-Castle-Signature", "", b64_256);
}

#[test]
fn chargify() {
    body_hmac(
        "chargify",
        "X-Chargify-Webhook-Signature-Hmac-Sha-256",
        "",
        hex256,
    );
}

#[test]
fn circleci() {
    body_hmac("circleci", "circleci-signature", "v1=", hex256);
    // Several versions in one header: the v1 one counts.
    let secret = "cci-secret";
    let sig = hex256(secret.as_bytes(), BODY.as_bytes());
    let req = Req::post(BODY).header("circleci-signature", &format!("v0=abcd,v1={sig}"));
    assert_verified(req.verify(provider("circleci"), secret, now()));
}

#[test]
fn clearbit() {
    body_hmac("clearbit", "X-Request-Signature", "sha1=", hex1);
}

#[test]
fn coinbase_commerce() {
    body_hmac("coinbase", "X-CC-Webhook-Signature", "", hex256);
}

#[test]
fn docusign_any_of_the_numbered_signatures() {
    body_hmac("docusign", "X-DocuSign-Signature-1", "", b64_256);
    let secret = "docusign-hmac-key";
    let req = Req::post(BODY)
        .header(
            "X-DocuSign-Signature-1",
            &b64_256(b"an-older-key", BODY.as_bytes()),
        )
        .header(
            "X-DocuSign-Signature-2",
            &b64_256(secret.as_bytes(), BODY.as_bytes()),
        );
    assert_verified(req.verify(provider("docusign"), secret, now()));
}

#[test]
fn dropbox_and_its_challenge() {
    body_hmac("dropbox", "X-Dropbox-Signature", "", hex256);
    let req = Req::get("https://hooks.example.com/webhook?challenge=abc%20123");
    let response = expect_challenge(req.verify(provider("dropbox"), "app-secret", now()));
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(response.body().as_ref(), b"abc 123");
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[test]
fn meta_platforms_sign_with_the_app_secret() {
    for id in [
        "facebook_graph_api",
        "facebook_messenger",
        "instagram",
        "whatsapp",
    ] {
        body_hmac(id, "X-Hub-Signature-256", "sha256=", hex256);
    }
}

#[test]
fn frameio() {
    check(
        "frameio",
        "frameio-secret",
        "X-Frameio-Signature",
        Some(300),
        &|req, secret, ts| {
            let msg = format!("v0:{ts}:{BODY}");
            req.header("X-Frameio-Request-Timestamp", &ts.to_string())
                .header(
                    "X-Frameio-Signature",
                    &format!("v0={}", hex256(secret.as_bytes(), msg.as_bytes())),
                )
        },
    );
}

#[test]
fn heroku() {
    body_hmac("heroku", "Heroku-Webhook-Hmac-SHA256", "", b64_256);
}

#[test]
fn jira() {
    body_hmac("jira", "X-Hub-Signature", "sha256=", hex256);
}

#[test]
fn launch_darkly() {
    body_hmac("launch_darkly", "X-LD-Signature", "", hex256);
}

#[test]
fn microsoft_teams_keys_with_the_decoded_security_token() {
    let token = b64(b"teams-outgoing-webhook-security-token");
    check(
        "microsoft_teams",
        &token,
        "Authorization",
        None,
        &|req, secret, _| {
            let key = STANDARD
                .decode(secret)
                .unwrap_or_else(|_| secret.as_bytes().to_vec());
            req.header(
                "Authorization",
                &format!("HMAC {}", b64_256(&key, BODY.as_bytes())),
            )
        },
    );
    assert!(matches!(
        validate_secret(provider("microsoft_teams"), "not base64!"),
        Err(WebhookError::InvalidSecret(_))
    ));
}

#[test]
fn modern_treasury() {
    body_hmac("modern_treasury", "X-Signature", "", hex256);
}

#[test]
fn mongodb() {
    body_hmac("mongodb", "X-MMS-Signature", "", b64_1);
}

#[test]
fn mux() {
    check(
        "mux",
        "mux-signing-secret",
        "Mux-Signature",
        Some(300),
        &|req, secret, ts| {
            let sig = hex256(secret.as_bytes(), format!("{ts}.{BODY}").as_bytes());
            req.header("Mux-Signature", &format!("t={ts},v1={sig}"))
        },
    );
}

#[test]
fn orb_with_an_iso_8601_timestamp() {
    check(
        "orb",
        "orb-webhook-secret",
        "X-Orb-Signature",
        Some(300),
        &|req, secret, ts| {
            let secs = i64::try_from(ts).expect("test time fits");
            let iso = DateTime::from_timestamp(secs, 0)
                .expect("valid time")
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string();
            let sig = hex256(secret.as_bytes(), format!("v1:{iso}:{BODY}").as_bytes());
            req.header("X-Orb-Timestamp", &iso)
                .header("X-Orb-Signature", &format!("v1={sig}"))
        },
    );
}

#[test]
fn pinwheel() {
    check(
        "pinwheel",
        "pinwheel-secret",
        "X-Pinwheel-Signature",
        Some(300),
        &|req, secret, ts| {
            let sig = hex256(secret.as_bytes(), format!("v2:{ts}:{BODY}").as_bytes());
            req.header("X-Timestamp", &ts.to_string())
                .header("X-Pinwheel-Signature", &format!("v2={sig}"))
        },
    );
}

#[test]
fn pusher() {
    body_hmac("pusher", "X-Pusher-Signature", "", hex256);
}

#[test]
fn sonatype() {
    body_hmac("sonatype", "X-Nexus-Webhook-Signature", "", hex1);
}

#[test]
fn terraform_uses_sha512() {
    body_hmac("terraform", "X-TFE-Notification-Signature", "", |k, m| {
        hex(&hmac_sha512(k, m))
    });
}

#[test]
fn tiktok() {
    check(
        "tiktok",
        "tiktok-client-secret",
        "TikTok-Signature",
        Some(300),
        &|req, secret, ts| {
            let sig = hex256(secret.as_bytes(), format!("{ts}.{BODY}").as_bytes());
            req.header("TikTok-Signature", &format!("t={ts},s={sig}"))
        },
    );
}

#[test]
fn webex() {
    body_hmac("webex", "X-Spark-Signature", "", hex1);
}

#[test]
fn zendesk_signs_timestamp_then_body() {
    check(
        "zendesk",
        "zendesk-signing-secret",
        "X-Zendesk-Webhook-Signature",
        Some(300),
        &|req, secret, ts| {
            let ts = rfc3339(ts);
            let msg = cat(&[ts.as_bytes(), BODY.as_bytes()]);
            req.header("X-Zendesk-Webhook-Signature-Timestamp", &ts)
                .header(
                    "X-Zendesk-Webhook-Signature",
                    &b64(&hmac_sha256(secret.as_bytes(), &msg)),
                )
        },
    );
}
