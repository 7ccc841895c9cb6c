//! Header-derived values shared by `req.*` and `res.*`.

use http::HeaderMap;

use super::build::{BoxVal, list, map, map_owned, s};

/// Lower-case name → list of values.
pub(crate) fn headers(h: &HeaderMap) -> BoxVal {
    map_owned(h.keys().map(|name| {
        let values = h
            .get_all(name)
            .iter()
            .map(|v| s(String::from_utf8_lossy(v.as_bytes())))
            .collect();
        (name.as_str().to_string(), list(values))
    }))
}

/// One header's text (first value), or "".
pub(crate) fn text(h: &HeaderMap, name: http::header::HeaderName) -> String {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// `content_type` subfields: the header as sent and its parameters.
pub(crate) fn content_type_fields(raw: &str, media: super::content_type::MediaType) -> BoxVal {
    let params = media.parameters.into_iter().map(|(k, v)| (k, s(v)));
    map(vec![("raw", s(raw)), ("parameters", map_owned(params))])
}

/// A comma-separated header as a list (e.g. `content_encoding`).
pub(crate) fn comma_list(h: &HeaderMap, name: http::header::HeaderName) -> BoxVal {
    list(
        h.get_all(name)
            .iter()
            .flat_map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
            })
            .map(s)
            .collect(),
    )
}

/// `Content-Length` as a number, if present and valid.
pub(crate) fn content_length(h: &HeaderMap) -> Option<i64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Where the header-derived entity fields sit in a variable's field list.
pub(crate) struct EntityFields {
    pub content_type: usize,
    pub content_type_fields: usize,
    pub content_encoding: usize,
    pub content_length: usize,
    pub location: usize,
}

/// Pushes `content_type` (and its subfields), `content_encoding`, `content_length` and
/// `location`, the fields `req` and `res` share, when `need` asks for them.
pub(crate) fn entity_fields(
    f: &mut Vec<(&'static str, BoxVal)>,
    h: &HeaderMap,
    need: crate::cel::FieldSet,
    at: EntityFields,
) {
    if need.has(at.content_type) || need.has(at.content_type_fields) {
        let raw = text(h, http::header::CONTENT_TYPE);
        let mut media = super::content_type::parse(&raw);
        let essence = std::mem::take(&mut media.essence);
        f.push(("__content_type", content_type_fields(&raw, media)));
        f.push(("content_type", s(essence)));
    }
    if need.has(at.content_encoding) {
        f.push((
            "content_encoding",
            comma_list(h, http::header::CONTENT_ENCODING),
        ));
    }
    if need.has(at.content_length)
        && let Some(len) = content_length(h)
    {
        f.push(("content_length", super::build::int(len)));
    }
    if need.has(at.location) {
        f.push(("location", s(text(h, http::header::LOCATION))));
    }
}
