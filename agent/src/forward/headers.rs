//! Header helpers of the HTTP forwarder: hop-by-hop headers, upgrades, the 502 it makes
//! itself, and capturing heads for the inspector.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};

use super::http::{ERR_UPSTREAM_UNREACHABLE, ERROR_CODE_HEADER};
use super::{BoxError, HttpBody};
use crate::inspect::CapturedRequest;
use crate::upstream::Upstream;

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(crate) fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

pub(crate) fn strip_hop_by_hop(headers: &mut http::HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::try_from(t.trim()).ok())
        .collect();
    for name in listed.iter().map(HeaderName::as_str).chain(HOP_BY_HOP) {
        if keep_upgrade && (name == "connection" || name == "upgrade") {
            continue;
        }
        headers.remove(name);
    }
}

pub(crate) fn unreachable_response(upstream: &Upstream, err: &BoxError) -> Response<HttpBody> {
    let mut cause = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let body = format!("sluice: failed to reach the upstream at {upstream}: {cause}\n");
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        ERROR_CODE_HEADER,
        HeaderValue::from_static(ERR_UPSTREAM_UNREACHABLE),
    );
    resp
}

pub(crate) fn proto_of(v: Version) -> String {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
    .to_string()
}

pub(crate) fn headers_of(h: &http::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub(crate) fn capture_head<B>(req: &Request<B>) -> CapturedRequest {
    CapturedRequest {
        method: req.method().as_str().to_string(),
        uri: req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string(),
        proto: proto_of(req.version()),
        headers: headers_of(req.headers()),
        body: Bytes::new(),
        body_size: 0,
        truncated: false,
    }
}
