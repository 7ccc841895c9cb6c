use http::{HeaderMap, HeaderValue, Method};

use crate::jwt::{JwtError, extract_from_body, extract_from_header};

const JSON: Option<&str> = Some("application/json; charset=utf-8");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).expect("header value"));
    }
    map
}

fn code<T: std::fmt::Debug>(result: Result<T, JwtError>) -> u16 {
    result.expect_err("expected an error").code()
}

#[test]
fn header_extraction() {
    let map = headers(&[("authorization", "Bearer abc.def.ghi")]);
    let token = extract_from_header(&map, "Authorization", Some("Bearer "));
    assert_eq!(token.as_deref(), Ok("abc.def.ghi"));
    let lower = headers(&[("authorization", "bearer   abc.def.ghi")]);
    assert_eq!(
        extract_from_header(&lower, "AUTHORIZATION", Some("Bearer ")).as_deref(),
        Ok("abc.def.ghi")
    );
    let custom = headers(&[("x-token", "abc.def.ghi")]);
    assert_eq!(
        extract_from_header(&custom, "X-Token", None).as_deref(),
        Ok("abc.def.ghi")
    );

    assert_eq!(code(extract_from_header(&map, "X-Missing", None)), 3408);
    assert_eq!(
        code(extract_from_header(&map, "bad header name", None)),
        3408
    );
    assert_eq!(
        code(extract_from_header(&custom, "X-Token", Some("Bearer "))),
        3413
    );
    let basic = headers(&[("authorization", "Basic dXNlcjpwdw==")]);
    assert_eq!(
        code(extract_from_header(
            &basic,
            "Authorization",
            Some("Bearer ")
        )),
        3413
    );
    let empty = headers(&[("authorization", "Bearer ")]);
    assert_eq!(
        code(extract_from_header(
            &empty,
            "Authorization",
            Some("Bearer ")
        )),
        3406
    );

    let mut binary = HeaderMap::new();
    binary.insert(
        "x-token",
        HeaderValue::from_bytes(b"tok\xffen").expect("opaque value"),
    );
    assert_eq!(code(extract_from_header(&binary, "x-token", None)), 3414);
}

#[test]
fn body_extraction_json_and_form() {
    let json = br#"{"access_token": "Bearer abc.def.ghi", "n": 5}"#;
    let token = extract_from_body(&Method::POST, JSON, json, "access_token", Some("Bearer "));
    assert_eq!(token.as_deref(), Ok("abc.def.ghi"));
    let form = b"grant=x&access_token=abc.def.ghi%2B&other=1";
    let token = extract_from_body(&Method::PUT, FORM, form, "access_token", None);
    assert_eq!(token.as_deref(), Ok("abc.def.ghi+"));
    let spaced = b"access%5Ftoken=Bearer+abc.def.ghi";
    let token = extract_from_body(
        &Method::PATCH,
        FORM,
        spaced,
        "access_token",
        Some("Bearer "),
    );
    assert_eq!(token.as_deref(), Ok("abc.def.ghi"));

    assert_eq!(
        code(extract_from_body(
            &Method::POST,
            JSON,
            json,
            "missing",
            None
        )),
        3406
    );
    assert_eq!(
        code(extract_from_body(
            &Method::POST,
            FORM,
            form,
            "missing",
            None
        )),
        3406
    );
    assert_eq!(
        code(extract_from_body(&Method::POST, JSON, json, "n", None)),
        3414
    );
    assert_eq!(
        code(extract_from_body(
            &Method::POST,
            JSON,
            json,
            "access_token",
            Some("Token ")
        )),
        3413
    );
}

#[test]
fn body_parse_failures() {
    assert_eq!(
        code(extract_from_body(
            &Method::POST,
            JSON,
            b"{not json",
            "t",
            None
        )),
        3411
    );
    assert_eq!(
        code(extract_from_body(
            &Method::POST,
            JSON,
            b"[\"t\"]",
            "t",
            None
        )),
        3411
    );
    assert_eq!(
        code(extract_from_body(&Method::POST, FORM, b"t=%zz", "t", None)),
        3412
    );
    assert_eq!(
        code(extract_from_body(&Method::POST, FORM, b"t=%4", "t", None)),
        3412
    );
    assert_eq!(
        code(extract_from_body(&Method::POST, FORM, b"t=\xff", "t", None)),
        3412
    );
    assert_eq!(
        code(extract_from_body(
            &Method::POST,
            FORM,
            b"t=%C3%28",
            "t",
            None
        )),
        3412
    );
}

#[test]
fn body_requires_suitable_method_and_content_type() {
    let json = br#"{"t": "abc"}"#;
    for method in [Method::GET, Method::HEAD, Method::DELETE, Method::OPTIONS] {
        let err = extract_from_body(&method, JSON, json, "t", None).expect_err("method");
        assert_eq!((err.code(), err.status().as_u16()), (3415, 401));
    }
    assert_eq!(
        code(extract_from_body(
            &Method::POST,
            Some("text/plain"),
            json,
            "t",
            None
        )),
        3415
    );
    assert_eq!(
        code(extract_from_body(&Method::POST, None, json, "t", None)),
        3415
    );
    let upper = Some("Application/JSON");
    assert_eq!(
        extract_from_body(&Method::POST, upper, json, "t", None).as_deref(),
        Ok("abc")
    );
}
