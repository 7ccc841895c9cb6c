use super::*;

// Published vector of Twilio's helper libraries (twilio-python, twilio-php, ...).
const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const FORM: &str = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
const FORM_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
const BODY_SHA256: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const JSON_SIG: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

fn form_req(url: &str, body: &str, sig: &str) -> Req {
    Req::post(body)
        .url(url)
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("X-Twilio-Signature", sig)
}

/// Twilio's recipe: URL + each (key, value) sorted by key, base64 HMAC-SHA1.
fn sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    b64(&hmac_sha1(token.as_bytes(), data.as_bytes()))
}

#[test]
fn twilio_form_published_vector() {
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];
    assert_eq!(sign(TOKEN, URL, &params), FORM_SIG);
    assert_verified(form_req(URL, FORM, FORM_SIG).verify(Provider::Twilio, TOKEN, now()));
    // Twilio may sign the URL with or without the default port.
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert_verified(form_req(with_port, FORM, FORM_SIG).verify(Provider::Twilio, TOKEN, now()));
}

#[test]
fn twilio_repeated_parameters_published_vector() {
    let body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
    let req = form_req(URL, body, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    assert_verified(req.verify(Provider::Twilio, TOKEN, now()));
}

#[test]
fn twilio_json_body_published_vector() {
    let url = format!("{URL}&bodySHA256={BODY_SHA256}");
    let req = Req::post(JSON_BODY)
        .url(&url)
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", JSON_SIG);
    assert_verified(req.verify(Provider::Twilio, TOKEN, now()));
    // The body is bound through bodySHA256.
    let tampered = req.clone().body(r#"{"property": "evil", "boolean": true}"#);
    assert_mismatch(tampered.verify(Provider::Twilio, TOKEN, now()));
    assert_mismatch(req.verify(Provider::Twilio, "54321", now()));
}

#[test]
fn twilio_rejections() {
    let token = "auth-token-abc";
    let url = "https://hooks.example.com/sms";
    let sig = sign(
        token,
        url,
        &[("Body", "hello world"), ("From", "+15005550006")],
    );
    let req = form_req(url, "From=%2B15005550006&Body=hello+world", &sig);
    assert_verified(req.verify(Provider::Twilio, token, now()));
    assert_mismatch(req.verify(Provider::Twilio, "other-token", now()));
    let tampered = req.clone().body("From=%2B15005550006&Body=goodbye");
    assert_mismatch(tampered.verify(Provider::Twilio, token, now()));
    assert_mismatch(req.clone().url("https://evil.example.com/sms").verify(
        Provider::Twilio,
        token,
        now(),
    ));
    let bare = req.clone().without("X-Twilio-Signature");
    assert_missing(
        bare.verify(Provider::Twilio, token, now()),
        "X-Twilio-Signature",
    );
    // A body the signature cannot cover is refused outright.
    let json = req.header("Content-Type", "application/json").body("{}");
    assert_malformed(json.verify(Provider::Twilio, token, now()));
}

#[test]
fn twilio_get_callback_signs_the_url() {
    let token = "auth-token-abc";
    let url = "https://hooks.example.com/status?CallSid=CA1&CallStatus=completed";
    let req = Req::get(url).header("X-Twilio-Signature", &sign(token, url, &[]));
    assert_verified(req.verify(Provider::Twilio, token, now()));
    let other = req.url("https://hooks.example.com/status?CallSid=CA2&CallStatus=completed");
    assert_mismatch(other.verify(Provider::Twilio, token, now()));
}
