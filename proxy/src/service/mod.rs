//! The `ProxyHttp` implementation: adapts Pingora's session to the policy engine's plain `http`
//! values and back, the way `sluice_policy::harness` drives an exchange in-process.
//!
//! Per TCP connection (its [`ConnRecord`], carried with the session), one [`Connection`] per
//! endpoint, made and run through `on_tcp_connect` on the first request for that endpoint, so
//! it runs once per connection however many requests (or HTTP/2 streams) follow. Per request,
//! one [`Exchange`]: `on_http_request` in `request_filter`, `on_http_response` in
//! `response_filter` (or right away when the request phase answered), body transforms chunk by
//! chunk in the body filters (nothing is buffered). Hop-by-hop headers are stripped both ways,
//! except a websocket upgrade's.

mod acme_challenge;
mod body_limits;
mod client_cert;
mod event;
mod failure;
mod forwarded;
mod headers;
pub(crate) mod internal;
mod internal_call;
mod request;
mod response;
mod strict;
mod trace;
mod upstream;

pub(crate) use trace::start_connection as start_connection_trace;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use sluice_policy::{BodyError, BodyTransform, Clock, Connection, Exchange, SystemClock};

use crate::body_pace::BodyPace;
use crate::config::{Endpoint, Scheme};
use crate::conn::ConnRecord;
use crate::errors;
use crate::state::Shared;
use strict::Refusal;

/// The edge's HTTP service for one listener (http or https).
pub struct EdgeService {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    scheme: Scheme,
}

impl std::fmt::Debug for EdgeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeService")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl EdgeService {
    /// A service routing over the shared (reloadable) state's endpoints for `scheme`.
    pub fn new(shared: Arc<Shared>, scheme: Scheme) -> Self {
        EdgeService {
            shared,
            clock: Arc::new(SystemClock),
            scheme,
        }
    }

    fn scheme_str(&self) -> &'static str {
        match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn lookup(&self, host: &str) -> Option<Arc<Endpoint>> {
        self.shared.http_endpoint(self.scheme, host)
    }
}

/// Whether a `Host` value (port allowed) is an IP address or `localhost`: how a client names
/// the embedded edge when it does not resolve `*.localhost`.
/// Per-request state.
pub struct Ctx {
    /// The record of the connection the request came on.
    record: Option<Arc<ConnRecord>>,
    endpoint: Option<Arc<Endpoint>>,
    conn: Option<Arc<Connection>>,
    /// The exchange (in a mutex only to be `Sync`; always reached with `get_mut`).
    ex: Option<Mutex<Exchange>>,
    /// The internal endpoints `forward-internal` handed the request to, in order.
    hops: Vec<internal::Hop>,
    /// The policy asked to close the connection.
    close: bool,
    /// A body replacing the upstream's (the response phase made the response).
    replacement: Option<Bytes>,
    replacing: bool,
    started: Instant,
    bytes_out: u64,
    error_code: Option<u16>,
    /// The request was refused before routing (answered by `fail_to_proxy`).
    refusal: Option<Refusal>,
    /// The request body's progress against the body timeouts, once a body is expected.
    pace: Option<BodyPace>,
    /// Why the request body could not be taken, if it could not.
    body_failure: Option<BodyFailure>,
    /// Error responses also carry `ngrok-error-code` (the edge config's opt-in).
    ngrok_error_code: bool,
    /// The trace id sent upstream with a traced request (see [`trace`]).
    trace_id: Option<u64>,
    /// In a cluster: the edge to dial instead of the placement's, after that one failed
    /// (the agent moved there; see [`crate::cluster::Cluster::moved_to`]).
    edge_retry: Option<Arc<crate::cluster::PeerRoute>>,
    /// The request's stream to an agent, kept for the client's next request if it ends clean.
    stream_lease: Option<Arc<dyn crate::tunnel::Lease>>,
}

/// Why the edge stopped taking a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFailure {
    /// Larger than an action may buffer (413, `ERR_SLUICE_3904`).
    TooLarge,
    /// Stalled or slower than the minimum rate (408, `ERR_SLUICE_3909`).
    TimedOut,
}

impl Ctx {
    fn exchange(&mut self) -> Option<&mut Exchange> {
        self.ex.as_mut().and_then(|m| m.get_mut().ok())
    }
}

fn internal(context: impl Into<String>) -> Box<Error> {
    Error::explain(ErrorType::InternalError, context.into())
}

fn closed_by_policy() -> Box<Error> {
    let mut e = Error::explain(
        ErrorType::ConnectionClosed,
        "connection closed by the traffic policy",
    );
    e.esource = ErrorSource::Downstream;
    e
}

fn body_error(e: BodyError) -> Box<Error> {
    internal(format!("body transform failed: {e}"))
}

/// Feeds a chunk through transforms in order.
fn run_transforms(
    transforms: &mut [Box<dyn BodyTransform>],
    chunk: Bytes,
    end: bool,
) -> Result<Bytes, BodyError> {
    let mut data = chunk;
    for t in transforms.iter_mut() {
        data = t.transform(data, end)?;
    }
    Ok(data)
}

#[async_trait]
impl ProxyHttp for EdgeService {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            record: None,
            endpoint: None,
            conn: None,
            ex: None,
            hops: Vec::new(),
            close: false,
            replacement: None,
            replacing: false,
            started: Instant::now(),
            bytes_out: 0,
            error_code: None,
            refusal: None,
            pace: None,
            body_failure: None,
            ngrok_error_code: self.shared.state.load().ngrok_error_code,
            trace_id: None,
            edge_retry: None,
            stream_lease: None,
        }
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        self.attach_record(session, ctx);
        if let Err(refusal) = strict::check_request(session) {
            self.shared
                .metrics
                .malformed_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut e = Error::explain(
                ErrorType::HTTPStatus(refusal.status.as_u16()),
                refusal.message.clone(),
            );
            e.esource = ErrorSource::Downstream;
            ctx.refusal = Some(refusal);
            return Err(e);
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if self.answer_acme_challenge(session, ctx).await? {
            return Ok(true);
        }
        self.request_phase(session, ctx).await
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let client = session.client_addr().and_then(|a| a.as_inet()).copied();
        Self::peer(ctx, client)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<pingora::Error>,
    ) -> Box<pingora::Error> {
        if ctx.edge_retry.is_none()
            && let Some(route) = self.moved_agent(ctx)
        {
            ctx.edge_retry = Some(route);
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        // A kept tunnel stream counts as a reused connection: one the agent closed just as
        // the request went out is retried on a new stream, as Pingora does for its own pool.
        let reused = client_reused || ctx.stream_lease.as_ref().is_some_and(|l| l.reused());
        let mut e = e.more_context(format!("Peer: {peer}"));
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(reused);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.upstream_request(session, upstream_request, ctx)
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        Self::pace_body(
            session,
            body.as_ref().map_or(0, Bytes::len),
            end_of_stream,
            ctx,
        )?;
        Self::request_body(body, end_of_stream, ctx)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.response_phase(session, upstream_response, ctx).await?;
        if ctx.ngrok_error_code {
            // Only the edge's (or an agent's) own code is mirrored, never an upstream's header.
            upstream_response.remove_header(errors::NGROK_ERROR_CODE_HEADER);
            if let Some(code) = errors::ngrok_code(&upstream_response.headers) {
                upstream_response.insert_header(errors::NGROK_ERROR_CODE_HEADER, code)?;
            }
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        Self::response_body(body, end_of_stream, ctx)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        self.fail(session, e, ctx).await
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        if let Some(lease) = ctx.stream_lease.take()
            && lease.finish(e.is_none())
            && let Some(record) = &ctx.record
        {
            record.stream_kept(lease);
        }
        trace::report(session, ctx);
        self.emit_event(session, ctx);
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, _error: &Error) -> bool {
        // Closed by policy, or the client's fault (answered with a 4xx and counted).
        ctx.close || ctx.refusal.is_some() || ctx.body_failure.is_some()
    }
}
