//! String encodings: base64 methods, `basic_auth.encode`, and URL query
//! escaping as Go's `url.QueryEscape` / `url.QueryUnescape` do it.
//!
//! The query escaping is written out here rather than taken from `form_urlencoded` or
//! `percent-encoding` because ngrok's results are Go's: `form_urlencoded` keeps `*` and escapes
//! `~` (Go does the opposite), and `percent_decode` passes a malformed escape through where Go
//! (and so `url.unescape`) reports an error.

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cel::Env;
use cel::common::types::STRING_TYPE;

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, fail, str_arg, string_val};

/// Standard-alphabet decoder accepting input with or without padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Registers the base64 methods, `basic_auth.encode` and the URL escaping
/// functions and methods.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    let s = || STRING_TYPE;
    env.add_member_overload(
        "encodeBase64",
        "string_encode_base64",
        s(),
        vec![],
        encode_base64,
    )?;
    env.add_member_overload(
        "decodeBase64",
        "string_decode_base64",
        s(),
        vec![],
        decode_base64,
    )?;
    env.add_overload(
        "basic_auth.encode",
        "basic_auth_encode_string_string",
        vec![s(), s()],
        basic_auth,
    )?;
    env.add_overload("url.escape", "url_escape_string", vec![s()], escape)?;
    env.add_member_overload("escapeUrl", "string_escape_url", s(), vec![], escape)?;
    env.add_overload("url.unescape", "url_unescape_string", vec![s()], unescape)?;
    env.add_member_overload("unescapeUrl", "string_unescape_url", s(), vec![], unescape)?;
    Ok(())
}

/// `s.encodeBase64()`: standard, padded base64 of the UTF-8 of `s`.
fn encode_base64<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(string_val(STANDARD.encode(str_arg(&args, 0)?)))
}

/// `s.decodeBase64()`: the string `s` encodes in standard base64, padded or
/// not; an error if `s` isn't base64 or doesn't decode to UTF-8.
fn decode_base64<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let bytes = LENIENT
        .decode(str_arg(&args, 0)?)
        .map_err(|e| fail("decodeBase64", e))?;
    let text = String::from_utf8(bytes).map_err(|e| fail("decodeBase64", e))?;
    Ok(string_val(text))
}

/// `basic_auth.encode(user, pass)`: `Basic <base64(user:pass)>`.
fn basic_auth<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let credentials = format!("{}:{}", str_arg(&args, 0)?, str_arg(&args, 1)?);
    Ok(string_val(format!(
        "Basic {}",
        STANDARD.encode(credentials)
    )))
}

/// `url.escape(s)` / `s.escapeUrl()`.
fn escape<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(string_val(query_escape(str_arg(&args, 0)?)))
}

/// `url.unescape(s)` / `s.unescapeUrl()`.
fn unescape<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    query_unescape(str_arg(&args, 0)?)
        .map(string_val)
        .map_err(|e| fail("url.unescape", e))
}

/// Escapes `text` for a URL query component, as Go's `url.QueryEscape`:
/// unreserved characters stay, a space becomes `+`, the rest `%XX`.
pub(crate) fn query_escape(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space`, into a
/// UTF-8 string.
pub(crate) fn unescape_with(text: &str, plus_is_space: bool) -> Result<String, String> {
    if !text.contains(['%', '+']) {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |at: usize| bytes.get(at).and_then(|&c| char::from(c).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    let end = (i + 3).min(bytes.len());
                    let escape = String::from_utf8_lossy(&bytes[i..end]);
                    return Err(format!("invalid URL escape \"{escape}\""));
                };
                out.push(u8::try_from(hi * 16 + lo).unwrap_or_default());
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "unescaped text is not valid UTF-8".to_owned())
}

/// Decodes a URL query component, as Go's `url.QueryUnescape`.
pub(crate) fn query_unescape(text: &str) -> Result<String, String> {
    unescape_with(text, true)
}
