//! Runs one exchange through a policy in-process, with a fake upstream: the shared core of
//! `sluice policy test`, the conformance suite and the actions' own tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::engine::{RequestVerdict, ResponseVerdict, TcpVerdict};
use crate::exchange::{BodyTransform, BufferedBody, Connection, Exchange, FiredRule};
use crate::internal::InternalRouting;
use crate::phase::Phase;
use crate::policy::Policy;

mod canned;
mod conn;

use canned::CannedDirectory;
pub use canned::CannedInternal;
pub use conn::{ManualClock, TestConn, connection, endpoint};

/// What the fake upstream answers.
#[derive(Debug, Clone)]
pub struct UpstreamReply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Trailers after the body (`res.trailers`).
    pub trailers: HeaderMap,
}

impl Default for UpstreamReply {
    fn default() -> Self {
        UpstreamReply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"upstream ok"),
            trailers: HeaderMap::new(),
        }
    }
}

/// What the fake upstream received.
#[derive(Debug, Clone)]
pub struct UpstreamSaw {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path_and_query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body after request transforms.
    pub body: Bytes,
}

/// The result of one exchange.
#[derive(Debug)]
pub struct Outcome {
    /// Whether `on_tcp_connect` closed the connection.
    pub tcp_closed: bool,
    /// Whether the connection was closed during the HTTP phases.
    pub closed: bool,
    /// Final status (None when closed).
    pub status: Option<StatusCode>,
    /// Final response headers.
    pub headers: HeaderMap,
    /// Final response body, after response transforms.
    pub body: Bytes,
    /// What the upstream saw; None when it was never called. After a `forward-internal`
    /// hand-off, what the internal endpoint saw.
    pub upstream: Option<UpstreamSaw>,
    /// The internal endpoint `forward-internal` handed the request to, if it did.
    pub forwarded_to: Option<String>,
    /// The exchange, for fired rules, vars, results, logs and issues.
    pub exchange: Exchange,
}

/// Applies transforms to a whole body, feeding it in one chunk.
pub fn apply_transforms(
    transforms: &mut [Box<dyn BodyTransform>],
    body: Bytes,
) -> Result<Bytes, crate::exchange::BodyError> {
    let mut data = body;
    for t in transforms.iter_mut() {
        data = t.transform(data, true)?;
    }
    Ok(data)
}

/// Sends one request through `policy` on `conn`: request phase, fake upstream, response phase.
/// `on_tcp_connect` must already have run on `conn` (see [`Policy::on_tcp_connect`]).
pub async fn exchange(
    policy: &Policy,
    conn: &Connection,
    request: http::request::Parts,
    body: Bytes,
    reply: &UpstreamReply,
) -> Outcome {
    exchange_routed(policy, conn, request, body, reply, &BTreeMap::new()).await
}

/// [`exchange`] where `forward-internal` reaches the `internal` endpoints: a hand-off to one
/// sends the request to its canned answer instead of the upstream (its own policy is not
/// run). With no internal endpoints, every target is offline.
pub async fn exchange_routed(
    policy: &Policy,
    conn: &Connection,
    request: http::request::Parts,
    body: Bytes,
    reply: &UpstreamReply,
    internal: &CannedInternal,
) -> Outcome {
    let ex = Exchange::new(request, Box::new(BufferedBody(body.clone())));
    run_exchange(policy, conn, ex, body, reply, internal).await
}

/// [`exchange`] with the policy trace recorded: `Outcome::exchange.trace` holds the HTTP
/// phases (the connection's own `trace` holds `on_tcp_connect`, if it was set before).
pub async fn exchange_traced(
    policy: &Policy,
    conn: &Connection,
    request: http::request::Parts,
    body: Bytes,
    reply: &UpstreamReply,
) -> Outcome {
    let mut ex = Exchange::new(request, Box::new(BufferedBody(body.clone())));
    ex.trace = Some(Box::default());
    run_exchange(policy, conn, ex, body, reply, &BTreeMap::new()).await
}

/// How the conformance runner sends a request: whole, with `trailers` after its body
/// (`req.trailers` in both phases), and with the policy trace recorded when `traced`.
pub struct SentRequest {
    /// The request head.
    pub head: http::request::Parts,
    /// The whole body.
    pub body: Bytes,
    /// Trailers after the body.
    pub trailers: HeaderMap,
    /// Whether `Outcome::exchange.trace` records the HTTP phases.
    pub traced: bool,
}

/// [`exchange_routed`] for a [`SentRequest`].
pub async fn exchange_sent(
    policy: &Policy,
    conn: &Connection,
    sent: SentRequest,
    reply: &UpstreamReply,
    internal: &CannedInternal,
) -> Outcome {
    let mut ex = Exchange::new(sent.head, Box::new(BufferedBody(sent.body.clone())));
    ex.request_trailers = sent.trailers;
    if sent.traced {
        ex.trace = Some(Box::default());
    }
    run_exchange(policy, conn, ex, sent.body, reply, internal).await
}

async fn run_exchange(
    policy: &Policy,
    conn: &Connection,
    mut ex: Exchange,
    body: Bytes,
    reply: &UpstreamReply,
    internal: &CannedInternal,
) -> Outcome {
    if !internal.is_empty() {
        ex.internal = Some(InternalRouting {
            endpoints: Arc::new(CannedDirectory(internal.clone())),
            visited: vec![conn.endpoint.url.clone()],
        });
    }
    let verdict = policy.on_http_request(conn, &mut ex).await;
    let forwarded_to = ex.forward_target().map(str::to_owned);
    let reply = forwarded_to
        .as_ref()
        .and_then(|url| internal.get(url))
        .unwrap_or(reply);
    let mut upstream = None;
    match verdict {
        RequestVerdict::Close => {
            return Outcome {
                tcp_closed: false,
                closed: true,
                status: None,
                headers: HeaderMap::new(),
                body: Bytes::new(),
                upstream: None,
                forwarded_to: None,
                exchange: ex,
            };
        }
        RequestVerdict::Forward => {
            let sent_body = apply_transforms(&mut ex.request_transforms, body)
                .unwrap_or_else(|e| Bytes::from(e.to_string()));
            upstream = Some(UpstreamSaw {
                method: ex.request.method.clone(),
                path_and_query: ex
                    .request
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into()),
                headers: ex.request.headers.clone(),
                body: sent_body,
            });
            let mut builder = http::Response::builder().status(reply.status);
            if let Some(h) = builder.headers_mut() {
                *h = reply.headers.clone();
            }
            let (parts, ()) = builder
                .body(())
                .unwrap_or_else(|_| http::Response::new(()))
                .into_parts();
            ex.response_trailers = reply.trailers.clone();
            ex.upstream_responded(parts, conn.now());
        }
        RequestVerdict::Responded => {}
    }
    let verdict = policy.on_http_response(conn, &mut ex).await;
    if verdict == ResponseVerdict::Close {
        return Outcome {
            tcp_closed: false,
            closed: true,
            status: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            upstream,
            forwarded_to,
            exchange: ex,
        };
    }
    let raw = ex
        .response_body
        .clone()
        .unwrap_or_else(|| reply.body.clone());
    let body = apply_transforms(&mut ex.response_transforms, raw)
        .unwrap_or_else(|e| Bytes::from(e.to_string()));
    let streamed: Vec<usize> = ex
        .event_stream_fired
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .collect();
    for index in streamed {
        if let Some(rule) = policy.rules(Phase::EventStreamMessage).get(index) {
            ex.fired.push(FiredRule {
                phase: Phase::EventStreamMessage,
                index,
                name: rule.name.clone(),
            });
        }
    }
    let (status, headers) = ex
        .response
        .as_ref()
        .map(|r| (Some(r.status), r.headers.clone()))
        .unwrap_or((None, HeaderMap::new()));
    Outcome {
        tcp_closed: false,
        closed: false,
        status,
        headers,
        body,
        upstream,
        forwarded_to,
        exchange: ex,
    }
}

/// Runs `on_tcp_connect`; true when the policy closed the connection.
pub async fn tcp_connect(policy: &Policy, conn: &mut Connection) -> bool {
    policy.on_tcp_connect(conn).await == TcpVerdict::Close
}

/// Builds a request head: `GET https://app.example.com/path` with headers.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
        .uri(url);
    if let Ok(uri) = url.parse::<http::Uri>()
        && let Some(auth) = uri.authority()
    {
        builder = builder.header(http::header::HOST, auth.as_str());
    }
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let (mut parts, ()) = builder
        .body(())
        .unwrap_or_else(|_| http::Request::new(()))
        .into_parts();
    // Hosts see origin-form URIs; keep only path and query so the URL comes from Host.
    if let Some(pq) = parts.uri.path_and_query().cloned() {
        parts.uri = http::Uri::from(pq);
    }
    parts
}
