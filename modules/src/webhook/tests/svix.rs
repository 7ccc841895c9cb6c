use super::*;

// The Svix / Standard Webhooks published test vector.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: u64 = 1_614_265_330;
const BODY: &str = r#"{"test": 2432232314}"#;
const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn headers(prefix: &str, id: &str, ts: u64, sig: &str) -> Req {
    Req::post(BODY)
        .header(&format!("{prefix}-id"), id)
        .header(&format!("{prefix}-timestamp"), &ts.to_string())
        .header(&format!("{prefix}-signature"), sig)
}

/// `v1,<base64 HMAC-SHA256(base64decode(secret after whsec_), "id.ts.body")>`.
fn sign(secret: &str, id: &str, ts: u64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("test secret");
    format!(
        "v1,{}",
        b64(&hmac_sha256(&key, format!("{id}.{ts}.{body}").as_bytes()))
    )
}

#[test]
fn published_vector_with_both_header_families() {
    assert_eq!(sign(SECRET, ID, TS, BODY), SIG);
    for prefix in ["svix", "webhook"] {
        let req = headers(prefix, ID, TS, SIG);
        assert_verified(req.verify(Provider::Svix, SECRET, at(TS + 10)));
        assert_verified(req.verify(Provider::Clerk, SECRET, at(TS + 10)));
    }
}

#[test]
fn several_signatures_and_unknown_versions() {
    let other = sign("whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=", ID, TS, BODY);
    let list = format!("v1a,ignored {other} {SIG}");
    let req = headers("svix", ID, TS, &list);
    assert_verified(req.verify(Provider::Svix, SECRET, at(TS)));
}

#[test]
fn rejections() {
    let req = headers("svix", ID, TS, SIG);
    let wrong = "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=";
    assert_mismatch(req.verify(Provider::Svix, wrong, at(TS)));
    assert_mismatch(
        req.clone()
            .body(r#"{"test": 1}"#)
            .verify(Provider::Svix, SECRET, at(TS)),
    );
    assert_mismatch(headers("svix", "msg_other", TS, SIG).verify(Provider::Svix, SECRET, at(TS)));
    assert_missing(
        Req::post(BODY).verify(Provider::Svix, SECRET, at(TS)),
        "svix-id",
    );
    let no_sig = req.clone().without("svix-signature");
    assert_missing(
        no_sig.verify(Provider::Svix, SECRET, at(TS)),
        "svix-signature",
    );
    assert_stale(req.verify(Provider::Svix, SECRET, at(TS + 301)), 300);
    assert_stale(req.verify(Provider::Svix, SECRET, at(TS - 301)), 300);
}

#[test]
fn secret_format() {
    use crate::webhook::validate_secret;
    assert_eq!(validate_secret(Provider::Svix, SECRET), Ok(()));
    // The bare base64 key (without whsec_) is accepted as well.
    assert_eq!(
        validate_secret(Provider::Svix, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        Ok(())
    );
    for bad in ["whsec_not base64!", "whsec_"] {
        assert!(matches!(
            validate_secret(Provider::Clerk, bad),
            Err(WebhookError::InvalidSecret(_))
        ));
        let result = headers("svix", ID, TS, SIG).verify(Provider::Svix, bad, at(TS));
        assert!(
            matches!(result, Err(WebhookError::InvalidSecret(_))),
            "{result:?}"
        );
    }
}
