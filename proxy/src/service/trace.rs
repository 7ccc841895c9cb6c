//! The policy trace of requests on inspected endpoints (wire shape: `sluice_tunnel::trace`):
//! turned on per request only when the endpoint's agent records its traffic, its id sent
//! upstream with the request, and the whole trace reported to the agent once the request is
//! over. Endpoints that are not inspected never reach past the first check here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pingora::Result;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use sluice_policy::{Connection, Exchange, PolicyTrace};
use sluice_tunnel::trace::MAX_REPORTED_HEADERS;
use sluice_tunnel::{
    AgentSession, ClientTls, EdgeAnswered, NO_REPORT_TRACE_ID, TRACE_ID_HEADER, TraceReport,
};

use super::Ctx;
use crate::config::{Endpoint, Target};

/// Trace ids, unique on this edge (0 is [`NO_REPORT_TRACE_ID`]).
static NEXT_TRACE_ID: AtomicU64 = AtomicU64::new(1);

/// Turns tracing on for a new connection to `ep`, if `ep` is inspected.
pub(crate) fn start_connection(ep: &Endpoint, conn: &mut Connection) {
    if ep.inspect {
        conn.trace = Some(Box::default());
    }
}

/// Turns tracing on for a new request to `ep`, if `ep` is inspected.
pub(super) fn start_exchange(ep: &Endpoint, ex: &mut Exchange) {
    if ep.inspect {
        ex.trace = Some(Box::default());
    }
}

/// The agent session a traced request's report goes to: the inspected endpoint's own, when
/// the request is traced.
fn report_session(ctx: &mut Ctx) -> Option<AgentSession> {
    let ep = ctx.endpoint.clone()?;
    let Target::Tunnel(session) = &ep.upstream.target else {
        return None;
    };
    if !ep.inspect {
        return None;
    }
    ctx.exchange()?.trace.as_ref()?;
    Some(session.clone())
}

/// Adds the trace id header to a traced request going to its own endpoint's agent (not to
/// an internal endpoint it was handed to: that agent does not record it).
pub(super) fn tag_upstream(ctx: &mut Ctx, upstream_request: &mut RequestHeader) -> Result<()> {
    if !ctx.endpoint.as_ref().is_some_and(|ep| ep.inspect) || !ctx.hops.is_empty() {
        return Ok(());
    }
    if report_session(ctx).is_none() {
        return Ok(());
    }
    // Without rules the trace stays empty, and without TLS there is nothing else to tell:
    // the agent learns that from the id alone, and no report follows (most inspected
    // endpoints have no policy; a report per request was most of what inspection cost).
    let over_tls = ctx.conn.as_ref().is_some_and(|c| c.info.tls.is_some());
    let nothing_to_report =
        ctx.endpoint.as_ref().is_some_and(|ep| ep.policy.is_empty()) && !over_tls;
    let id = if nothing_to_report {
        NO_REPORT_TRACE_ID
    } else {
        NEXT_TRACE_ID.fetch_add(1, Ordering::Relaxed)
    };
    upstream_request.insert_header(TRACE_ID_HEADER, id.to_string())?;
    ctx.trace_id = Some(id);
    Ok(())
}

/// Sends a traced request's report to its agent, once the request is over.
pub(super) fn report(session: &Session, ctx: &mut Ctx) {
    if !ctx.endpoint.as_ref().is_some_and(|ep| ep.inspect) {
        return;
    }
    if ctx.trace_id == Some(NO_REPORT_TRACE_ID) {
        return;
    }
    let Some(agent) = report_session(ctx) else {
        return;
    };
    let mut trace = PolicyTrace::default();
    if let Some(conn_trace) = ctx.conn.as_ref().and_then(|c| c.trace.as_deref()) {
        trace.phases.extend(conn_trace.phases.iter().cloned());
        trace.truncated |= conn_trace.truncated;
    }
    if let Some(ex_trace) = ctx.exchange().and_then(|ex| ex.trace.take()) {
        let ex_trace = *ex_trace;
        trace.phases.extend(ex_trace.phases);
        trace.truncated |= ex_trace.truncated;
    }
    let answered = match ctx.trace_id {
        Some(_) => None,
        None => Some(answered(session, ctx)),
    };
    let trace_id = ctx
        .trace_id
        .unwrap_or_else(|| NEXT_TRACE_ID.fetch_add(1, Ordering::Relaxed));
    let endpoint_url = ctx
        .endpoint
        .as_ref()
        .map(|ep| ep.info.url.clone())
        .unwrap_or_default();
    agent.send_trace(TraceReport {
        endpoint_url,
        trace_id,
        answered,
        trace,
        tls: client_tls(ctx),
    });
}

/// The TLS the client spoke to this edge, when its connection is TLS the edge ended.
fn client_tls(ctx: &Ctx) -> Option<ClientTls> {
    let tls = ctx.conn.as_ref()?.info.tls.as_ref()?;
    Some(ClientTls {
        sni: tls.sni.clone(),
        version: tls.version.clone(),
        cipher_suite: tls.cipher_suite.clone(),
        alpn: tls.alpn.clone(),
    })
}

/// The heads of a request that never reached the agent, for its inspector.
fn answered(session: &Session, ctx: &Ctx) -> EdgeAnswered {
    let req = session.req_header();
    let elapsed = ctx.started.elapsed();
    let start = SystemTime::now()
        .checked_sub(elapsed)
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let written = if ctx.close {
        None
    } else {
        session.response_written()
    };
    EdgeAnswered {
        client_addr: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        start_unix_ms: u64::try_from(start.as_millis()).unwrap_or(u64::MAX),
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        method: req.method.as_str().to_string(),
        uri: req
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string(),
        proto: format!("{:?}", req.version),
        request_headers: heads(&req.headers),
        status: written.map(|r| r.status.as_u16()),
        response_headers: written.map(|r| heads(&r.headers)).unwrap_or_default(),
        response_bytes: ctx.bytes_out,
    }
}

fn heads(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .take(MAX_REPORTED_HEADERS)
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
