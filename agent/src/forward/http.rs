//! The HTTP forwarder: an HTTP/1.1 server on the tunnelled stream that sends each request to
//! the local upstream (http, https, h2c, or the built-in file server), records it for the
//! inspector, and passes upgrades (websockets) through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::capture::{SharedCapture, TeeBody, snapshot};
use super::connector::{UpstreamClient, upstream_client};
use super::headers::{
    capture_head, headers_of, is_upgrade, proto_of, strip_hop_by_hop, unreachable_response,
};
use super::location::{public_scheme, rewrite_locations};
use super::{BoxError, ForwardError, HttpBody, file};
use crate::inspect::live::ReplayTag;
use crate::inspect::trace_join::take_trace_id;
use crate::inspect::{CapturedRequest, CapturedResponse, Exchange, Inspector};
use crate::metrics::{EndpointMetrics, TimedBody};
use crate::upstream::{AppProtocol, Scheme, Target, Upstream};

/// The header naming sluice's own error responses.
pub const ERROR_CODE_HEADER: &str = "sluice-error-code";
/// The code for "the agent could not reach its upstream".
pub const ERR_UPSTREAM_UNREACHABLE: &str = "ERR_SLUICE_8012";

/// The header an edge replay carries so this agent knows the request it gets back: its value
/// is a one-time nonce registered by the local API; the header is removed before the upstream
/// sees it. Requests with an unknown nonce are left alone.
pub const REPLAY_HEADER: &str = "sluice-replay";

/// Marks a request (a replay with trailers) whose `Trailer` header is kept when forwarding, so
/// the upstream connection sends the trailers it declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepTrailerHeader;

/// What `Host` header the upstream sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HostHeader {
    /// The public host, unchanged (the default).
    #[default]
    Preserve,
    /// The upstream's own host and port.
    Rewrite,
    /// A fixed value.
    Custom(String),
}

impl HostHeader {
    /// Reads ngrok's `host_header` value: `preserve`, `rewrite` or a custom host.
    pub fn parse(s: &str) -> Self {
        match s {
            "" | "preserve" => HostHeader::Preserve,
            "rewrite" => HostHeader::Rewrite,
            other => HostHeader::Custom(other.to_string()),
        }
    }
}

/// Options of an HTTP forwarder.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Host header handling.
    pub host_header: HostHeader,
}

struct Inner {
    endpoint: String,
    upstream: Upstream,
    options: HttpOptions,
    /// Shared by all connections, unless each needs its own (PROXY headers).
    client: UpstreamClient,
    inspector: Option<Inspector>,
    /// Counts the requests served from the tunnel (not replays).
    metrics: EndpointMetrics,
}

/// Forwards HTTP connections of one endpoint to its upstream. Cheap to clone.
#[derive(Clone)]
pub struct HttpForwarder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpForwarder")
            .field("endpoint", &self.inner.endpoint)
            .field("upstream", &self.inner.upstream.to_string())
            .finish()
    }
}

impl HttpForwarder {
    /// A forwarder for endpoint `endpoint` (its name, for the inspector) to an HTTP, HTTPS or
    /// file upstream; `inspector` records exchanges when given.
    pub fn new(
        endpoint: impl Into<String>,
        upstream: Upstream,
        options: HttpOptions,
        inspector: Option<Inspector>,
    ) -> Result<Self, ForwardError> {
        if !upstream.is_http() {
            return Err(ForwardError::NotSupported(upstream.to_string()));
        }
        let client = upstream_client(&upstream, None)?;
        Ok(HttpForwarder {
            inner: Arc::new(Inner {
                endpoint: endpoint.into(),
                upstream,
                options,
                client,
                inspector,
                metrics: EndpointMetrics::new(),
            }),
        })
    }

    /// The upstream this forwarder serves.
    pub fn upstream(&self) -> &Upstream {
        &self.inner.upstream
    }

    /// The endpoint's traffic metrics (its connections and the requests served on them).
    pub fn metrics(&self) -> &EndpointMetrics {
        &self.inner.metrics
    }

    /// Serves HTTP/1.1 on `stream` (one tunnelled public connection) until it closes.
    pub async fn serve_connection<S>(
        &self,
        stream: S,
        client_addr: SocketAddr,
    ) -> Result<(), ForwardError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let this = self.clone();
        let client = self.client_for(client_addr)?;
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let this = this.clone();
            let client = client.clone();
            async move {
                let started = Instant::now();
                let metrics = this.inner.metrics.clone();
                metrics.request_started(started);
                let resp = this.handle_via(req, client_addr, &client).await;
                let resp = resp.map(|b| TimedBody::wrap(b, metrics, started));
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
            .await
            .map_err(|e| ForwardError::Http(e.to_string()))
    }

    /// The client for requests of public client `client_addr`: the shared one, or with PROXY
    /// headers a client of its own whose connections name it.
    fn client_for(&self, client_addr: SocketAddr) -> Result<UpstreamClient, ForwardError> {
        if self.inner.upstream.proxy_protocol.is_some() {
            upstream_client(&self.inner.upstream, Some(client_addr))
        } else {
            Ok(self.inner.client.clone())
        }
    }

    /// Forwards one request and returns the response to send back (a 502 with
    /// `sluice-error-code: ERR_SLUICE_8012` when the upstream cannot be reached).
    pub async fn handle<B>(&self, req: Request<B>, client_addr: SocketAddr) -> Response<HttpBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        match self.client_for(client_addr) {
            Ok(client) => self.handle_via(req, client_addr, &client).await,
            Err(e) => unreachable_response(&self.inner.upstream, &e.into()),
        }
    }

    async fn handle_via<B>(
        &self,
        mut req: Request<B>,
        client_addr: SocketAddr,
        client: &UpstreamClient,
    ) -> Response<HttpBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let start = Utc::now();
        let trace_id = take_trace_id(req.headers_mut());
        let limit = self.inner.inspector.as_ref().map(|i| i.limits().body_limit);
        let tag = self.replay_tag(&mut req);
        let head = capture_head(&req);
        let req_capture = SharedCapture::default();
        let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let req = req.map(|b| {
            let body = b.map_err(Into::into).boxed_unsync();
            match limit {
                Some(limit) => TeeBody::wrap(body, req_capture.clone(), limit, None),
                None => body,
            }
        });
        let mut resp = match self.send(req, client).await {
            Ok(resp) => resp,
            Err(err) => unreachable_response(&self.inner.upstream, &err),
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_upgrade) = client_upgrade
        {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                if let (Ok(a), Ok(b)) = (client_upgrade.await, upstream_upgrade.await) {
                    let _ =
                        tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b))
                            .await;
                }
            });
        }
        let (Some(inspector), Some(limit)) = (self.inner.inspector.clone(), limit) else {
            return resp;
        };
        let (status, proto, headers) = (
            resp.status().as_u16(),
            proto_of(resp.version()),
            headers_of(resp.headers()),
        );
        let resp_capture = SharedCapture::default();
        let endpoint = self.inner.endpoint.clone();
        let rc = resp_capture.clone();
        let on_end = move || {
            let (body, body_size, truncated) = snapshot(&req_capture);
            let (rbody, rsize, rtrunc) = snapshot(&rc);
            let request = CapturedRequest {
                body,
                body_size,
                truncated,
                ..head
            };
            let (id, replay) = match tag {
                Some(t) => (t.id, Some(t.mark)),
                None => (inspector.next_id(), None),
            };
            let exchange = Exchange {
                id,
                replay,
                endpoint,
                remote_addr: client_addr,
                start,
                duration: started.elapsed(),
                request,
                response: Some(CapturedResponse {
                    status,
                    proto,
                    headers,
                    body: rbody,
                    body_size: rsize,
                    truncated: rtrunc,
                }),
                trace: None,
                client_tls: None,
            };
            inspector.record_traced(exchange, trace_id);
        };
        resp.map(|b| TeeBody::wrap(b, resp_capture, limit, Some(Box::new(on_end))))
    }

    /// The replay tag of a request: set by [`replay_tagged`](Self::replay_tagged) as an
    /// extension, or named by an edge replay's nonce header (then removed).
    fn replay_tag<B>(&self, req: &mut Request<B>) -> Option<ReplayTag> {
        if let Some(tag) = req.extensions_mut().remove::<ReplayTag>() {
            return Some(tag);
        }
        let inspector = self.inner.inspector.as_ref()?;
        let nonce = req.headers().get(REPLAY_HEADER)?.to_str().ok()?;
        let tag = inspector.live().take_ticket(nonce)?;
        req.headers_mut().remove(REPLAY_HEADER);
        Some(tag)
    }

    /// Sends `req` straight to the upstream as a replay recorded under `tag`, drains the
    /// response (so the exchange is recorded with its body) and returns its status.
    pub async fn replay_tagged<B>(
        &self,
        mut req: Request<B>,
        client_addr: SocketAddr,
        tag: Option<ReplayTag>,
    ) -> StatusCode
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        if let Some(tag) = tag {
            req.extensions_mut().insert(tag);
        }
        let resp = self.handle(req, client_addr).await;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        status
    }

    /// Re-sends a recorded request straight to the upstream (bypassing the edge and its policy)
    /// and returns the upstream's status. The replay is recorded like any exchange.
    pub async fn replay(
        &self,
        recorded: &CapturedRequest,
        client_addr: SocketAddr,
    ) -> Result<StatusCode, ForwardError> {
        self.replay_marked(recorded, client_addr, None).await
    }

    /// [`replay`](Self::replay), recorded under `tag` when given.
    pub async fn replay_marked(
        &self,
        recorded: &CapturedRequest,
        client_addr: SocketAddr,
        tag: Option<ReplayTag>,
    ) -> Result<StatusCode, ForwardError> {
        let mut builder = Request::builder()
            .method(recorded.method.as_str())
            .uri(recorded.uri.as_str());
        // The body may have been truncated: its length is set from what was kept.
        let framing = |k: &str| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        };
        for (k, v) in recorded.headers.iter().filter(|(k, _)| !framing(k)) {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder
            .body(Full::new(recorded.body.clone()))
            .map_err(|e| ForwardError::Http(e.to_string()))?;
        Ok(self.replay_tagged(req, client_addr, tag).await)
    }

    async fn send(
        &self,
        req: Request<HttpBody>,
        client: &UpstreamClient,
    ) -> Result<Response<HttpBody>, BoxError> {
        let upstream = &self.inner.upstream;
        let (mut parts, body) = req.into_parts();
        if let Target::File(root) = &upstream.target {
            return Ok(file::serve(root, &parts.method, &parts.uri, &parts.headers).await);
        }
        let scheme = if upstream.scheme == Scheme::Https {
            "https"
        } else {
            "http"
        };
        let public_host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()));
        let rewritten = match &self.inner.options.host_header {
            HostHeader::Preserve => None,
            HostHeader::Rewrite => Some(upstream.authority()),
            HostHeader::Custom(h) => Some(h.clone()),
        };
        let h2 = upstream.protocol == AppProtocol::Http2;
        // HTTP/2 has one host, `:authority`, taken from the URI: it must be the host the
        // upstream is to see, so `Host` goes. The connector dials the upstream regardless.
        let authority = match (h2, &rewritten, &public_host) {
            (true, Some(host), _) | (true, None, Some(host)) => host.clone(),
            _ => upstream.authority(),
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{scheme}://{authority}{path}").parse::<Uri>()?;
        let upgrade = is_upgrade(&parts.headers) && upstream.protocol == AppProtocol::Http1;
        let declared_trailers = parts
            .extensions
            .get::<KeepTrailerHeader>()
            .and_then(|_| parts.headers.get(header::TRAILER).cloned());
        strip_hop_by_hop(&mut parts.headers, upgrade);
        if let Some(names) = declared_trailers {
            parts.headers.insert(header::TRAILER, names);
        }
        if h2 {
            parts.headers.remove(header::HOST);
        } else if let Some(host) = &rewritten {
            parts
                .headers
                .insert(header::HOST, HeaderValue::try_from(host.as_str())?);
        }
        let client_scheme = public_scheme(&parts.headers);
        parts.version = Version::HTTP_11;
        let resp = client.request(Request::from_parts(parts, body)).await?;
        let (mut parts, body) = resp.into_parts();
        if parts.status != StatusCode::SWITCHING_PROTOCOLS {
            strip_hop_by_hop(&mut parts.headers, false);
        }
        // The edge speaks HTTP/1.1 to this agent whatever the upstream spoke (an HTTP/1.0
        // `python3 -m http.server` must not turn the public answer into HTTP/1.0).
        parts.version = Version::HTTP_11;
        if let (Some(host), Some(public)) = (&rewritten, &public_host) {
            rewrite_locations(&mut parts.headers, host, client_scheme, public);
        }
        // An upstream can never set sluice's error header.
        parts.headers.remove(ERROR_CODE_HEADER);
        Ok(Response::from_parts(
            parts,
            body.map_err(Into::into).boxed_unsync(),
        ))
    }
}
