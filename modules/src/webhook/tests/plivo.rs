//! Plivo signature V3, signed here as Plivo documents it: base64 HMAC-SHA256, keyed with the
//! auth token, of the URL with its query sorted, `.`, the `POST` parameters sorted by name
//! (name then value, no separators), `.`, the nonce.

use super::*;

const TOKEN: &str = "MAXXXXXXXXXXXXXXXXXX-auth-token";
const NONCE: &str = "05429567804466091622";
const FORM: &str = "To=14155551234&From=14155550000&Text=hello%20there&MessageUUID=abc";

fn sign(token: &str, message: &str) -> String {
    b64(&hmac_sha256(token.as_bytes(), message.as_bytes()))
}

fn form_request(token: &str) -> Req {
    // Sorted query: a=1&b=2; sorted params: From, MessageUUID, Text, To.
    let message = format!(
        "https://hooks.example.com/webhook?a=1&b=2.\
         From14155550000MessageUUIDabcTexthello thereTo14155551234.{NONCE}"
    );
    let mut req = Req::post(FORM)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Plivo-Signature-V3-Nonce", NONCE)
        .header("X-Plivo-Signature-V3", &sign(token, &message));
    req.url = "https://hooks.example.com/webhook?b=2&a=1".to_owned();
    req
}

#[test]
fn accepts_a_form_callback_signed_over_url_params_and_nonce() {
    assert_verified(form_request(TOKEN).verify(Provider::Plivo, TOKEN, now()));
}

#[test]
fn rejects_a_changed_parameter_another_token_or_nonce() {
    let mut flipped = form_request(TOKEN);
    flipped.body[3] ^= 0x01;
    assert_mismatch(flipped.verify(Provider::Plivo, TOKEN, now()));
    assert_mismatch(form_request("another-token").verify(Provider::Plivo, TOKEN, now()));
    let other_nonce = form_request(TOKEN)
        .without("X-Plivo-Signature-V3-Nonce")
        .header("X-Plivo-Signature-V3-Nonce", "1");
    assert_mismatch(other_nonce.verify(Provider::Plivo, TOKEN, now()));
}

#[test]
fn v2_alone_is_not_accepted_since_it_does_not_sign_the_body() {
    let url = "https://hooks.example.com/webhook";
    let v2 = Req::post(FORM)
        .header("X-Plivo-Signature-V2-Nonce", NONCE)
        .header(
            "X-Plivo-Signature-V2",
            &sign(TOKEN, &format!("{url}{NONCE}")),
        );
    assert_missing(
        v2.verify(Provider::Plivo, TOKEN, now()),
        "X-Plivo-Signature-V3",
    );
    assert_missing(
        form_request(TOKEN)
            .without("X-Plivo-Signature-V3-Nonce")
            .verify(Provider::Plivo, TOKEN, now()),
        "X-Plivo-Signature-V3-Nonce",
    );
}

#[test]
fn a_json_body_is_signed_as_sent_and_a_list_or_main_account_signature_is_enough() {
    let body = r#"{"CallUUID":"c-1","Event":"StartApp"}"#;
    let url = "https://hooks.example.com/webhook";
    let good = sign(TOKEN, &format!("{url}.{body}.{NONCE}"));
    let req = Req::post(body)
        .header("Content-Type", "application/json")
        .header("X-Plivo-Signature-V3-Nonce", NONCE)
        .header("X-Plivo-Signature-V3", &format!("{},{good}", b64(b"nope")));
    assert_verified(req.verify(Provider::Plivo, TOKEN, now()));
    let main = Req::post(body)
        .header("X-Plivo-Signature-V3-Nonce", NONCE)
        .header("X-Plivo-Signature-V3", &b64(b"subaccount-signature"))
        .header("X-Plivo-Signature-Ma-V3", &good);
    assert_verified(main.verify(Provider::Plivo, TOKEN, now()));
    assert_eq!(
        Provider::Plivo.tolerance(),
        None,
        "Plivo signs no timestamp"
    );
}

#[test]
fn a_get_signs_the_url_and_nonce_only() {
    let mut req = Req::post("")
        .header("X-Plivo-Signature-V3-Nonce", NONCE)
        .header(
            "X-Plivo-Signature-V3",
            &sign(
                TOKEN,
                &format!("https://hooks.example.com/webhook?x=1.{NONCE}"),
            ),
        );
    req.method = Method::GET;
    req.url = "https://hooks.example.com/webhook?x=1".to_owned();
    assert_verified(req.verify(Provider::Plivo, TOKEN, now()));
}
