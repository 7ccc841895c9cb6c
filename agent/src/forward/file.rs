//! The built-in static file server for `file://` upstreams: files with content types by
//! extension, single byte ranges (206/416), HTML directory listings, `index.html`, and no way
//! out of the root (decoded `..` segments, backslashes and symlinks leaving it are refused).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::HttpBody;

/// Serves one request from `root`.
pub async fn serve(
    root: &Path,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<HttpBody> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let Some(rel) = relative_path(uri.path()) else {
        return text(StatusCode::BAD_REQUEST, "invalid path\n");
    };
    let Some(path) = resolve(root, &rel).await else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    let head = method == Method::HEAD;
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    if meta.is_dir() {
        if !uri.path().ends_with('/') {
            let mut r = text(StatusCode::MOVED_PERMANENTLY, "");
            let loc = format!("{}/", uri.path());
            if let Ok(v) = HeaderValue::try_from(loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        let index = path.join("index.html");
        match tokio::fs::metadata(&index).await {
            Ok(m) if m.is_file() => return send_file(&index, m.len(), headers, head).await,
            _ => return listing(&path, uri.path(), head).await,
        }
    }
    send_file(&path, meta.len(), headers, head).await
}

/// Decodes the URL path into safe relative segments; `None` when a segment would climb out or
/// contains a separator or NUL once decoded.
fn relative_path(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for raw in path.split('/') {
        let seg = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?;
        match seg.as_ref() {
            "" | "." => continue,
            ".." => return None,
            s if s.contains(['/', '\\', '\0']) => return None,
            s => out.push(s.to_string()),
        }
    }
    Some(out)
}

/// Joins and canonicalizes, refusing anything (e.g. a symlink) that lands outside the root.
async fn resolve(root: &Path, rel: &[String]) -> Option<PathBuf> {
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let mut path = root.clone();
    path.extend(rel);
    let real = tokio::fs::canonicalize(&path).await.ok()?;
    real.starts_with(&root).then_some(real)
}

/// A content type from the file extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "log" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The range asked for by a `Range` header, against a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// No (usable) range: send everything.
    Full,
    /// One satisfiable range, inclusive.
    Part(u64, u64),
    /// Not satisfiable: 416.
    Unsatisfiable,
}

pub(crate) fn parse_range(value: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Full;
    };
    if spec.contains(',') {
        return RangeAsk::Full; // several ranges: a server may send the whole file
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeAsk::Full;
        };
        if n == 0 || len == 0 {
            return RangeAsk::Unsatisfiable;
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return RangeAsk::Full;
        };
        let end = match b {
            "" => len.saturating_sub(1),
            b => match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return RangeAsk::Full,
            },
        };
        if start >= len {
            return RangeAsk::Unsatisfiable;
        }
        (start, end)
    };
    RangeAsk::Part(range.0, range.1)
}

async fn send_file(path: &Path, len: u64, headers: &HeaderMap, head: bool) -> Response<HttpBody> {
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, count) = match range {
        RangeAsk::Full => (StatusCode::OK, 0, len),
        RangeAsk::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeAsk::Unsatisfiable => {
            let mut r = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            if let Ok(v) = HeaderValue::try_from(format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let body = if head {
        empty()
    } else {
        let Ok(mut f) = tokio::fs::File::open(path).await else {
            return text(StatusCode::FORBIDDEN, "403 forbidden\n");
        };
        if f.seek(std::io::SeekFrom::Start(start)).await.is_err() {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "seek failed\n");
        }
        ReaderBody(tokio_util::io::ReaderStream::new(f.take(count))).boxed_unsync()
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::try_from(format!("bytes {start}-{}/{len}", start + count - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Ok(modified) = tokio::fs::metadata(path).await.and_then(|m| m.modified())
        && let Ok(v) = HeaderValue::try_from(httpdate::fmt_http_date(modified))
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    r
}

async fn listing(dir: &Path, url_path: &str, head: bool) -> Response<HttpBody> {
    let mut names = Vec::new();
    if let Ok(mut rd) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = rd.next_entry().await {
            let mut name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
                name.push('/');
            }
            names.push(name);
        }
    }
    names.sort();
    let mut html = format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>{0}</title>\n<h1>Index of {0}</h1>\n<pre>\n",
        escape(url_path)
    );
    for name in &names {
        let href = percent_encoding::utf8_percent_encode(name, HREF).to_string();
        html.push_str(&format!("<a href=\"{href}\">{}</a>\n", escape(name)));
    }
    html.push_str("</pre>\n");
    let len = html.len() as u64;
    let mut r = Response::new(if head { empty() } else { full(html) });
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

const HREF: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// Escapes text for HTML.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A body streaming a reader's bytes.
struct ReaderBody<R>(tokio_util::io::ReaderStream<R>);

impl<R: tokio::io::AsyncRead + Unpin> hyper::body::Body for ReaderBody<R> {
    type Data = Bytes;
    type Error = super::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, super::BoxError>>> {
        use futures::Stream;
        std::pin::Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(hyper::body::Frame::data).map_err(Into::into)))
    }
}

fn empty() -> HttpBody {
    full(Bytes::new())
}

fn full(b: impl Into<Bytes>) -> HttpBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed_unsync()
}

fn text(status: StatusCode, body: &'static str) -> Response<HttpBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
