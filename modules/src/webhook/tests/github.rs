use super::*;

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &str = "Hello, World!";

fn sha256_header(secret: &str, body: &str) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body.as_bytes()))
    )
}

fn sha1_header(secret: &str, body: &str) -> String {
    format!(
        "sha1={}",
        hex::encode(hmac_sha1(secret.as_bytes(), body.as_bytes()))
    )
}

#[test]
fn github_published_vector() {
    // From GitHub's "Validating webhook deliveries" documentation.
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(sig, sha256_header(SECRET, BODY));
    let req = Req::post(BODY).header("X-Hub-Signature-256", sig);
    assert_verified(req.verify(Provider::GitHub, SECRET, now()));
}

#[test]
fn github_rejects_wrong_secret_tampered_body_and_missing_header() {
    let req = Req::post(BODY).header("X-Hub-Signature-256", &sha256_header(SECRET, BODY));
    assert_mismatch(req.verify(Provider::GitHub, "another secret", now()));
    assert_mismatch(
        req.clone()
            .body("Hello, World?")
            .verify(Provider::GitHub, SECRET, now()),
    );
    let bare = req.without("X-Hub-Signature-256");
    assert_missing(
        bare.verify(Provider::GitHub, SECRET, now()),
        "X-Hub-Signature-256",
    );
}

#[test]
fn github_legacy_sha1_only_when_sha256_is_absent() {
    let legacy = Req::post(BODY).header("X-Hub-Signature", &sha1_header(SECRET, BODY));
    assert_verified(legacy.verify(Provider::GitHub, SECRET, now()));
    // A valid legacy signature does not rescue a wrong SHA-256 one.
    let both = legacy.header("X-Hub-Signature-256", &sha256_header("wrong", BODY));
    assert_mismatch(both.verify(Provider::GitHub, SECRET, now()));
}

#[test]
fn github_rejects_malformed_signatures() {
    let wrong_prefix = Req::post(BODY).header(
        "X-Hub-Signature-256",
        &sha256_header(SECRET, BODY).replace("sha256=", "sha1="),
    );
    assert_malformed(wrong_prefix.verify(Provider::GitHub, SECRET, now()));
    let not_hex = Req::post(BODY).header("X-Hub-Signature-256", "sha256=zz");
    assert_malformed(not_hex.verify(Provider::GitHub, SECRET, now()));
}

#[test]
fn bitbucket_sha256_hub_signature() {
    let secret = "bitbucket-secret";
    let req = Req::post(BODY).header("X-Hub-Signature", &sha256_header(secret, BODY));
    assert_verified(req.verify(Provider::Bitbucket, secret, now()));
    assert_mismatch(req.verify(Provider::Bitbucket, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("tampered")
            .verify(Provider::Bitbucket, secret, now()),
    );
    let bare = req.without("X-Hub-Signature");
    assert_missing(
        bare.verify(Provider::Bitbucket, secret, now()),
        "X-Hub-Signature",
    );
}

#[test]
fn intercom_sha1_hub_signature() {
    let secret = "intercom-client-secret";
    let body = r#"{"type":"notification_event","topic":"ping"}"#;
    let req = Req::post(body).header("X-Hub-Signature", &sha1_header(secret, body));
    assert_verified(req.verify(Provider::Intercom, secret, now()));
    assert_mismatch(req.verify(Provider::Intercom, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("{}")
            .verify(Provider::Intercom, secret, now()),
    );
    let bare = req.without("X-Hub-Signature");
    assert_missing(
        bare.verify(Provider::Intercom, secret, now()),
        "X-Hub-Signature",
    );
}
