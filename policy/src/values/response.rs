//! `res.*`: built per response, only the fields the policy reads.

use http::header;

use super::build::{BoxVal, boolean, int, list, map, map_owned, s};
use super::headers::{EntityFields, entity_fields, headers};
use crate::cel::FieldSet;

// Indexes into `cel::needs::RES_FIELDS`.
const STATUS_CODE: usize = 0;
const HEADERS: usize = 1;
const COOKIES: usize = 2;
const CONTENT_TYPE: usize = 3;
const CONTENT_TYPE_FIELDS: usize = 4;
const CONTENT_ENCODING: usize = 5;
const CONTENT_LENGTH: usize = 6;
const LOCATION: usize = 7;
const TRAILERS: usize = 8;

/// One `Set-Cookie` header as a cookie map, with the length of its path for ordering.
fn set_cookie(text: &str) -> Option<(String, usize, BoxVal)> {
    let mut parts = text.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim().to_string();
    let (mut path, mut domain, mut same_site) = (String::new(), String::new(), String::new());
    let (mut secure, mut http_only) = (false, false);
    for attr in parts {
        let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
        let v = v.trim().to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "path" => path = v,
            "domain" => domain = v,
            "samesite" => same_site = v,
            "secure" => secure = true,
            "httponly" => http_only = true,
            _ => {}
        }
    }
    let path_len = path.len();
    let cookie = map(vec![
        ("name", s(name.clone())),
        ("value", s(value.trim())),
        ("path", s(path)),
        ("domain", s(domain)),
        ("same_site", s(same_site)),
        ("secure", boolean(secure)),
        ("http_only", boolean(http_only)),
    ]);
    Some((name, path_len, cookie))
}

/// Response cookies: name → list of cookie maps, longest path first.
fn cookies(h: &http::HeaderMap) -> BoxVal {
    let mut by_name: std::collections::HashMap<String, Vec<(usize, BoxVal)>> =
        std::collections::HashMap::new();
    for v in h.get_all(header::SET_COOKIE) {
        if let Some((name, len, cookie)) = set_cookie(&String::from_utf8_lossy(v.as_bytes())) {
            by_name.entry(name).or_default().push((len, cookie));
        }
    }
    map_owned(by_name.into_iter().map(|(k, mut v)| {
        v.sort_by_key(|c| std::cmp::Reverse(c.0));
        (k, list(v.into_iter().map(|(_, c)| c).collect()))
    }))
}

/// Builds `res.*` with the fields in `need`.
pub(crate) fn response_val(res: &http::response::Parts, need: FieldSet) -> BoxVal {
    let h = &res.headers;
    let mut f: Vec<(&'static str, BoxVal)> = Vec::with_capacity(4);
    if need.has(STATUS_CODE) {
        f.push(("status_code", int(i64::from(res.status.as_u16()))));
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
    if need.has(TRAILERS) {
        f.push(("trailers", map(Vec::new())));
    }
    map(f)
}
