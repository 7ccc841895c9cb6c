use super::*;

const SECRET: &str = "whsec_test_5b3f1e6c0a9d4e2f";
const BODY: &str = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;

/// `t=<ts>,v1=<hex HMAC-SHA256("<ts>.<body>")>`, as Stripe documents.
fn signature(secret: &str, ts: u64, body: &str) -> String {
    hex::encode(hmac_sha256(
        secret.as_bytes(),
        format!("{ts}.{body}").as_bytes(),
    ))
}

fn stripe_req(ts: u64, secret: &str) -> Req {
    let header = format!("t={ts},v1={}", signature(secret, ts, BODY));
    Req::post(BODY).header("Stripe-Signature", &header)
}

#[test]
fn stripe_valid_signature() {
    assert_verified(stripe_req(NOW, SECRET).verify(Provider::Stripe, SECRET, now()));
    // Within the 300 s tolerance, in both directions.
    assert_verified(stripe_req(NOW - 299, SECRET).verify(Provider::Stripe, SECRET, now()));
    assert_verified(stripe_req(NOW + 299, SECRET).verify(Provider::Stripe, SECRET, now()));
}

#[test]
fn stripe_accepts_any_of_several_v1_signatures() {
    let good = signature(SECRET, NOW, BODY);
    let other = signature("whsec_old", NOW, BODY);
    let header = format!(
        "t={NOW},v1={other},v1={good},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    );
    let req = Req::post(BODY).header("Stripe-Signature", &header);
    assert_verified(req.verify(Provider::Stripe, SECRET, now()));
}

#[test]
fn stripe_rejections() {
    let req = stripe_req(NOW, SECRET);
    assert_mismatch(req.verify(Provider::Stripe, "whsec_wrong", now()));
    assert_mismatch(req.clone().body(BODY.replace("evt_1", "evt_2")).verify(
        Provider::Stripe,
        SECRET,
        now(),
    ));
    assert_missing(
        req.clone()
            .without("Stripe-Signature")
            .verify(Provider::Stripe, SECRET, now()),
        "Stripe-Signature",
    );
    assert_stale(
        stripe_req(NOW - 301, SECRET).verify(Provider::Stripe, SECRET, now()),
        300,
    );
    assert_stale(
        stripe_req(NOW + 301, SECRET).verify(Provider::Stripe, SECRET, now()),
        300,
    );
    // The timestamp is signed: moving it breaks the signature.
    let moved = format!("t={},v1={}", NOW + 1, signature(SECRET, NOW, BODY));
    let req = Req::post(BODY).header("Stripe-Signature", &moved);
    assert_mismatch(req.verify(Provider::Stripe, SECRET, now()));
    let no_v1 = Req::post(BODY).header("Stripe-Signature", &format!("t={NOW}"));
    assert_malformed(no_v1.verify(Provider::Stripe, SECRET, now()));
}

#[test]
fn calendly_signature_and_three_minute_tolerance() {
    let secret = "calendly-signing-key";
    let body = r#"{"event":"invitee.created","payload":{}}"#;
    let make = |ts: u64| {
        let header = format!("t={ts},v1={}", signature(secret, ts, body));
        Req::post(body).header("Calendly-Webhook-Signature", &header)
    };
    assert_verified(make(NOW - 170).verify(Provider::Calendly, secret, now()));
    assert_mismatch(make(NOW).verify(Provider::Calendly, "wrong", now()));
    assert_mismatch(
        make(NOW)
            .body("{}")
            .verify(Provider::Calendly, secret, now()),
    );
    assert_missing(
        make(NOW)
            .without("Calendly-Webhook-Signature")
            .verify(Provider::Calendly, secret, now()),
        "Calendly-Webhook-Signature",
    );
    assert_stale(
        make(NOW - 181).verify(Provider::Calendly, secret, now()),
        180,
    );
}
