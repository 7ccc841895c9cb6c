//! Tests of the HMAC-table rows for Airship, Go1 and Trend Micro Conformity (split from
//! `table.rs` to keep files short); each signs as the provider's documentation describes.

use super::table::{BODY, b64_256, check, hex256};
use super::*;

#[test]
fn airship_signs_timestamp_colon_body() {
    check(
        "airship",
        "airship-signature-secret",
        "X-UA-Signature",
        Some(300),
        &|req, secret, ts| {
            let msg = format!("{ts}:{BODY}");
            req.header("X-UA-Timestamp", &ts.to_string())
                .header("X-UA-Signature", &hex256(secret.as_bytes(), msg.as_bytes()))
        },
    );
}

#[test]
fn airship_validate_get_signs_an_empty_body() {
    let secret = "airship-signature-secret";
    let msg = format!("{NOW}:");
    let mut req = Req::post("")
        .header("X-UA-Timestamp", &NOW.to_string())
        .header("X-UA-Signature", &hex256(secret.as_bytes(), msg.as_bytes()));
    req.method = Method::GET;
    assert_verified(req.verify(super::table::provider("airship"), secret, now()));
}

#[test]
fn go1_signs_t_dot_body() {
    check(
        "go1",
        "go1-shared-secret",
        "go1-signature",
        Some(300),
        &|req, secret, ts| {
            let sig = hex256(secret.as_bytes(), format!("{ts}.{BODY}").as_bytes());
            req.header("go1-signature", &format!("t={ts},v1={sig}"))
        },
    );
}

#[test]
fn trendmicro_conformity_signs_the_body() {
    check(
        "trendmicro_conformity",
        "Y29uZm9ybWl0eS10b2tlbg==",
        "X-TrendMicro-Signature",
        None,
        &|req, secret, _| {
            req.header(
                "X-TrendMicro-Signature",
                &hex256(secret.as_bytes(), BODY.as_bytes()),
            )
        },
    );
    // Base64 is only the token's alphabet: a hex HMAC in base64 is not accepted.
    let p = super::table::provider("trendmicro_conformity");
    let wrong = Req::post(BODY).header(
        "X-TrendMicro-Signature",
        &b64_256(b"Y29uZm9ybWl0eS10b2tlbg==", BODY.as_bytes()),
    );
    assert!(wrong.verify(p, "Y29uZm9ybWl0eS10b2tlbg==", now()).is_err());
}
