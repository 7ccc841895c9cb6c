use super::*;

const SECRET: &str = "hubspot-client-secret";
const BODY: &str = r#"[{"eventId":1,"subscriptionType":"contact.creation","objectId":123}]"#;

/// base64 HMAC-SHA256 of `method + uri + body + timestamp`, per HubSpot's v3 docs.
fn sign(secret: &str, method: &str, uri: &str, body: &str, ts_ms: u64) -> String {
    let source = format!("{method}{uri}{body}{ts_ms}");
    b64(&hmac_sha256(secret.as_bytes(), source.as_bytes()))
}

fn hubspot_req(url: &str, signed_uri: &str, ts_ms: u64) -> Req {
    Req::post(BODY)
        .url(url)
        .header(
            "X-HubSpot-Signature-v3",
            &sign(SECRET, "POST", signed_uri, BODY, ts_ms),
        )
        .header("X-HubSpot-Request-Timestamp", &ts_ms.to_string())
}

#[test]
fn hubspot_v3_signature() {
    let url = "https://hooks.example.com/hubspot?portal=62515";
    let req = hubspot_req(url, url, NOW * 1000);
    assert_verified(req.verify(Provider::HubSpot, SECRET, now()));
    assert_mismatch(req.verify(Provider::HubSpot, "wrong", now()));
    assert_mismatch(
        req.clone()
            .body("[]")
            .verify(Provider::HubSpot, SECRET, now()),
    );
    assert_mismatch(req.clone().url("https://hooks.example.com/x").verify(
        Provider::HubSpot,
        SECRET,
        now(),
    ));
    assert_missing(
        req.clone()
            .without("X-HubSpot-Signature-v3")
            .verify(Provider::HubSpot, SECRET, now()),
        "X-HubSpot-Signature-v3",
    );
    assert_missing(
        req.without("X-HubSpot-Request-Timestamp")
            .verify(Provider::HubSpot, SECRET, now()),
        "X-HubSpot-Request-Timestamp",
    );
}

#[test]
fn hubspot_signs_uri_with_some_escapes_decoded() {
    let url = "https://hooks.example.com/hubspot?email=a%40b.test&x=%2A";
    let signed = "https://hooks.example.com/hubspot?email=a@b.test&x=*";
    let req = hubspot_req(url, signed, NOW * 1000);
    assert_verified(req.verify(Provider::HubSpot, SECRET, now()));
}

#[test]
fn hubspot_stale_timestamp() {
    let url = "https://hooks.example.com/hubspot";
    let stale = hubspot_req(url, url, (NOW - 301) * 1000);
    assert_stale(stale.verify(Provider::HubSpot, SECRET, now()), 300);
}
