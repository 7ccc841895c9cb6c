//! `res.*`: built per response, only the fields the policy reads.

use http::header;

use super::build::{BoxVal, boolean, date_time, duration, int, list, map, map_owned, s};
use super::headers::{EntityFields, entity_fields, headers};
use super::set_cookie::{self, SetCookie};
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

/// One cookie as the map `res.cookies[name][i]` gives.
fn cookie_val(c: SetCookie) -> BoxVal {
    map(vec![
        ("name", s(c.name)),
        ("value", s(c.value)),
        ("path", s(c.path)),
        ("domain", s(c.domain)),
        ("expires", date_time(c.expires)),
        ("max_age", duration(c.max_age)),
        ("secure", boolean(c.secure)),
        ("http_only", boolean(c.http_only)),
        ("same_site", s(c.same_site)),
        (
            "unparsed_attributes",
            map_owned(c.unparsed_attributes.into_iter().map(|(k, v)| (k, s(v)))),
        ),
    ])
}

/// Response cookies: name → list of cookie maps, longest path first.
fn cookies(h: &http::HeaderMap) -> BoxVal {
    let mut by_name: std::collections::HashMap<String, Vec<(usize, BoxVal)>> =
        std::collections::HashMap::new();
    for v in h.get_all(header::SET_COOKIE) {
        if let Some(cookie) = set_cookie::parse(&String::from_utf8_lossy(v.as_bytes())) {
            let (name, path_len) = (cookie.name.clone(), cookie.path.len());
            by_name
                .entry(name)
                .or_default()
                .push((path_len, cookie_val(cookie)));
        }
    }
    map_owned(by_name.into_iter().map(|(k, mut v)| {
        v.sort_by_key(|c| std::cmp::Reverse(c.0));
        (k, list(v.into_iter().map(|(_, c)| c).collect()))
    }))
}

/// Builds `res.*` of a response head and its trailers with the fields in `need`.
pub(crate) fn response_val(
    res: &http::response::Parts,
    trailers: &http::HeaderMap,
    need: FieldSet,
) -> BoxVal {
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
        f.push(("trailers", headers(trailers)));
    }
    map(f)
}
