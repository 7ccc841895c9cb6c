//! The request phase: the connection's record and policy state, routing by Host, and
//! `on_http_request` with the engine's body reads served from the session.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::StatusCode;
use http::header::HOST;
use pingora::Result;
use pingora::proxy::Session;
use sluice_policy::{
    BodyError, ConnInfo, Connection, ERROR_CODE_HEADER, Exchange, Phase, Policy, RequestVerdict,
    ResponseVerdict, TcpVerdict,
};
use tokio::sync::mpsc;

use super::body_limits::arm;
use super::headers::{accept_of, host_of};
use super::response::{write_response, write_synthetic};
use super::{
    BodyFailure, Ctx, EdgeService, body_error, closed_by_policy, internal, run_transforms,
};
use crate::body::{HOST_BUFFER_LIMIT, ReadRequest, ReadState, SessionBody};
use crate::body_pace::BodyPace;
use crate::body_watch::BodyWatch;
use crate::config::{Endpoint, Target};
use crate::conn::{ConnRecord, EndpointConn};
use crate::conn_handle;
use crate::errors;

/// Serves the engine's body reads from the session until `limit` (capped at what the edge can
/// forward afterwards) is passed, each read within what the body timeouts allow.
async fn read_body(
    session: &mut Session,
    st: &mut ReadState,
    limit: usize,
    pace: &mut Option<BodyPace>,
) -> Result<Bytes, BodyError> {
    let cap = limit.min(HOST_BUFFER_LIMIT);
    if st.broken {
        return Err(BodyError::TooLarge { limit: cap });
    }
    // Pingora forwards what was read here from its retry buffer.
    session.as_mut().enable_retry_buffering();
    while !st.done {
        if let Some(p) = pace.as_ref()
            && !arm(session, p)
        {
            st.broken = true;
            st.timed_out = true;
            return Err(BodyError::Failed("the request body came too slowly".into()));
        }
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if let Some(p) = pace.as_mut() {
                    p.record(chunk.len());
                }
                st.bytes.extend_from_slice(&chunk);
                if st.bytes.len() > cap {
                    st.broken = true;
                    st.too_large = true;
                    return Err(BodyError::TooLarge { limit: cap });
                }
            }
            Ok(None) => st.done = true,
            Err(e) => {
                st.broken = true;
                st.timed_out = *e.etype() == pingora::ErrorType::ReadTimedout;
                return Err(BodyError::Failed(format!("reading the request body: {e}")));
            }
        }
    }
    if st.bytes.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(st.bytes.clone().freeze())
}

/// Runs `policy`'s request phase on `ex`, serving the body reads it sends on `reads` from
/// the session (`read` keeps what was read, so a later policy's reads see the same bytes).
pub(super) async fn run_request_policy(
    session: &mut Session,
    policy: &Policy,
    conn: &Connection,
    ex: &mut Exchange,
    mut reads: mpsc::Receiver<ReadRequest>,
    read: &mut ReadState,
    pace: &mut Option<BodyPace>,
) -> RequestVerdict {
    let phase = policy.on_http_request(conn, ex);
    tokio::pin!(phase);
    loop {
        tokio::select! {
            v = &mut phase => break v,
            Some((limit, reply)) = reads.recv() => {
                let r = read_body(session, read, limit, pace).await;
                let _ = reply.send(r);
            }
        }
    }
}

impl EdgeService {
    /// Takes the record of this request's connection from the session (see
    /// [`crate::conn_handle`]) and counts the request on it.
    pub(super) fn attach_record(&self, session: &Session, ctx: &mut Ctx) {
        if let Some(record) = conn_handle::of_session(session) {
            record.header_done();
            record
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ctx.record = Some(record);
        }
    }

    /// Routes by Host and runs the request phase; `true` when the edge has answered.
    pub(super) async fn request_phase(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let host = host_of(session.req_header());
        let Some(ep) = self.sni_endpoint(ctx, &host).or_else(|| self.lookup(&host)) else {
            ctx.error_code = Some(errors::ENDPOINT_NOT_FOUND);
            let name = crate::routes::normalize(&host);
            let page = errors::error_page(
                StatusCode::NOT_FOUND,
                errors::ENDPOINT_NOT_FOUND,
                &format!("The endpoint {name} is offline."),
                accept_of(session).as_deref(),
            );
            write_synthetic(session, page, ctx).await?;
            return Ok(true);
        };
        ctx.endpoint = Some(ep.clone());
        self.start_pace(session, ctx);
        let Some(conn) = self.connection(session, ctx, &ep).await else {
            ctx.close = true;
            return Err(closed_by_policy());
        };
        ctx.conn = Some(conn.clone());

        let mut parts = session.req_header().as_owned_parts();
        if parts.uri.authority().is_some() {
            // Absolute-form or HTTP/2: the engine sees origin-form plus a Host header.
            if !parts.headers.contains_key(HOST)
                && let Some(a) = parts.uri.authority()
                && let Ok(v) = http::HeaderValue::from_str(a.as_str())
            {
                parts.headers.insert(HOST, v);
            }
            if let Some(pq) = parts.uri.path_and_query().cloned() {
                parts.uri = http::Uri::from(pq);
            }
        }
        let (source, reads) = SessionBody::channel();
        let mut ex = Exchange::new(parts, Box::new(source));
        super::trace::start_exchange(&ep, &mut ex);
        if !ep.policy.rules(Phase::HttpRequest).is_empty() {
            ex.internal = Some(self.internal_routing(&ep, vec![ep.info.url.clone()]));
        }
        let mut read = ReadState::default();
        let mut pace = ctx.pace.take();
        let verdict = run_request_policy(
            session, &ep.policy, &conn, &mut ex, reads, &mut read, &mut pace,
        )
        .await;
        ctx.ex = Some(Mutex::new(ex));
        let verdict = self
            .follow_handoffs(session, ctx, verdict, &mut read, &mut pace)
            .await;
        ctx.pace = pace;
        if read.done || read.broken {
            // Nothing more is awaited from the client here (Pingora forwards what was read).
            BodyWatch::arm(None);
        }
        let failure = if read.timed_out {
            Some(BodyFailure::TimedOut)
        } else if read.broken {
            Some(BodyFailure::TooLarge)
        } else {
            None
        };
        if let Some(failure) = failure
            && !matches!(verdict, RequestVerdict::Close)
        {
            // The body was partly consumed for an action and cannot be forwarded whole; the
            // action's own answer to the failed read (a 500, a 403) would hide the cause.
            ctx.body_failure = Some(failure);
            ctx.error_code = Some(failure.answer().1);
            let page = failure.page(accept_of(session).as_deref());
            failure.settle_connection(session);
            write_synthetic(session, page, ctx).await?;
            return Ok(true);
        }
        match verdict {
            RequestVerdict::Forward => {
                let Some(last) = ctx.upstream_endpoint() else {
                    return Ok(false);
                };
                if !matches!(last.upstream.target, Target::PolicyOnly) {
                    return Ok(false);
                }
                // An endpoint without upstream whose policy let the request through (a
                // failed `forward-internal` with `on_error: continue`): nothing serves it.
                ctx.error_code = Some(errors::ENDPOINT_NOT_FOUND);
                let page = errors::error_page(
                    StatusCode::NOT_FOUND,
                    errors::ENDPOINT_NOT_FOUND,
                    &format!("The endpoint {} is offline.", last.info.url),
                    accept_of(session).as_deref(),
                );
                write_synthetic(session, page, ctx).await?;
                Ok(true)
            }
            RequestVerdict::Close => {
                ctx.close = true;
                self.shared
                    .metrics
                    .policy_closed(&ep.info.id, "on_http_request");
                Err(closed_by_policy())
            }
            RequestVerdict::Responded => {
                // A response made in the request phase still runs the response phase (of
                // each endpoint the request went through, the innermost first).
                let v = self.respond_through(ctx).await.map_err(body_error)?;
                if v == ResponseVerdict::Close {
                    ctx.close = true;
                    self.shared
                        .metrics
                        .policy_closed(&ep.info.id, "on_http_response");
                    return Err(closed_by_policy());
                }
                let ex = ctx
                    .exchange()
                    .ok_or_else(|| internal("the exchange went missing"))?;
                let raw = ex.response_body.take().unwrap_or_default();
                let body =
                    run_transforms(&mut ex.response_transforms, raw, true).map_err(body_error)?;
                let parts = ex
                    .response
                    .take()
                    .ok_or_else(|| internal("the policy responded without a response"))?;
                if let Some(code) = parts
                    .headers
                    .get(ERROR_CODE_HEADER)
                    .and_then(|v| v.to_str().ok())
                {
                    ctx.error_code = code
                        .strip_prefix("ERR_SLUICE_")
                        .and_then(|n| n.parse().ok());
                }
                self.shared
                    .metrics
                    .policy_response(&ep.info.id, parts.status.as_u16());
                write_response(session, &parts, body, ctx).await?;
                Ok(true)
            }
        }
    }

    /// The endpoint whose `on_tcp_connect` ran before the connection's handshake, when the
    /// request's Host is the SNI it was chosen by and the name still routes to that URL (a
    /// reload or an unbind since then falls back to the normal lookup).
    fn sni_endpoint(&self, ctx: &Ctx, host: &str) -> Option<Arc<Endpoint>> {
        let record = ctx.record.as_ref()?;
        let ep = record.https_endpoint.as_ref()?;
        let sni = record.tls.as_ref()?.sni.as_deref()?;
        if crate::routes::normalize(sni) != crate::routes::normalize(host) {
            return None;
        }
        let current = self.shared.peek_http_endpoint(self.scheme, host)?;
        (current.info.url == ep.info.url).then(|| ep.clone())
    }

    /// Finds or makes the connection's policy state for `ep`, running `on_tcp_connect` once
    /// per TCP connection.
    async fn connection(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        ep: &Arc<Endpoint>,
    ) -> Option<Arc<Connection>> {
        let Some(record) = ctx.record.clone() else {
            // Not from the edge's accept loop: policy state per request.
            return self.new_connection(session, ep, None).await.map(|e| e.conn);
        };
        let mut endpoints = record.endpoints.lock().await;
        if let Some(ec) = endpoints.get(&ep.info.id) {
            return (!ec.closed).then(|| ec.conn.clone());
        }
        let ec = self.new_connection(session, ep, Some(&record)).await?;
        endpoints.insert(ep.info.id.clone(), ec.clone());
        if ec.closed {
            self.shared
                .metrics
                .policy_closed(&ep.info.id, "on_tcp_connect");
            return None;
        }
        Some(ec.conn)
    }

    /// Runs `on_tcp_connect` for a new connection to `ep`.
    async fn new_connection(
        &self,
        session: &Session,
        ep: &Arc<Endpoint>,
        record: Option<&ConnRecord>,
    ) -> Option<EndpointConn> {
        let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .copied()
            .unwrap_or(unspecified);
        let server = session
            .server_addr()
            .and_then(|a| a.as_inet())
            .copied()
            .unwrap_or(unspecified);
        let info = ConnInfo {
            client: record.map_or(client, |r| r.client),
            server: record.map_or(server, |r| r.server),
            tls: record.and_then(|r| r.tls.clone()),
            started: record.map_or_else(|| self.clock.now(), |r| r.started_at),
        };
        let mut conn = Connection::new(info, ep.info.clone(), self.clock.clone());
        super::trace::start_connection(ep, &mut conn);
        let verdict = ep.policy.on_tcp_connect(&mut conn).await;
        let mut closed = verdict == TcpVerdict::Close;
        if !closed && let Some(why) = unmet_termination(&conn, record) {
            tracing::debug!("{}: {why}", conn.info.client);
            if let Some(r) = record {
                let _ = r.close_reason.set(why);
            }
            closed = true;
        }
        Some(EndpointConn {
            conn: Arc::new(conn),
            closed,
        })
    }
}

/// Why `terminate-tls` options an endpoint's `on_tcp_connect` gave after the connection's
/// handshake cannot hold: its TLS was negotiated for another name (HTTP/2 connection reuse,
/// or a Host that differs from the SNI), with other options. Refused rather than ignored, so
/// a client cannot skip an endpoint's mutual TLS by naming another endpoint in its SNI.
fn unmet_termination(conn: &Connection, record: Option<&ConnRecord>) -> Option<String> {
    let asked = conn.tls_termination.as_ref()?;
    if conn.tls_handshaken || asked.is_default() {
        return None;
    }
    let used = record.and_then(|r| r.https_termination.get());
    if used.is_some_and(|u| **u == **asked) {
        return None;
    }
    Some(format!(
        "terminate-tls options of {} cannot apply: this connection's TLS was negotiated for \
         another name; closed",
        conn.endpoint.url
    ))
}
