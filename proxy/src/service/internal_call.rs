//! `http-request` to an internal endpoint, on the edge: the whole request the action built
//! goes through the target's request phase, then to its upstream (or to the internal endpoint
//! its policy forwards to), and the answer comes back through its response phase, whole and
//! capped. Nothing leaves the process but the upstream request itself, as with
//! `forward-internal`; unlike it, no client connection is involved, so this is a small
//! client of its own over Pingora's connector rather than the proxy's phases.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use sluice_policy::{
    BufferedBody, Connection, Exchange, InternalCall, InternalCallError, MAX_FORWARD_ENDPOINTS,
    RequestVerdict, ResponseVerdict,
};

use super::headers::{replace_request_headers, strip_hop_by_hop};
use super::internal::{resolve, routing};
use super::run_transforms;
use super::upstream::peer_for;
use crate::config::Endpoint;
use crate::state::Shared;

/// How long an idle upstream connection of these calls is kept for the next one.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The connector these calls share (its pool is keyed by peer, as the proxy's is).
fn connector() -> &'static Connector {
    static CONNECTOR: OnceLock<Connector> = OnceLock::new();
    CONNECTOR.get_or_init(|| Connector::new(None))
}

/// Sends `call` to the internal endpoint it names, among those of `owner`.
pub(crate) async fn call_internal(
    shared: Arc<Shared>,
    owner_account: Option<String>,
    call: InternalCall,
) -> Result<http::Response<Bytes>, InternalCallError> {
    let InternalCall {
        url,
        request,
        from,
        clock,
        mut visited,
        max_body,
    } = call;
    if visited.contains(&url) || visited.len() >= MAX_FORWARD_ENDPOINTS {
        return Err(InternalCallError::Loop(url));
    }
    let target = resolve(&shared, owner_account.as_deref(), &url)
        .ok_or_else(|| InternalCallError::Offline(url.clone()))?;
    shared.metrics.forwarded_internal(&target.info.id);
    visited.push(url.clone());
    let client = from.client;
    let conn = Connection::new(from, target.info.clone(), clock);
    let (parts, body) = request.into_parts();
    let mut ex = Exchange::new(parts, Box::new(BufferedBody(body.clone())));
    ex.internal = Some(routing(&shared, &target, visited.clone()));
    let fail = |what: String| InternalCallError::Failed(format!("{url}: {what}"));
    match target.policy.on_http_request(&conn, &mut ex).await {
        RequestVerdict::Close => return Err(fail("its policy closed the connection".into())),
        RequestVerdict::Responded => {}
        RequestVerdict::Forward => {
            let body = run_transforms(&mut ex.request_transforms, body, true)
                .map_err(|e| fail(e.to_string()))?;
            let sent = http::Request::from_parts(ex.request.clone(), body);
            let answer = match ex.forward_target().map(str::to_owned) {
                Some(next) => {
                    let onward = InternalCall {
                        url: next,
                        request: sent,
                        from: conn.info.clone(),
                        clock: conn.clock(),
                        visited,
                        max_body,
                    };
                    routing(&shared, &target, Vec::new())
                        .endpoints
                        .call(onward)
                        .await
                }
                None => upstream(&target, client, sent, max_body)
                    .await
                    .map_err(|e| match e {
                        Upstream::TooLarge => InternalCallError::TooLarge(max_body),
                        Upstream::Failed(what) => fail(what),
                    }),
            };
            match answer {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    ex.upstream_responded(parts, conn.now());
                    ex.response_body = Some(body);
                }
                Err(e) => {
                    ex.upstream_failed(conn.now());
                    return Err(e);
                }
            }
        }
    }
    if target.policy.on_http_response(&conn, &mut ex).await == ResponseVerdict::Close {
        return Err(fail("its policy closed the connection".into()));
    }
    let parts = ex
        .response
        .take()
        .ok_or_else(|| fail("no response".into()))?;
    let raw = ex.response_body.take().unwrap_or_default();
    let body =
        run_transforms(&mut ex.response_transforms, raw, true).map_err(|e| fail(e.to_string()))?;
    if body.len() > max_body {
        return Err(InternalCallError::TooLarge(max_body));
    }
    Ok(http::Response::from_parts(parts, body))
}

/// Why the upstream gave no usable answer.
enum Upstream {
    /// Its response body was over the cap.
    TooLarge,
    /// Connecting or talking to it failed.
    Failed(String),
}

impl From<String> for Upstream {
    fn from(what: String) -> Self {
        Upstream::Failed(what)
    }
}

/// Sends `request` whole to `target`'s upstream and reads the whole answer (at most
/// `max_body` bytes of body).
async fn upstream(
    target: &Arc<Endpoint>,
    client: std::net::SocketAddr,
    request: http::Request<Bytes>,
    max_body: usize,
) -> Result<http::Response<Bytes>, Upstream> {
    // Never kept: the lease is not finished, so the stream closes with the call.
    let (peer, _lease) = peer_for(target, Some(client), 0).map_err(|e| e.to_string())?;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut header = RequestHeader::build(parts.method.clone(), path.as_bytes(), None)
        .map_err(|e| e.to_string())?;
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers, false);
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, http::HeaderValue::from(body.len()));
    replace_request_headers(&mut header, &headers).map_err(|e| e.to_string())?;
    let connector = connector();
    let (mut session, _reused) = connector
        .get_http_session(&*peer)
        .await
        .map_err(|e| format!("cannot reach its upstream: {e}"))?;
    let exchange = async {
        session.write_request_header(Box::new(header)).await?;
        session.write_request_body(body, true).await?;
        session.finish_request_body().await?;
        session.read_response_header().await?;
        Ok::<_, Box<pingora::Error>>(())
    };
    exchange
        .await
        .map_err(|e| format!("its upstream failed: {e}"))?;
    let head = session
        .response_header()
        .ok_or_else(|| Upstream::Failed("its upstream sent no response".into()))?
        .as_owned_parts();
    let mut collected = BytesMut::new();
    while let Some(chunk) = session
        .read_response_body()
        .await
        .map_err(|e| format!("reading its upstream's response failed: {e}"))?
    {
        if collected.len() + chunk.len() > max_body {
            return Err(Upstream::TooLarge);
        }
        collected.extend_from_slice(&chunk);
    }
    if session.response_done() {
        connector
            .release_http_session(session, &*peer, Some(IDLE_TIMEOUT))
            .await;
    }
    Ok(http::Response::from_parts(head, collected.freeze()))
}
