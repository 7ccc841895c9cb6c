//! The `ProxyHttp` implementation: adapts Pingora's session to the policy engine's plain `http`
//! values and back, the way `sluice_policy::harness` drives an exchange in-process.
//!
//! Per TCP connection (found through the accept loop's [`ConnMeter`]), one [`Connection`] per
//! endpoint, made and run through `on_tcp_connect` on the first request for that endpoint, so
//! it runs once per connection however many requests (or HTTP/2 streams) follow. Per request,
//! one [`Exchange`]: `on_http_request` in `request_filter`, `on_http_response` in
//! `response_filter` (or right away when the request phase answered), body transforms chunk by
//! chunk in the body filters (nothing is buffered). Hop-by-hop headers are stripped both ways,
//! except a websocket upgrade's.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use sluice_policy::{
    BodyError, BodyTransform, Clock, ConnInfo, Connection, ERROR_CODE_HEADER, Exchange,
    RequestVerdict, ResponseVerdict, SyntheticResponse, SystemClock, TcpVerdict,
};

use crate::body::{HOST_BUFFER_LIMIT, ReadState, SessionBody};
use crate::config::{Endpoint, Scheme, UpstreamProtocol};
use crate::conn::{ConnMeter, EndpointConn};
use crate::errors;
use crate::server::Shared;

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
        let state = self.shared.state.load();
        match self.scheme {
            Scheme::Http => state.http.lookup(host),
            Scheme::Https => state.https.lookup(host),
        }
    }
}

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), besides those the
/// `Connection` header names. `transfer-encoding` is left to Pingora, which frames each hop.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Removes hop-by-hop headers; `upgrade` keeps the websocket upgrade (and its `Connection`).
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut drop: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| {
            HOP_BY_HOP.contains(&k.as_str())
                || k.starts_with("proxy-")
                || named.iter().any(|n| n == k)
        })
        .collect();
    if upgrade {
        drop.retain(|k| k != "connection" && k != "upgrade");
    }
    for k in drop {
        headers.remove(k.as_str());
    }
    if upgrade {
        headers.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("upgrade"),
        );
    }
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Per-request state.
pub struct Ctx {
    meter: Option<Arc<ConnMeter>>,
    endpoint: Option<Arc<Endpoint>>,
    conn: Option<Arc<Connection>>,
    /// The exchange (in a mutex only to be `Sync`; always reached with `get_mut`).
    ex: Option<Mutex<Exchange>>,
    /// The policy asked to close the connection.
    close: bool,
    /// A body replacing the upstream's (the response phase made the response).
    replacement: Option<Bytes>,
    replacing: bool,
    started: Instant,
    bytes_out: u64,
    error_code: Option<u16>,
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

/// Replaces every header of `dst` with those of `src`, keeping `src`'s order.
fn replace_request_headers(dst: &mut RequestHeader, src: &HeaderMap) -> Result<()> {
    let names: Vec<_> = dst.headers.keys().cloned().collect();
    for n in names {
        dst.remove_header(&n);
    }
    for (k, v) in src {
        dst.append_header(k.clone(), v.clone())?;
    }
    Ok(())
}

fn replace_response_headers(dst: &mut ResponseHeader, src: &HeaderMap) -> Result<()> {
    let names: Vec<_> = dst.headers.keys().cloned().collect();
    for n in names {
        dst.remove_header(&n);
    }
    for (k, v) in src {
        dst.append_header(k.clone(), v.clone())?;
    }
    Ok(())
}

fn host_of(req: &RequestHeader) -> String {
    req.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri.authority().map(|a| a.as_str().to_string()))
        .unwrap_or_default()
}

fn accept_of(session: &Session) -> Option<String> {
    session
        .req_header()
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Writes a whole response made at the edge (by an action or an error page).
async fn write_response(
    session: &mut Session,
    parts: &http::response::Parts,
    body: Bytes,
    ctx: &mut Ctx,
) -> Result<()> {
    let mut h = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (k, v) in &parts.headers {
        h.append_header(k.clone(), v.clone())?;
    }
    h.remove_header(&TRANSFER_ENCODING);
    h.insert_header(CONTENT_LENGTH, body.len().to_string())?;
    let empty = body.is_empty();
    session.write_response_header(Box::new(h), empty).await?;
    if !empty {
        ctx.bytes_out += body.len() as u64;
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

async fn write_synthetic(
    session: &mut Session,
    resp: SyntheticResponse,
    ctx: &mut Ctx,
) -> Result<()> {
    let mut builder = http::Response::builder().status(resp.status);
    if let Some(h) = builder.headers_mut() {
        *h = resp.headers;
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|e| internal(e.to_string()))?
        .into_parts();
    write_response(session, &parts, resp.body, ctx).await
}

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

    fn emit_event(&self, session: &Session, ctx: &mut Ctx) {
        let status = session.response_written().map(|r| r.status.as_u16());
        let endpoint_id = ctx
            .endpoint
            .as_ref()
            .map(|e| e.info.id.clone())
            .unwrap_or_default();
        self.shared.metrics.request(
            &endpoint_id,
            status.unwrap_or(0),
            ctx.started.elapsed().as_secs_f64(),
        );
        let Some(sink) = &self.shared.events else {
            return;
        };
        let req = session.req_header();
        let client = session.client_addr().and_then(|a| a.as_inet()).copied();
        // `on_tcp_connect` logs go with the connection's own event (tcp_connection_closed.v0).
        let mut logs: Vec<serde_json::Value> = Vec::new();
        let endpoint = ctx
            .endpoint
            .as_ref()
            .map(|e| serde_json::json!({ "id": e.info.id, "url": e.info.url }));
        let error_code = ctx.error_code.map(|c| format!("ERR_SLUICE_{c}"));
        let duration_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
        let bytes_out = ctx.bytes_out;
        let fired: Vec<serde_json::Value>;
        if let Some(ex) = ctx.exchange() {
            logs.extend(ex.logs.iter().map(|l| l.metadata.clone()));
            fired = ex
                .fired
                .iter()
                .map(|f| serde_json::json!({ "phase": f.phase.key(), "index": f.index, "name": f.name }))
                .collect();
        } else {
            fired = Vec::new();
        }
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        sink.emit(&serde_json::json!({
            "event_type": "http_request_complete.v0",
            "timestamp_ms": timestamp,
            "object": {
                "endpoint": endpoint,
                "conn": {
                    "client_ip": client.map(|c| c.ip().to_string()),
                    "client_port": client.map(|c| c.port()),
                },
                "http": {
                    "request": {
                        "method": req.method.as_str(),
                        "host": host_of(req),
                        "path": req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                    },
                    "response": { "status_code": status, "bytes_out": bytes_out },
                    "duration_ms": duration_ms,
                },
                "error_code": error_code,
                "policy": { "fired": fired, "logs": logs },
            }
        }));
    }
}

#[async_trait]
impl ProxyHttp for EdgeService {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            meter: None,
            endpoint: None,
            conn: None,
            ex: None,
            close: false,
            replacement: None,
            replacing: false,
            started: Instant::now(),
            bytes_out: 0,
            error_code: None,
        }
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
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
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
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

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let ep = ctx
            .endpoint
            .clone()
            .ok_or_else(|| internal("no endpoint chosen"))?;
        let up = &ep.upstream;
        let mut peer = HttpPeer::new(up.addr, up.tls, up.host.clone());
        if up.tls {
            // As ngrok: upstream certificates are not verified by default.
            peer.options.verify_cert = false;
            peer.options.verify_hostname = false;
        }
        if up.protocol == UpstreamProtocol::Http2 {
            peer.options.set_http_version(2, 2);
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let original_host = host_of(session.req_header());
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        let has_body = {
            let h = &session.req_header().headers;
            h.contains_key(TRANSFER_ENCODING)
                || h.get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim() != "0")
        };
        if let Some(ex) = ctx.exchange() {
            upstream_request.set_method(ex.request.method.clone());
            upstream_request.set_uri(ex.request.uri.clone());
            let mut headers = ex.request.headers.clone();
            let upgrade = is_websocket_upgrade(&headers);
            // Pingora frames the request body from this header; it is per hop but kept.
            let te = headers.get(TRANSFER_ENCODING).cloned();
            strip_hop_by_hop(&mut headers, upgrade);
            if let Some(te) = te {
                headers.insert(TRANSFER_ENCODING, te);
            }
            replace_request_headers(upstream_request, &headers)?;
            if !ex.request_transforms.is_empty() && has_body {
                // The transformed body has a length nobody knows yet.
                upstream_request.remove_header(&CONTENT_LENGTH);
                if upstream_request.version == Version::HTTP_11 {
                    upstream_request.insert_header(TRANSFER_ENCODING, "chunked")?;
                }
            }
        }
        if let Some(ip) = client_ip {
            let prior: Vec<String> = upstream_request
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string)
                .collect();
            let value = if prior.is_empty() {
                ip
            } else {
                format!("{}, {ip}", prior.join(", "))
            };
            upstream_request.insert_header("x-forwarded-for", value)?;
        }
        upstream_request.insert_header("x-forwarded-proto", self.scheme_str())?;
        if !original_host.is_empty() {
            upstream_request.insert_header("x-forwarded-host", original_host)?;
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(ex) = ctx.exchange()
            && !ex.request_transforms.is_empty()
        {
            let chunk = body.take().unwrap_or_default();
            let out = run_transforms(&mut ex.request_transforms, chunk, end_of_stream)
                .map_err(body_error)?;
            // Request side: `None` would tell Pingora the body ended; an empty chunk that is
            // not the last is skipped by Pingora.
            *body = Some(out);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // An upstream can never set the edge's error header.
        upstream_response.remove_header(ERROR_CODE_HEADER);
        if upstream_response.status.is_informational()
            && upstream_response.status != StatusCode::SWITCHING_PROTOCOLS
        {
            return Ok(());
        }
        let (Some(ep), Some(conn)) = (ctx.endpoint.clone(), ctx.conn.clone()) else {
            return Ok(());
        };
        let now = self.clock.now();
        let downstream_h11 = session.req_header().version == Version::HTTP_11;
        let Some(ex) = ctx.exchange() else {
            return Ok(());
        };
        let switching = upstream_response.status == StatusCode::SWITCHING_PROTOCOLS;
        let mut upstream_parts = upstream_response.as_owned_parts();
        let te = upstream_parts.headers.get(TRANSFER_ENCODING).cloned();
        strip_hop_by_hop(&mut upstream_parts.headers, switching);
        if let Some(te) = te {
            upstream_parts.headers.insert(TRANSFER_ENCODING, te);
        }
        ex.upstream_responded(upstream_parts, now);
        if ep.policy.on_http_response(&conn, ex).await == ResponseVerdict::Close {
            ctx.close = true;
            self.shared
                .metrics
                .policy_closed(&ep.info.id, "on_http_response");
            return Err(closed_by_policy());
        }
        let Some(parts) = ex.response.as_ref() else {
            return Ok(());
        };
        upstream_response.set_status(parts.status)?;
        let headers = parts.headers.clone();
        replace_response_headers(upstream_response, &headers)?;
        if ex.synthetic {
            self.shared
                .metrics
                .policy_response(&ep.info.id, parts.status.as_u16());
            // The response phase replaced the upstream's response: its body goes instead.
            let raw = ex.response_body.take().unwrap_or_default();
            let body =
                run_transforms(&mut ex.response_transforms, raw, true).map_err(body_error)?;
            upstream_response.remove_header(&TRANSFER_ENCODING);
            upstream_response.insert_header(CONTENT_LENGTH, body.len().to_string())?;
            ctx.replacement = Some(body);
            ctx.replacing = true;
        } else if !ex.response_transforms.is_empty() {
            upstream_response.remove_header(&CONTENT_LENGTH);
            if downstream_h11 {
                upstream_response.insert_header(TRANSFER_ENCODING, "chunked")?;
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
        if ctx.replacing {
            *body = ctx.replacement.take();
        } else if let Some(ex) = ctx.exchange()
            && !ex.response_transforms.is_empty()
        {
            let chunk = body.take().unwrap_or_default();
            let out = run_transforms(&mut ex.response_transforms, chunk, end_of_stream)
                .map_err(body_error)?;
            // Response side: an empty chunk would be written as the chunked terminator; `None`
            // writes nothing.
            *body = if out.is_empty() { None } else { Some(out) };
        }
        if let Some(b) = body {
            ctx.bytes_out += b.len() as u64;
        }
        Ok(None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let now = self.clock.now();
        if let Some(ex) = ctx.exchange() {
            ex.upstream_failed(now);
        }
        if ctx.close {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let addr = ctx
            .endpoint
            .as_ref()
            .map(|ep| ep.upstream.url.clone())
            .unwrap_or_default();
        let (status, code, message) = match (e.etype(), e.esource()) {
            (ErrorType::HTTPStatus(s), _) => (
                StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                errors::INTERNAL,
                "The edge could not handle the request.".to_string(),
            ),
            (
                ErrorType::ConnectTimedout
                | ErrorType::ConnectRefused
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectError
                | ErrorType::SocketError
                | ErrorType::TLSHandshakeFailure
                | ErrorType::TLSHandshakeTimedout
                | ErrorType::InvalidCert
                | ErrorType::HandshakeError,
                _,
            ) => (
                StatusCode::BAD_GATEWAY,
                errors::UPSTREAM_UNREACHABLE,
                format!("The edge could not connect to the upstream at {addr}."),
            ),
            (ErrorType::ReadTimedout | ErrorType::WriteTimedout, ErrorSource::Upstream) => (
                StatusCode::GATEWAY_TIMEOUT,
                errors::UPSTREAM_TIMEOUT,
                format!("The upstream at {addr} did not answer in time."),
            ),
            (_, ErrorSource::Upstream) => (
                StatusCode::BAD_GATEWAY,
                errors::UPSTREAM_INVALID,
                format!("The upstream at {addr} sent an invalid or incomplete response."),
            ),
            (
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
                ErrorSource::Downstream,
            ) => {
                // The client is gone.
                return FailToProxy {
                    error_code: 0,
                    can_reuse_downstream: false,
                };
            }
            (_, ErrorSource::Downstream) => (
                StatusCode::BAD_REQUEST,
                errors::INTERNAL,
                "The request could not be read.".to_string(),
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                errors::INTERNAL,
                "The edge failed while handling the request.".to_string(),
            ),
        };
        ctx.error_code = Some(code);
        let page = errors::error_page(status, code, &message, accept_of(session).as_deref());
        // The response may already have started; then there is nothing more to say.
        let _ = write_synthetic(session, page, ctx).await;
        FailToProxy {
            error_code: status.as_u16(),
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        self.emit_event(session, ctx);
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, _error: &Error) -> bool {
        ctx.close
    }
}
