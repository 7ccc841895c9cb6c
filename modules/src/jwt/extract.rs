//! Pulling the raw token out of an HTTP request (header or body).
//!
//! Prefixes are matched ASCII case-insensitively (`Bearer` is an HTTP auth
//! scheme, RFC 9110 §11.1) and whitespace after the prefix is ignored. Callers
//! are responsible for bounding the body size before calling
//! [`extract_from_body`].

use http::{HeaderMap, Method};
use serde_json::Value;

use super::JwtError;

/// Returns the token carried by header `name` (case-insensitive), with
/// `prefix` stripped. Uses the first value when the header repeats.
///
/// Errors: 3408 header absent, 3413 prefix absent, 3414 value not visible
/// ASCII, 3406 nothing left after the prefix.
pub fn extract_from_header(
    headers: &HeaderMap,
    name: &str,
    prefix: Option<&str>,
) -> Result<String, JwtError> {
    let value = headers.get(name).ok_or_else(|| JwtError::HeaderMissing {
        name: name.to_owned(),
    })?;
    let value = value
        .to_str()
        .map_err(|_| JwtError::InvalidToken(format!("header `{name}` is not visible ASCII")))?;
    finish(value, name, prefix)
}

/// Returns the token carried by body field `name`, with `prefix` stripped.
///
/// The request must be POST, PUT or PATCH with content type
/// `application/json` (top-level object, string field) or
/// `application/x-www-form-urlencoded` (first occurrence of the field);
/// otherwise 3415. Unparseable JSON is 3411, an unparseable form 3412, a
/// missing field 3406, a non-string JSON field 3414, a missing prefix 3413.
pub fn extract_from_body(
    method: &Method,
    content_type: Option<&str>,
    body: &[u8],
    name: &str,
    prefix: Option<&str>,
) -> Result<String, JwtError> {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return Err(JwtError::BodyNotAllowed(format!("method {method}")));
    }
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|mt| mt.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let not_found = || JwtError::TokenNotFound {
        name: name.to_owned(),
    };
    let value = match media_type.as_str() {
        "application/json" => {
            let doc: Value =
                serde_json::from_slice(body).map_err(|e| JwtError::BodyJson(e.to_string()))?;
            let obj = doc
                .as_object()
                .ok_or_else(|| JwtError::BodyJson("the top level is not an object".to_owned()))?;
            match obj.get(name) {
                None => return Err(not_found()),
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(JwtError::InvalidToken(format!(
                        "body field `{name}` is not a string"
                    )));
                }
            }
        }
        "application/x-www-form-urlencoded" => form_field(body, name)?.ok_or_else(not_found)?,
        "" => return Err(JwtError::BodyNotAllowed("no content type".to_owned())),
        other => return Err(JwtError::BodyNotAllowed(format!("content type `{other}`"))),
    };
    finish(&value, name, prefix)
}

/// Strips the prefix and surrounding whitespace; an empty result is 3406.
fn finish(value: &str, name: &str, prefix: Option<&str>) -> Result<String, JwtError> {
    let rest = match prefix.filter(|p| !p.is_empty()) {
        None => value,
        Some(prefix) => {
            strip_prefix_ignore_case(value, prefix).ok_or_else(|| JwtError::PrefixMissing {
                prefix: prefix.to_owned(),
            })?
        }
    };
    let token = rest.trim();
    if token.is_empty() {
        return Err(JwtError::TokenNotFound {
            name: name.to_owned(),
        });
    }
    Ok(token.to_owned())
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// Finds the first `name` field of an `application/x-www-form-urlencoded`
/// body. Invalid UTF-8 or percent-escapes are 3412.
fn form_field(body: &[u8], name: &str) -> Result<Option<String>, JwtError> {
    let body = std::str::from_utf8(body)
        .map_err(|_| JwtError::BodyForm("the body is not valid UTF-8".to_owned()))?;
    for pair in body.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(key)? == name {
            return form_decode(value).map(Some);
        }
    }
    Ok(None)
}

/// Decodes one form key or value (`+` is a space, then percent-escapes). `percent-encoding`
/// keeps a malformed escape as written, while Go's form parser, and so ngrok, refuses the body
/// (3412): the escapes are checked first.
fn form_decode(input: &str) -> Result<String, JwtError> {
    let bad = |reason: &str| JwtError::BodyForm(reason.to_owned());
    let malformed_escape = input.split('%').skip(1).any(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_none_or(|digits| !digits.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed_escape {
        return Err(bad("invalid percent-escape"));
    }
    let spaced = input.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| bad("a decoded value is not valid UTF-8"))
}
