//! Replay with modification: the editable parts of a recorded request (method, path, query,
//! headers, body), checked before anything is sent, and the request they make.

use std::convert::Infallible;
use std::str::FromStr;

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request};
use http_body_util::{Either, Full, StreamBody};
use hyper::body::Frame;
use serde::{Deserialize, Serialize};

use super::live::ReplayVia;
use super::store::CapturedRequest;
use crate::forward::KeepTrailerHeader;

/// Body of `POST /api/requests/http/:id/replay`. Every part left out is the recorded one's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayEdit {
    /// `upstream` (default): straight to the endpoint's upstream; `edge`: into its public URL.
    #[serde(default)]
    pub target: ReplayVia,
    /// Another endpoint of this agent to send it to.
    #[serde(default)]
    pub tunnel_name: Option<String>,
    /// The method.
    #[serde(default)]
    pub method: Option<String>,
    /// The path, without the query (or with it, when `query` is not given).
    #[serde(default)]
    pub path: Option<String>,
    /// The query's parameters, in order (encoded here).
    #[serde(default)]
    pub query: Option<Vec<(String, String)>>,
    /// Every header, in order (framing headers are set from the body).
    #[serde(default)]
    pub headers: Option<Vec<(String, String)>>,
    /// Trailers sent after the body (the body is then sent chunked).
    #[serde(default)]
    pub trailers: Option<Vec<(String, String)>>,
    /// The body as text.
    #[serde(default)]
    pub body: Option<String>,
    /// The body as base64.
    #[serde(default)]
    pub body_base64: Option<String>,
}

/// A part of the edit that cannot be sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{field}`: {message}")]
pub struct EditError {
    /// The part.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> EditError {
    EditError {
        field,
        message: message.into(),
    }
}

/// Headers the replay sets itself from the body and the connection.
const FRAMING: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];

/// A checked replay, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedReplay {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub uri: PathAndQuery,
    /// Headers in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
    /// Trailers after the body.
    pub trailers: Vec<(HeaderName, HeaderValue)>,
    /// True when the body is the recorded one and that was cut.
    pub body_truncated: bool,
}

impl ReplayEdit {
    /// Checks the edit against the recorded request it changes.
    pub fn prepare(&self, original: &CapturedRequest) -> Result<PreparedReplay, EditError> {
        let method = match &self.method {
            Some(m) => Method::from_bytes(m.trim().as_bytes())
                .map_err(|_| bad("method", format!("`{m}` is not an HTTP method")))?,
            None => Method::from_bytes(original.method.as_bytes())
                .map_err(|_| bad("method", "the recorded method is not valid"))?,
        };
        let (orig_path, orig_query) = match original.uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (original.uri.as_str(), None),
        };
        let path = self.path.as_deref().unwrap_or(orig_path);
        if !path.starts_with('/') {
            return Err(bad("path", "must start with `/`"));
        }
        if path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
        {
            return Err(bad(
                "path",
                "must not hold spaces, control characters or `#`",
            ));
        }
        let uri = match (&self.query, path.contains('?')) {
            (Some(_), true) => {
                return Err(bad(
                    "path",
                    "give the query in `query` or in `path`, not both",
                ));
            }
            (Some(q), false) if q.is_empty() => path.to_string(),
            (Some(q), false) => {
                let mut ser = form_urlencoded::Serializer::new(String::new());
                for (k, v) in q {
                    ser.append_pair(k, v);
                }
                format!("{path}?{}", ser.finish())
            }
            (None, true) => path.to_string(),
            (None, false) => match orig_query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_string(),
            },
        };
        let uri = PathAndQuery::from_str(&uri).map_err(|e| bad("path", e.to_string()))?;
        let mut headers = Vec::new();
        match &self.headers {
            Some(list) => {
                for (k, v) in list {
                    let name = HeaderName::from_bytes(k.trim().as_bytes())
                        .map_err(|_| bad("headers", format!("`{k}` is not a header name")))?;
                    if FRAMING.contains(&name.as_str()) {
                        return Err(bad("headers", format!("`{k}` is set by the replay itself")));
                    }
                    let value = HeaderValue::from_str(v).map_err(|_| {
                        bad(
                            "headers",
                            format!("the value of `{k}` is not a header value"),
                        )
                    })?;
                    headers.push((name, value));
                }
            }
            None => {
                for (k, v) in &original.headers {
                    if let (Ok(name), Ok(value)) = (
                        HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(v),
                    ) && !FRAMING.contains(&name.as_str())
                    {
                        headers.push((name, value));
                    }
                }
            }
        }
        let mut trailers = Vec::new();
        for (k, v) in self.trailers.iter().flatten() {
            let name = HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|_| bad("trailers", format!("`{k}` is not a header name")))?;
            if FRAMING.contains(&name.as_str()) || name == http::header::HOST {
                return Err(bad("trailers", format!("`{k}` cannot be a trailer")));
            }
            let value = HeaderValue::from_str(v).map_err(|_| {
                bad(
                    "trailers",
                    format!("the value of `{k}` is not a header value"),
                )
            })?;
            trailers.push((name, value));
        }
        if !trailers.is_empty() && matches!(method, Method::GET | Method::HEAD) {
            return Err(bad(
                "trailers",
                "trailers need a request body sent in chunks: not with GET or HEAD",
            ));
        }
        let (body, body_truncated) = match (&self.body, &self.body_base64) {
            (Some(_), Some(_)) => {
                return Err(bad("body", "give `body` or `body_base64`, not both"));
            }
            (Some(text), None) => (Bytes::from(text.clone().into_bytes()), false),
            (None, Some(b64)) => (
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map(Bytes::from)
                    .map_err(|e| bad("body_base64", e.to_string()))?,
                false,
            ),
            (None, None) => (original.body.clone(), original.truncated),
        };
        Ok(PreparedReplay {
            method,
            uri,
            headers,
            body,
            trailers,
            body_truncated,
        })
    }
}

/// The frames of a body with trailers.
type Frames = futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

/// The body of a replay: the bytes as one piece (with their length), or, with trailers, the
/// bytes then the trailers (sent chunked).
pub type ReplayBody = Either<Full<Bytes>, StreamBody<Frames>>;

impl PreparedReplay {
    /// The request, with `host` as its `Host` header when given (edge replays).
    pub fn request(&self, host: Option<&str>) -> Result<Request<ReplayBody>, http::Error> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.uri.as_str());
        for (k, v) in &self.headers {
            if host.is_some() && k == http::header::HOST {
                continue;
            }
            builder = builder.header(k, v);
        }
        if let Some(host) = host {
            builder = builder.header(http::header::HOST, host);
        }
        if self.trailers.is_empty() {
            return builder.body(Either::Left(Full::new(self.body.clone())));
        }
        let names: Vec<&str> = self.trailers.iter().map(|(k, _)| k.as_str()).collect();
        builder = builder
            .header(http::header::TRAILER, names.join(", "))
            .extension(KeepTrailerHeader);
        let mut map = http::HeaderMap::new();
        for (k, v) in &self.trailers {
            map.append(k.clone(), v.clone());
        }
        let frames = vec![Ok(Frame::data(self.body.clone())), Ok(Frame::trailers(map))];
        builder.body(Either::Right(StreamBody::new(futures::stream::iter(
            frames,
        ))))
    }
}

/// What `POST /api/requests/http/:id/replay` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayOutcome {
    /// The new exchange's id, when this agent recorded it (not when the edge answered alone).
    pub id: Option<String>,
    /// The exchange replayed.
    pub replay_of: String,
    /// How it was sent.
    pub target: ReplayVia,
    /// The endpoint it was sent to.
    pub tunnel_name: String,
    /// The response's status.
    pub status_code: u16,
    /// True when the recorded body was cut, so less was sent than was received.
    pub body_truncated: bool,
    /// For edge replays: the response as the public client gets it.
    pub edge_response: Option<super::edge_replay::EdgeResponse>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::store::tests::exchange;

    fn edit(json: &str) -> ReplayEdit {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn edits_apply_and_are_checked() {
        let original = exchange("1", "web", 3).request;
        let p = edit("{}").prepare(&original).unwrap();
        assert_eq!((p.method.as_str(), p.uri.as_str()), ("POST", "/x?y=1"));
        assert_eq!(&p.body[..], b"aaa");
        let p = edit(
            r#"{"method":"PUT","path":"/new","query":[["a b","c&d"]],
                "headers":[["X-Edited","yes"]],"body":"{\"k\":2}"}"#,
        )
        .prepare(&original)
        .unwrap();
        assert_eq!(
            (p.method.as_str(), p.uri.as_str()),
            ("PUT", "/new?a+b=c%26d")
        );
        assert_eq!(p.headers.len(), 1);
        assert_eq!(&p.body[..], br#"{"k":2}"#);
        let req = p.request(Some("a.localhost:8080")).unwrap();
        assert_eq!(req.headers()["host"], "a.localhost:8080");
        // A new path keeps the recorded query unless one is given.
        let p = edit(r#"{"path":"/other"}"#).prepare(&original).unwrap();
        assert_eq!(p.uri.as_str(), "/other?y=1");
        let p = edit(r#"{"query":[]}"#).prepare(&original).unwrap();
        assert_eq!(p.uri.as_str(), "/x");
        for (json, field) in [
            (r#"{"method":"GE T"}"#, "method"),
            (r#"{"path":"nope"}"#, "path"),
            (r#"{"path":"/a b"}"#, "path"),
            (r#"{"path":"/a?b","query":[]}"#, "path"),
            (r#"{"headers":[["bad name","v"]]}"#, "headers"),
            (r#"{"headers":[["x","a\nb"]]}"#, "headers"),
            (r#"{"headers":[["Content-Length","3"]]}"#, "headers"),
            (r#"{"body":"a","body_base64":"YQ=="}"#, "body"),
            (r#"{"body_base64":"***"}"#, "body_base64"),
            (r#"{"trailers":[["x-sum","1"]],"method":"GET"}"#, "trailers"),
            (r#"{"trailers":[["content-length","1"]]}"#, "trailers"),
        ] {
            assert_eq!(
                edit(json).prepare(&original).err().map(|e| e.field),
                Some(field),
                "{json}"
            );
        }
        assert!(serde_json::from_str::<ReplayEdit>(r#"{"nope":1}"#).is_err());
        assert!(serde_json::from_str::<ReplayEdit>(r#"{"target":"edge"}"#).is_ok());
    }
}
