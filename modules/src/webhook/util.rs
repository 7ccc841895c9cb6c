//! Helpers shared by the provider implementations: header access, MACs,
//! constant-time comparison, encodings, timestamps and challenge responses.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::header::{CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use http::{Response, StatusCode};
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::{WebhookError, WebhookRequest};

/// The hash function of an HMAC.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Alg {
    Sha1,
    Sha256,
    Sha512,
}

/// HMAC of the concatenation of `parts` under `key`.
pub(crate) fn hmac(alg: Alg, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, WebhookError> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, WebhookError> {
        let mut mac = <M as KeyInit>::new_from_slice(key)
            .map_err(|_| WebhookError::invalid_secret("secret has an unusable length"))?;
        for part in parts {
            mac.update(part);
        }
        Ok(mac.finalize().into_bytes().to_vec())
    }
    match alg {
        Alg::Sha1 => run::<Hmac<Sha1>>(key, parts),
        Alg::Sha256 => run::<Hmac<Sha256>>(key, parts),
        Alg::Sha512 => run::<Hmac<Sha512>>(key, parts),
    }
}

/// SHA-256 digest of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality of two byte strings (the length is not hidden).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Ok if any of `candidates` equals `expected` (each compared in constant time).
pub(crate) fn match_any<I>(expected: &[u8], candidates: I) -> Result<(), WebhookError>
where
    I: IntoIterator<Item = Vec<u8>>,
{
    let mut matched = false;
    for candidate in candidates {
        matched |= ct_eq(expected, &candidate);
    }
    if matched {
        Ok(())
    } else {
        Err(WebhookError::SignatureMismatch)
    }
}

/// Value of a header the provider always sends, as trimmed text.
pub(crate) fn header<'r>(
    req: &WebhookRequest<'r>,
    name: &'static str,
) -> Result<&'r str, WebhookError> {
    opt_header(req, name)?.ok_or(WebhookError::MissingHeader(name))
}

/// Value of an optional header, as trimmed text.
pub(crate) fn opt_header<'r>(
    req: &WebhookRequest<'r>,
    name: &'static str,
) -> Result<Option<&'r str>, WebhookError> {
    let headers: &'r http::HeaderMap = req.headers;
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| WebhookError::Malformed(format!("header {name} is not visible ASCII"))),
    }
}

/// Decodes a lowercase or uppercase hex signature.
pub(crate) fn decode_hex(value: &str) -> Result<Vec<u8>, WebhookError> {
    hex::decode(value.trim()).map_err(|_| WebhookError::malformed("signature is not valid hex"))
}

/// Decodes a standard (padded) base64 signature.
pub(crate) fn decode_base64(value: &str) -> Result<Vec<u8>, WebhookError> {
    BASE64
        .decode(value.trim())
        .map_err(|_| WebhookError::malformed("signature is not valid base64"))
}

/// Standard base64 encoding.
pub(crate) fn encode_base64(data: &[u8]) -> String {
    BASE64.encode(data)
}

/// Removes a required scheme prefix such as `sha256=` from a signature.
pub(crate) fn strip_prefix<'v>(value: &'v str, prefix: &str) -> Result<&'v str, WebhookError> {
    value
        .strip_prefix(prefix)
        .ok_or_else(|| WebhookError::Malformed(format!("signature does not start with {prefix:?}")))
}

/// `key=value` items of a `sep`-separated list, trimmed; items without `=` are skipped.
pub(crate) fn kv_items(list: &str, sep: char) -> impl Iterator<Item = (&str, &str)> {
    list.split(sep)
        .filter_map(|item| item.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// Parses a non-negative decimal integer timestamp.
pub(crate) fn parse_timestamp(value: &str) -> Result<i64, WebhookError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::malformed(
            "timestamp is not a decimal integer",
        ));
    }
    value
        .parse()
        .map_err(|_| WebhookError::malformed("timestamp is out of range"))
}

/// Parses an RFC 3339 / ISO 8601 date and time into Unix milliseconds; a time written
/// without an offset is taken as UTC.
pub(crate) fn parse_date_time_ms(value: &str) -> Result<i128, WebhookError> {
    let value = value.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc().timestamp_millis())
        })
        .map_err(|_| WebhookError::malformed("timestamp is not an RFC 3339 date and time"))?;
    Ok(i128::from(parsed))
}

/// Checks that a timestamp in Unix seconds is within `tolerance` of `now`.
pub(crate) fn check_age_secs(
    timestamp: i64,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    check_age_ms(i128::from(timestamp) * 1000, now, tolerance)
}

/// Checks that a timestamp in Unix milliseconds is within `tolerance` of `now`.
pub(crate) fn check_age_ms(
    timestamp_ms: i128,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let now_ms = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i128,
        Err(before) => -(before.duration().as_millis() as i128),
    };
    let age_ms = now_ms - timestamp_ms;
    if age_ms.unsigned_abs() <= tolerance.as_millis() {
        return Ok(());
    }
    let age_secs = age_ms / 1000;
    Err(WebhookError::TimestampOutOfTolerance {
        age_secs: i64::try_from(age_secs).unwrap_or(if age_secs < 0 { i64::MIN } else { i64::MAX }),
        tolerance_secs: tolerance.as_secs(),
    })
}

/// First value of the query parameter `name` in `url`, percent-decoded.
pub(crate) fn query_param<'u>(url: &'u str, name: &str) -> Option<Cow<'u, str>> {
    let query = url.split('#').next()?.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// Whether the request body is declared as `application/x-www-form-urlencoded`.
pub(crate) fn is_form_encoded(req: &WebhookRequest<'_>) -> bool {
    req.headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Whether `haystack` contains `needle` (used to skip JSON parsing of ordinary events).
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `200 OK` response with the given content type and body.
pub(crate) fn ok_response(content_type: &'static str, body: Vec<u8>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A `200 OK` JSON response.
pub(crate) fn json_response(value: &serde_json::Value) -> Response<Bytes> {
    ok_response("application/json", value.to_string().into_bytes())
}
