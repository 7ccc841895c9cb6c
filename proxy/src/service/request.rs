//! The request phase: the connection's meter and policy state, routing by Host, and
//! `on_http_request` with the engine's body reads served from the session.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::StatusCode;
use http::header::HOST;
use pingora::Result;
use pingora::proxy::Session;
use sluice_policy::{
    BodyError, ConnInfo, Connection, ERROR_CODE_HEADER, Exchange, RequestVerdict, ResponseVerdict,
    TcpVerdict,
};

use super::headers::{accept_of, host_of};
use super::response::{write_response, write_synthetic};
use super::{Ctx, EdgeService, body_error, closed_by_policy, internal, run_transforms};
use crate::body::{HOST_BUFFER_LIMIT, ReadState, SessionBody};
use crate::config::Endpoint;
use crate::conn::{ConnMeter, EndpointConn};
use crate::errors;

/// Serves the engine's body reads from the session until `limit` (capped at what the edge can
/// forward afterwards) is passed.
async fn read_body(
    session: &mut Session,
    st: &mut ReadState,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let cap = limit.min(HOST_BUFFER_LIMIT);
    if st.broken {
        return Err(BodyError::TooLarge { limit: cap });
    }
    // Pingora forwards what was read here from its retry buffer.
    session.as_mut().enable_retry_buffering();
    while !st.done {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                st.bytes.extend_from_slice(&chunk);
                if st.bytes.len() > cap {
                    st.broken = true;
                    return Err(BodyError::TooLarge { limit: cap });
                }
            }
            Ok(None) => st.done = true,
            Err(e) => {
                st.broken = true;
                return Err(BodyError::Failed(format!("reading the request body: {e}")));
            }
        }
    }
    if st.bytes.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(st.bytes.clone().freeze())
}

impl EdgeService {
    /// Finds this TCP connection's meter (from the accept loop) and counts the request.
    pub(super) fn attach_meter(&self, session: &Session, ctx: &mut Ctx) {
        let client = session.client_addr().and_then(|a| a.as_inet()).copied();
        let server = session.server_addr().and_then(|a| a.as_inet()).copied();
        if let (Some(c), Some(s)) = (client, server)
            && let Some(meter) = self.shared.conns.get(c, s)
        {
            meter.header_done();
            meter
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ctx.meter = Some(meter);
        }
    }

    /// Routes by Host and runs the request phase; `true` when the edge has answered.
    pub(super) async fn request_phase(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let host = host_of(session.req_header());
        let Some(ep) = self.lookup(&host) else {
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
        let (source, mut reads) = SessionBody::channel();
        let mut ex = Exchange::new(parts, Box::new(source));
        let mut read = ReadState::default();
        let verdict = {
            let phase = ep.policy.on_http_request(&conn, &mut ex);
            tokio::pin!(phase);
            loop {
                tokio::select! {
                    v = &mut phase => break v,
                    Some((limit, reply)) = reads.recv() => {
                        let r = read_body(session, &mut read, limit).await;
                        let _ = reply.send(r);
                    }
                }
            }
        };
        match verdict {
            RequestVerdict::Forward => {
                if read.broken {
                    // The body was partly consumed for an action and cannot be forwarded whole.
                    ctx.ex = Some(Mutex::new(ex));
                    ctx.error_code = Some(errors::BODY_TOO_LARGE);
                    let page = errors::error_page(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        errors::BODY_TOO_LARGE,
                        &format!(
                            "The request body is larger than the {HOST_BUFFER_LIMIT} bytes the edge buffers for the traffic policy."
                        ),
                        accept_of(session).as_deref(),
                    );
                    write_synthetic(session, page, ctx).await?;
                    return Ok(true);
                }
                ctx.ex = Some(Mutex::new(ex));
                Ok(false)
            }
            RequestVerdict::Close => {
                ctx.ex = Some(Mutex::new(ex));
                ctx.close = true;
                self.shared
                    .metrics
                    .policy_closed(&ep.info.id, "on_http_request");
                Err(closed_by_policy())
            }
            RequestVerdict::Responded => {
                // A response made in the request phase still runs the response phase.
                let v = ep.policy.on_http_response(&conn, &mut ex).await;
                if v == ResponseVerdict::Close {
                    ctx.ex = Some(Mutex::new(ex));
                    ctx.close = true;
                    self.shared
                        .metrics
                        .policy_closed(&ep.info.id, "on_http_response");
                    return Err(closed_by_policy());
                }
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
                ctx.ex = Some(Mutex::new(ex));
                self.shared
                    .metrics
                    .policy_response(&ep.info.id, parts.status.as_u16());
                write_response(session, &parts, body, ctx).await?;
                Ok(true)
            }
        }
    }

    /// Finds or makes the connection's policy state for `ep`, running `on_tcp_connect` once
    /// per TCP connection.
    async fn connection(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        ep: &Arc<Endpoint>,
    ) -> Option<Arc<Connection>> {
        let Some(meter) = ctx.meter.clone() else {
            // Not from the edge's accept loop: policy state per request.
            return self.new_connection(session, ep, None).await.map(|e| e.conn);
        };
        let mut endpoints = meter.endpoints.lock().await;
        if let Some(ec) = endpoints.get(&ep.info.id) {
            return (!ec.closed).then(|| ec.conn.clone());
        }
        let ec = self.new_connection(session, ep, Some(&meter)).await?;
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
        meter: Option<&ConnMeter>,
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
            client: meter.map_or(client, |m| m.client),
            server: meter.map_or(server, |m| m.server),
            tls: meter.and_then(|m| m.tls.clone()),
            started: meter.map_or_else(|| self.clock.now(), |m| m.started_at),
        };
        let mut conn = Connection::new(info, ep.info.clone(), self.clock.clone());
        let verdict = ep.policy.on_tcp_connect(&mut conn).await;
        Some(EndpointConn {
            conn: Arc::new(conn),
            closed: verdict == TcpVerdict::Close,
        })
    }
}
