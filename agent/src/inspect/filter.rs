//! The inspector's request filter: what the page's filter bar (and its URL hash) holds, as
//! query parameters of the summary list, the live stream and the HAR export. Every given
//! criterion must hold (AND).

use serde::Deserialize;

use super::body;
use super::store::Exchange;

/// Query parameters of a filtered request list. Empty strings mean "no criterion".
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// Only this endpoint.
    pub tunnel_name: String,
    /// Substring of the path (and query).
    pub path: String,
    /// Comma-separated methods, any case.
    pub method: String,
    /// Comma-separated codes (`404`) and classes (`4xx`).
    pub status: String,
    /// Response size at least this many bytes (`k`/`m` suffixes allowed).
    pub min_size: String,
    /// Response size at most this many bytes.
    pub max_size: String,
    /// Duration at least this many milliseconds.
    pub min_ms: String,
    /// Duration at most this many milliseconds.
    pub max_ms: String,
    /// A request or response header: `name`, or `name:value` (value as a substring), any case.
    pub header: String,
    /// Free text, any case: method, URI, status, header names and values, bodies (decoded).
    pub q: String,
    /// At most this many results (default 500).
    pub limit: Option<usize>,
    /// One exchange by id (HAR export of one request).
    pub id: String,
}

/// A filter criterion that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("filter `{field}`: {message}")]
pub struct FilterError {
    /// The query parameter.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn size(field: &'static str, s: &str) -> Result<Option<u64>, FilterError> {
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Ok(None);
    }
    let (num, mult) = match s.strip_suffix("kb").or_else(|| s.strip_suffix('k')) {
        Some(n) => (n, 1024),
        None => match s.strip_suffix("mb").or_else(|| s.strip_suffix('m')) {
            Some(n) => (n, 1024 * 1024),
            None => (s.strip_suffix('b').unwrap_or(&s), 1),
        },
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| *n >= 0.0)
        .map(|n| Some((n * mult as f64) as u64))
        .ok_or_else(|| FilterError {
            field,
            message: format!("`{s}` is not a size (e.g. 512, 10k, 1m)"),
        })
}

fn millis(field: &'static str, s: &str) -> Result<Option<f64>, FilterError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.trim_end_matches("ms")
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| *n >= 0.0)
        .map(Some)
        .ok_or_else(|| FilterError {
            field,
            message: format!("`{s}` is not a number of milliseconds"),
        })
}

/// One status criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusMatch {
    Code(u16),
    Class(u16),
}

/// A checked [`Filter`], ready to match exchanges.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    tunnel_name: Option<String>,
    path: Option<String>,
    methods: Vec<String>,
    statuses: Vec<StatusMatch>,
    min_size: Option<u64>,
    max_size: Option<u64>,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
    header: Option<(String, Option<String>)>,
    q: Option<String>,
    id: Option<String>,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl Filter {
    /// Checks the criteria.
    pub fn matcher(&self) -> Result<Matcher, FilterError> {
        let mut statuses = Vec::new();
        for s in self
            .status
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let s = s.to_ascii_lowercase();
            let parsed = match s.strip_suffix("xx") {
                Some(c) => c
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (1..=5).contains(c))
                    .map(StatusMatch::Class),
                None => s
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=999).contains(c))
                    .map(StatusMatch::Code),
            };
            statuses.push(parsed.ok_or_else(|| FilterError {
                field: "status",
                message: format!("`{s}` is not a status code or class (e.g. 404, 4xx)"),
            })?);
        }
        let header = non_empty(&self.header).map(|h| match h.split_once(':') {
            Some((n, v)) => (
                n.trim().to_ascii_lowercase(),
                non_empty(v).map(|v| v.to_lowercase()),
            ),
            None => (h.to_ascii_lowercase(), None),
        });
        Ok(Matcher {
            tunnel_name: non_empty(&self.tunnel_name),
            path: non_empty(&self.path),
            methods: self
                .method
                .split(',')
                .map(|m| m.trim().to_ascii_uppercase())
                .filter(|m| !m.is_empty())
                .collect(),
            statuses,
            min_size: size("min_size", &self.min_size)?,
            max_size: size("max_size", &self.max_size)?,
            min_ms: millis("min_ms", &self.min_ms)?,
            max_ms: millis("max_ms", &self.max_ms)?,
            header,
            q: non_empty(&self.q).map(|q| q.to_lowercase()),
            id: non_empty(&self.id),
        })
    }
}

fn body_text(headers: &[(String, String)], bytes: &[u8]) -> String {
    let encoding = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| v.as_str());
    match encoding.map(|e| body::decode(e, bytes)) {
        Some(Ok((decoded, _))) => String::from_utf8_lossy(&decoded).to_lowercase(),
        _ => String::from_utf8_lossy(bytes).to_lowercase(),
    }
}

impl Matcher {
    /// Whether `e` meets every criterion.
    pub fn matches(&self, e: &Exchange) -> bool {
        let status = e.response.as_ref().map(|r| r.status);
        let size = e.response.as_ref().map_or(0, |r| r.body_size);
        let ms = e.duration.as_secs_f64() * 1000.0;
        let heads = || {
            e.request
                .headers
                .iter()
                .chain(e.response.iter().flat_map(|r| r.headers.iter()))
        };
        self.id.as_ref().is_none_or(|id| &e.id == id)
            && self.tunnel_name.as_ref().is_none_or(|t| &e.endpoint == t)
            && self
                .path
                .as_ref()
                .is_none_or(|p| e.request.uri.contains(p.as_str()))
            && (self.methods.is_empty() || self.methods.contains(&e.request.method))
            && (self.statuses.is_empty()
                || status.is_some_and(|s| {
                    self.statuses.iter().any(|m| match m {
                        StatusMatch::Code(c) => *c == s,
                        StatusMatch::Class(c) => s / 100 == *c,
                    })
                }))
            && self.min_size.is_none_or(|m| size >= m)
            && self.max_size.is_none_or(|m| size <= m)
            && self.min_ms.is_none_or(|m| ms >= m)
            && self.max_ms.is_none_or(|m| ms <= m)
            && self.header.as_ref().is_none_or(|(name, value)| {
                heads().any(|(k, v)| {
                    k.eq_ignore_ascii_case(name)
                        && value
                            .as_ref()
                            .is_none_or(|val| v.to_lowercase().contains(val))
                })
            })
            && self.q.as_ref().is_none_or(|q| self.text_matches(e, q))
    }

    fn text_matches(&self, e: &Exchange, q: &str) -> bool {
        let found = |s: &str| s.to_lowercase().contains(q);
        found(&e.request.method)
            || found(&e.request.uri)
            || e.response
                .as_ref()
                .is_some_and(|r| found(&r.status.to_string()))
            || e.request
                .headers
                .iter()
                .chain(e.response.iter().flat_map(|r| r.headers.iter()))
                .any(|(k, v)| found(k) || found(v))
            || body_text(&e.request.headers, &e.request.body).contains(q)
            || e.response
                .as_ref()
                .is_some_and(|r| body_text(&r.headers, &r.body).contains(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::store::tests::exchange;

    fn f(pairs: &str) -> Result<Matcher, Box<dyn std::error::Error>> {
        let filter: Filter = serde_json::from_str(pairs)?;
        Ok(filter.matcher()?)
    }

    #[test]
    fn criteria_combine() -> Result<(), Box<dyn std::error::Error>> {
        let e = exchange("1", "web", 5);
        assert!(f("{}")?.matches(&e));
        assert!(f(r#"{"path":"/x","method":"post,get","status":"2xx"}"#)?.matches(&e));
        assert!(!f(r#"{"path":"/x","method":"get"}"#)?.matches(&e));
        assert!(f(r#"{"status":"404, 200"}"#)?.matches(&e));
        assert!(!f(r#"{"status":"5xx"}"#)?.matches(&e));
        assert!(f(r#"{"header":"Content-Type:TEXT/"}"#)?.matches(&e));
        assert!(!f(r#"{"header":"x-nope"}"#)?.matches(&e));
        assert!(f(r#"{"q":"AAAA"}"#)?.matches(&e));
        assert!(f(r#"{"q":"ok"}"#)?.matches(&e));
        assert!(!f(r#"{"q":"zzz"}"#)?.matches(&e));
        assert!(f(r#"{"min_size":"2","max_size":"1k","max_ms":"3"}"#)?.matches(&e));
        assert!(!f(r#"{"min_ms":"4ms"}"#)?.matches(&e));
        assert!(!f(r#"{"tunnel_name":"api"}"#)?.matches(&e));
        let bad: Filter = serde_json::from_str(r#"{"status":"7xx"}"#)?;
        assert_eq!(bad.matcher().err().map(|e| e.field), Some("status"));
        let bad: Filter = serde_json::from_str(r#"{"min_size":"big"}"#)?;
        assert_eq!(bad.matcher().err().map(|e| e.field), Some("min_size"));
        Ok(())
    }
}
