use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::compress::{Algorithm, Plan, apply_headers, plan};

fn headers(pairs: &[(&http::header::HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).expect("valid value"));
    }
    map
}

fn plan_for(
    method: Method,
    accept: &[&str],
    status: u16,
    res: &[(&http::header::HeaderName, &str)],
) -> Plan {
    let req: Vec<_> = accept.iter().map(|v| (&ACCEPT_ENCODING, *v)).collect();
    let status = StatusCode::from_u16(status).expect("valid status");
    plan(
        &method,
        &headers(&req),
        status,
        &headers(res),
        &Algorithm::ALL,
    )
}

#[test]
fn plans() {
    use Plan::*;
    let gz = Compress(Algorithm::Gzip);
    assert_eq!(plan_for(Method::GET, &["gzip"], 200, &[]), gz);
    assert_eq!(
        plan_for(Method::POST, &["br"], 404, &[]),
        Compress(Algorithm::Brotli)
    );
    // Several Accept-Encoding lines are combined.
    assert_eq!(
        plan_for(Method::GET, &["gzip;q=0.2", "br;q=0.9"], 200, &[]),
        Compress(Algorithm::Brotli)
    );
    assert_eq!(plan_for(Method::GET, &[], 200, &[]), NotAcceptable);
    assert_eq!(
        plan_for(Method::GET, &["identity"], 200, &[]),
        NotAcceptable
    );
    assert_eq!(plan_for(Method::GET, &["zstd"], 200, &[]), NotAcceptable);
    assert_eq!(plan_for(Method::HEAD, &["gzip"], 200, &[]), NoBody);
    for status in [100, 101, 103, 204, 304] {
        assert_eq!(
            plan_for(Method::GET, &["gzip"], status, &[]),
            NoBody,
            "{status}"
        );
    }
    assert_eq!(
        plan_for(Method::GET, &["gzip"], 200, &[(&CONTENT_LENGTH, "0")]),
        NoBody
    );
    assert_eq!(
        plan_for(Method::GET, &["gzip"], 200, &[(&CONTENT_LENGTH, "10")]),
        gz
    );
    assert_eq!(
        plan_for(Method::GET, &["gzip"], 200, &[(&CONTENT_ENCODING, "br")]),
        AlreadyCompressed
    );
    assert_eq!(
        plan_for(
            Method::GET,
            &["gzip"],
            200,
            &[(&CONTENT_ENCODING, "identity, gzip")]
        ),
        AlreadyCompressed
    );
    assert_eq!(
        plan_for(
            Method::GET,
            &["gzip"],
            200,
            &[(&CONTENT_ENCODING, "Identity")]
        ),
        gz
    );
    assert_eq!(
        plan_for(Method::GET, &["gzip"], 200, &[(&CONTENT_ENCODING, "")]),
        gz
    );
    assert_eq!(AlreadyCompressed.reason(), "already compressed");
}

#[test]
fn non_text_header_bytes_do_not_panic() {
    let mut req = HeaderMap::new();
    req.insert(
        ACCEPT_ENCODING,
        HeaderValue::from_bytes(b"gz\xffip").unwrap(),
    );
    let mut res = HeaderMap::new();
    assert_eq!(
        plan(&Method::GET, &req, StatusCode::OK, &res, &Algorithm::ALL),
        Plan::NotAcceptable
    );
    req.append(ACCEPT_ENCODING, HeaderValue::from_static("br"));
    res.insert(CONTENT_ENCODING, HeaderValue::from_bytes(b"\xfe").unwrap());
    assert_eq!(
        plan(&Method::GET, &req, StatusCode::OK, &res, &Algorithm::ALL),
        Plan::AlreadyCompressed
    );
    res.remove(CONTENT_ENCODING);
    assert_eq!(
        plan(&Method::GET, &req, StatusCode::OK, &res, &Algorithm::ALL),
        Plan::Compress(Algorithm::Brotli)
    );
}

fn vary_after(existing: &[&str]) -> Vec<String> {
    let pairs: Vec<_> = existing.iter().map(|v| (&VARY, *v)).collect();
    let mut res = headers(&pairs);
    res.insert(CONTENT_LENGTH, HeaderValue::from_static("1234"));
    res.insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
    apply_headers(&mut res, Algorithm::Deflate);
    assert!(res.get(CONTENT_LENGTH).is_none());
    let encodings: Vec<_> = res.get_all(CONTENT_ENCODING).iter().collect();
    assert_eq!(encodings, ["deflate"]);
    res.get_all(VARY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn header_edits() {
    assert_eq!(vary_after(&[]), ["Accept-Encoding"]);
    assert_eq!(vary_after(&["Origin"]), ["Origin, Accept-Encoding"]);
    assert_eq!(
        vary_after(&["Origin", "Cookie"]),
        ["Origin, Cookie, Accept-Encoding"]
    );
    assert_eq!(
        vary_after(&["origin, accept-encoding"]),
        ["origin, accept-encoding"]
    );
    assert_eq!(
        vary_after(&["Cookie", "ACCEPT-ENCODING"]),
        ["Cookie", "ACCEPT-ENCODING"]
    );
    assert_eq!(vary_after(&["*"]), ["*"]);
    assert_eq!(vary_after(&[""]), ["Accept-Encoding"]);
    assert_eq!(vary_after(&[" , "]), ["Accept-Encoding"]);

    // Applying twice keeps a single Accept-Encoding.
    let mut res = HeaderMap::new();
    apply_headers(&mut res, Algorithm::Gzip);
    apply_headers(&mut res, Algorithm::Gzip);
    assert_eq!(res.get_all(VARY).iter().count(), 1);
    assert_eq!(res[CONTENT_ENCODING], "gzip");

    // An undecodable Vary value is kept and ours is added next to it.
    let mut res = HeaderMap::new();
    res.insert(VARY, HeaderValue::from_bytes(b"X-\xff").unwrap());
    apply_headers(&mut res, Algorithm::Compress);
    assert_eq!(res.get_all(VARY).iter().count(), 2);
    assert_eq!(res[CONTENT_ENCODING], "compress");
}
