//! `req.*`: built per request, only the fields the policy reads.

use http::header;

use super::build::{BoxVal, boolean, grouped, int, map, s, timestamp};
use super::headers::{EntityFields, entity_fields, headers, text};
use super::url::{RequestUrl, url_decode_pairs};
use super::user_agent;
use crate::cel::FieldSet;
use crate::exchange::{EndpointInfo, Exchange};

// Indexes into `cel::needs::REQ_FIELDS`.
const METHOD: usize = 0;
const URL: usize = 1;
const URL_FIELDS: usize = 2;
const HOST: usize = 3;
const HEADERS: usize = 4;
const COOKIES: usize = 5;
const CONTENT_TYPE: usize = 6;
const CONTENT_TYPE_FIELDS: usize = 7;
const CONTENT_ENCODING: usize = 8;
const CONTENT_LENGTH: usize = 9;
const LOCATION: usize = 10;
const USER_AGENT: usize = 11;
const USER_AGENT_FIELDS: usize = 12;
const VERSION: usize = 13;
const TRAILERS: usize = 14;
const TS: usize = 15;

fn url_fields(url: &RequestUrl, full: &str) -> BoxVal {
    let mut fields = vec![
        ("scheme", s(url.scheme.clone())),
        ("host", s(url.host.clone())),
        ("authority", s(url.authority_with_userinfo())),
        ("path", s(url.path.clone())),
        ("raw_path", s(url.path.clone())),
        ("query", s(url.query.clone())),
        (
            "query_params",
            grouped(
                url_decode_pairs(&url.query)
                    .into_iter()
                    .map(|(k, v)| (k, s(v))),
            ),
        ),
        ("raw", s(full)),
        ("uri", s(url.uri())),
        ("user_password", s(url.userinfo.clone())),
    ];
    if let Some(p) = url.port {
        fields.push(("port", int(i64::from(p))));
    }
    map(fields)
}

/// Request cookies: name → list of `{name, value}`.
fn cookies(h: &http::HeaderMap) -> BoxVal {
    let mut pairs = Vec::new();
    for header in h.get_all(header::COOKIE) {
        for pair in String::from_utf8_lossy(header.as_bytes()).split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            pairs.push((
                name.to_string(),
                map(vec![("name", s(name)), ("value", s(value))]),
            ));
        }
    }
    grouped(pairs)
}

/// `req.user_agent.*` from the header (see [`super::user_agent`]).
fn user_agent_fields(header: &str) -> BoxVal {
    let ua = user_agent::parse(header);
    map(vec![
        ("name", s(ua.name)),
        ("version", s(ua.version)),
        ("os", s(ua.os)),
        ("os_version", s(ua.os_version)),
        ("device", s(ua.device)),
        ("url", s(ua.url)),
        ("is_mobile", boolean(ua.is_mobile)),
        ("is_tablet", boolean(ua.is_tablet)),
        ("is_desktop", boolean(ua.is_desktop)),
        ("is_bot", boolean(ua.is_bot)),
    ])
}

/// Builds `req.*` of `ex`'s request (and trailers) with the fields in `need`.
pub(crate) fn request_val(
    ex: &Exchange,
    endpoint: &EndpointInfo,
    need: FieldSet,
    received: std::time::SystemTime,
) -> BoxVal {
    let req = &ex.request;
    let h = &req.headers;
    let mut f: Vec<(&'static str, BoxVal)> = Vec::with_capacity(8);
    if need.has(METHOD) {
        f.push(("method", s(req.method.as_str())));
    }
    if need.has(URL) || need.has(URL_FIELDS) || need.has(HOST) {
        let url = RequestUrl::of(req, endpoint);
        let full = url.full_with_userinfo();
        if need.has(URL_FIELDS) {
            f.push(("__url", url_fields(&url, &full)));
        }
        if need.has(URL) {
            f.push(("url", s(full)));
        }
        if need.has(HOST) {
            f.push(("host", s(url.authority())));
        }
    }
    if need.has(HEADERS) {
        f.push(("headers", headers(h)));
    }
    if need.has(COOKIES) {
        f.push(("cookies", cookies(h)));
    }
    entity_fields(
        &mut f,
        h,
        need,
        EntityFields {
            content_type: CONTENT_TYPE,
            content_type_fields: CONTENT_TYPE_FIELDS,
            content_encoding: CONTENT_ENCODING,
            content_length: CONTENT_LENGTH,
            location: LOCATION,
        },
    );
    if need.has(USER_AGENT) || need.has(USER_AGENT_FIELDS) {
        let ua = text(h, header::USER_AGENT);
        f.push(("__user_agent", user_agent_fields(&ua)));
        f.push(("user_agent", s(ua)));
    }
    if need.has(VERSION) {
        f.push(("version", s(format!("{:?}", req.version))));
    }
    if need.has(TRAILERS) {
        f.push(("trailers", headers(&ex.request_trailers)));
    }
    if need.has(TS) {
        f.push((
            "ts",
            map(vec![
                ("header_received", timestamp(received)),
                ("body_received", timestamp(received)),
            ]),
        ));
    }
    map(f)
}
