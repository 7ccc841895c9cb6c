//! Runs one exchange through a policy in-process, with a fake upstream: the shared core of
//! `sluice policy test`, the conformance suite and the actions' own tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::engine::{RequestVerdict, ResponseVerdict, TcpVerdict};
use crate::exchange::{
    BodyTransform, BufferedBody, Clock, ConnInfo, Connection, EndpointInfo, Exchange, FiredRule,
    TlsInfo,
};
use crate::internal::{
    InternalCall, InternalCallError, InternalCallFuture, InternalEndpoints, InternalRouting,
};
use crate::phase::{Phase, Protocol};
use crate::policy::Policy;

/// A clock that stands still until moved: virtual time for rate limits and breakers.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock at a fixed, arbitrary instant (2026-01-01T00:00:00Z).
    pub fn new() -> Self {
        ManualClock {
            now: Mutex::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)),
        }
    }
    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.now
            .lock()
            .map(|n| *n)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// The connection a test request arrives on.
#[derive(Debug, Clone)]
pub struct TestConn {
    /// Client address.
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
    /// TLS server name, when the connection is TLS.
    pub sni: Option<String>,
    /// The client's certificate (mutual TLS), for `conn.tls.client.*`.
    pub client_certificate: Option<Arc<crate::PeerCertificate>>,
}

impl Default for TestConn {
    fn default() -> Self {
        TestConn {
            client: SocketAddr::from(([203, 0, 113, 7], 50000)),
            server: SocketAddr::from(([127, 0, 0, 1], 443)),
            sni: None,
            client_certificate: None,
        }
    }
}

/// The endpoint for a test, from its URL (`https://app.example.com`).
pub fn endpoint(url: &str) -> EndpointInfo {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let protocol = Protocol::parse(scheme).unwrap_or(Protocol::Https);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(443)),
        _ => (
            host_port.to_string(),
            match protocol {
                Protocol::Http => 80,
                _ => 443,
            },
        ),
    };
    EndpointInfo {
        id: "ep_test".into(),
        url: format!("{scheme}://{host_port}"),
        protocol,
        host,
        port,
    }
}

/// Makes a connection's policy state.
pub fn connection(conn: &TestConn, endpoint: EndpointInfo, clock: Arc<dyn Clock>) -> Connection {
    let started = clock.now();
    Connection::new(
        ConnInfo {
            client: conn.client,
            server: conn.server,
            tls: (conn.sni.is_some() || conn.client_certificate.is_some()).then(|| TlsInfo {
                sni: conn.sni.clone(),
                // As the edge's rustls listener names them.
                version: Some("TLSv1_3".into()),
                cipher_suite: Some("TLS13_AES_128_GCM_SHA256".into()),
                alpn: None,
                client: conn.client_certificate.clone(),
            }),
            started,
        },
        Arc::new(endpoint),
        clock,
    )
}

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

/// Canned internal endpoints: each online URL (as [`crate::internal::internal_url`] spells
/// it) and its answer.
pub type CannedInternal = BTreeMap<String, UpstreamReply>;

/// The canned internal endpoints, as `forward-internal` and `http-request` reach them: a call
/// gets the endpoint's canned answer (its own policy is not run).
struct CannedDirectory(CannedInternal);

impl InternalEndpoints for CannedDirectory {
    fn is_online(&self, url: &str) -> bool {
        self.0.contains_key(url)
    }

    fn call(&self, call: InternalCall) -> InternalCallFuture {
        let reply = self.0.get(&call.url).cloned();
        Box::pin(async move {
            if call.visited.contains(&call.url) {
                return Err(InternalCallError::Loop(call.url));
            }
            let reply = reply.ok_or(InternalCallError::Offline(call.url))?;
            if reply.body.len() > call.max_body {
                return Err(InternalCallError::TooLarge(call.max_body));
            }
            let mut response = http::Response::new(reply.body);
            *response.status_mut() = reply.status;
            *response.headers_mut() = reply.headers;
            Ok(response)
        })
    }
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
