//! Bodies as the inspector shows them: `Content-Encoding` undone (gzip, deflate, br), the kind
//! guessed from the content type and the bytes (JSON, XML, form, text, image, binary), a JSON
//! syntax error located at its line and column, and form fields parsed.

use std::io::Read;

use base64::Engine;
use serde::Serialize;

/// Decoded bodies larger than this are cut (a small compressed body can expand a lot).
pub const DECODED_LIMIT: usize = 4 * 1024 * 1024;

/// What kind of content a body holds, for the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyKind {
    /// No bytes.
    Empty,
    /// JSON (by content type, or text that parses as JSON).
    Json,
    /// XML or HTML markup.
    Xml,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Other UTF-8 text.
    Text,
    /// An image the browser can show.
    Image,
    /// Anything else.
    Binary,
}

/// Where a JSON body stops being JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The parser's message.
    pub message: String,
}

/// One body, ready for the viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BodyView {
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Content-Encoding` header, if any.
    pub content_encoding: Option<String>,
    /// The body's whole size on the wire.
    pub size: u64,
    /// Bytes captured (the first `size` bytes, up to the store's body limit).
    pub captured_size: usize,
    /// True when the capture is shorter than the body.
    pub truncated: bool,
    /// True when `Content-Encoding` was undone.
    pub decoded: bool,
    /// Why undoing it failed (e.g. a truncated gzip stream); the bytes are then shown as sent.
    pub decode_error: Option<String>,
    /// Size after decoding.
    pub decoded_size: usize,
    /// True when decoding stopped at [`DECODED_LIMIT`].
    pub decoded_truncated: bool,
    /// The guessed kind.
    pub kind: BodyKind,
    /// The decoded bytes as text, when they are UTF-8.
    pub text: Option<String>,
    /// The decoded bytes, base64 (images, hex view).
    pub base64: String,
    /// The captured bytes as sent, base64 (raw view).
    pub raw_base64: String,
    /// The JSON syntax error, for JSON bodies that do not parse.
    pub json_error: Option<SyntaxError>,
    /// Parsed fields of a form body.
    pub form: Option<Vec<(String, String)>>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads `r` to its end, at most [`DECODED_LIMIT`] bytes; says whether the limit was hit.
fn read_capped(r: impl Read) -> std::io::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    r.take(DECODED_LIMIT as u64).read_to_end(&mut out)?;
    let cut = out.len() >= DECODED_LIMIT;
    Ok((out, cut))
}

/// Undoes `encoding` (a `Content-Encoding` list, applied in order); returns the bytes and
/// whether the limit cut them.
pub fn decode(encoding: &str, bytes: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let mut data = bytes.to_vec();
    let mut cut = false;
    for coding in encoding.split(',').map(str::trim).rev() {
        let coding = coding.to_ascii_lowercase();
        let decoded = match coding.as_str() {
            "" | "identity" => continue,
            "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(&data[..])),
            // Servers send zlib-wrapped deflate (per the RFC) or raw deflate: try zlib first.
            "deflate" => read_capped(flate2::read::ZlibDecoder::new(&data[..]))
                .or_else(|_| read_capped(flate2::read::DeflateDecoder::new(&data[..]))),
            "br" => read_capped(brotli::Decompressor::new(&data[..], 4096)),
            other => return Err(format!("unknown content encoding `{other}`")),
        };
        let (out, hit) = decoded.map_err(|e| format!("{coding}: {e}"))?;
        cut |= hit;
        data = out;
    }
    Ok((data, cut))
}

fn kind_of(content_type: &str, bytes: &[u8], text: Option<&str>) -> BodyKind {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if bytes.is_empty() {
        BodyKind::Empty
    } else if mime == "application/json" || mime.ends_with("+json") || mime == "text/json" {
        BodyKind::Json
    } else if mime == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if mime.starts_with("image/") {
        BodyKind::Image
    } else if mime.ends_with("/xml") || mime.ends_with("+xml") || mime == "text/html" {
        BodyKind::Xml
    } else if let Some(text) = text {
        let t = text.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
        {
            BodyKind::Json
        } else if t.starts_with("<?xml") {
            BodyKind::Xml
        } else {
            BodyKind::Text
        }
    } else {
        BodyKind::Binary
    }
}

/// Where serde_json stopped, with the column counted in characters of that line.
pub fn json_error(text: &str) -> Option<SyntaxError> {
    let err = serde_json::from_str::<serde::de::IgnoredAny>(text).err()?;
    let line_of = |n: usize| text.split('\n').nth(n.saturating_sub(1)).unwrap_or("");
    // serde_json counts the column in bytes, and after a consumed newline reports column 0
    // of the next line: that is the end of the line before.
    let (line, column) = if err.column() == 0 && err.line() > 1 {
        let line = err.line() - 1;
        (line, line_of(line).chars().count() + 1)
    } else {
        let line_text = line_of(err.line());
        let byte_col = err.column().min(line_text.len());
        let chars = line_text
            .char_indices()
            .take_while(|(i, _)| *i < byte_col)
            .count();
        (err.line(), chars.max(1))
    };
    let message = err.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m)
        .to_string();
    Some(SyntaxError {
        line,
        column,
        message,
    })
}

/// The view of a body captured with `headers`.
pub fn view(headers: &[(String, String)], body: &[u8], size: u64, truncated: bool) -> BodyView {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let content_type = header(headers, "content-type").map(str::to_string);
    let content_encoding = header(headers, "content-encoding")
        .filter(|e| !e.trim().eq_ignore_ascii_case("identity") && !e.trim().is_empty())
        .map(str::to_string);
    let (bytes, decoded, decode_error, decoded_truncated) = match &content_encoding {
        Some(enc) if !body.is_empty() => match decode(enc, body) {
            Ok((bytes, cut)) => (bytes, true, None, cut),
            Err(e) => (body.to_vec(), false, Some(e), false),
        },
        _ => (body.to_vec(), false, None, false),
    };
    let text = std::str::from_utf8(&bytes).ok().map(str::to_string);
    let kind = kind_of(
        content_type.as_deref().unwrap_or(""),
        &bytes,
        text.as_deref(),
    );
    let json_error = match (kind, &text) {
        (BodyKind::Json, Some(t)) if !truncated && !decoded_truncated => json_error(t),
        _ => None,
    };
    let form = (kind == BodyKind::Form).then(|| {
        form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    });
    BodyView {
        content_type,
        content_encoding,
        size,
        captured_size: body.len(),
        truncated,
        decoded,
        decode_error,
        decoded_size: bytes.len(),
        decoded_truncated,
        kind,
        text: if kind == BodyKind::Image { None } else { text },
        base64: b64(&bytes),
        raw_base64: b64(body),
        json_error,
        form,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn undoes_gzip_deflate_and_brotli() -> Result<(), Box<dyn std::error::Error>> {
        let plain = br#"{"a": 1}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(plain)?;
        let gz = gz.finish()?;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(plain)?;
        let z = z.finish()?;
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(plain)?;
        }
        for (enc, bytes) in [("gzip", gz.clone()), ("deflate", z), ("br", br)] {
            let headers = h(&[
                ("Content-Type", "application/json"),
                ("content-encoding", enc),
            ]);
            let v = view(&headers, &bytes, bytes.len() as u64, false);
            assert!(v.decoded, "{enc}");
            assert_eq!(v.text.as_deref(), Some(r#"{"a": 1}"#), "{enc}");
            assert_eq!(v.kind, BodyKind::Json);
            assert_eq!(v.json_error, None);
        }
        // A cut gzip stream is shown as sent, with the reason.
        let cut = &gz[..gz.len() / 2];
        let v = view(&h(&[("content-encoding", "gzip")]), cut, 99, true);
        assert!(!v.decoded && v.decode_error.is_some());
        Ok(())
    }

    #[test]
    fn locates_json_errors_and_parses_forms() {
        let text = "{\n  \"ok\": true,\n  \"é\": tru\n}";
        let v = view(
            &h(&[("content-type", "application/json")]),
            text.as_bytes(),
            text.len() as u64,
            false,
        );
        let err = v.json_error.expect("an error");
        assert_eq!((err.line, err.column), (3, 11), "{}", err.message);
        let v = view(
            &h(&[("content-type", "application/x-www-form-urlencoded")]),
            b"a=1&b=x+y%21",
            12,
            false,
        );
        assert_eq!(v.kind, BodyKind::Form);
        assert_eq!(
            v.form,
            Some(vec![("a".into(), "1".into()), ("b".into(), "x y!".into())])
        );
        let v = view(
            &h(&[("content-type", "image/png")]),
            &[0x89, b'P'],
            2,
            false,
        );
        assert_eq!((v.kind, v.text), (BodyKind::Image, None));
        let v = view(&[], &[0, 159, 146, 150], 4, false);
        assert_eq!(v.kind, BodyKind::Binary);
        assert_eq!(view(&[], b"", 0, false).kind, BodyKind::Empty);
    }
}
