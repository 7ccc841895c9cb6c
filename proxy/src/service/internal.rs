//! `forward-internal` on the edge: the hop to an internal endpoint happens in-process. When a
//! request phase hands the request off, the target's own request phase runs on a copy of the
//! request (its `Host` still the public one) and the last endpoint of the chain is the one the
//! request goes to; the response then walks back out through each endpoint's response phase,
//! the innermost first.
//!
//! Whose internal endpoints an endpoint reaches: an agent's endpoint, those its account bound;
//! an endpoint of the edge's config, those of the account it names (`account:`), else the
//! internal endpoints of the config.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::StatusCode;
use pingora::proxy::Session;
use sluice_policy::{
    BodyError, Connection, Exchange, InternalCall, InternalCallFuture, InternalEndpoints,
    InternalRouting, RequestVerdict, ResponseVerdict, SyntheticResponse, internal_url,
};

use super::internal_call::call_internal;
use super::request::run_request_policy;
use super::{Ctx, EdgeService, run_transforms};
use crate::body::{ReadState, SessionBody};
use crate::body_pace::BodyPace;
use crate::config::{Endpoint, Target};
use crate::errors;
use crate::state::Shared;

/// An internal endpoint a request was handed to, with its policy state for this request.
pub(super) struct Hop {
    /// The internal endpoint.
    pub endpoint: Arc<Endpoint>,
    /// Its policy's view of the connection (the client's, as the public endpoint saw it).
    pub conn: Arc<Connection>,
    /// The request as it reached this endpoint (in a mutex only to be `Sync`).
    pub ex: Mutex<Exchange>,
}

/// One endpoint of a request's chain, the public one first.
pub(super) struct Level<'a> {
    endpoint: Arc<Endpoint>,
    conn: Arc<Connection>,
    ex: &'a mut Exchange,
}

/// The owner whose internal endpoints `ep` reaches: its agent's account, the account an
/// endpoint of the config names, or `None` (the config's own internal endpoints).
pub(crate) fn owner(ep: &Endpoint) -> Option<String> {
    match &ep.upstream.target {
        Target::Tunnel(session) => Some(session.account().to_owned()),
        Target::Address(_) | Target::PolicyOnly | Target::Peer(_) => ep.account.clone(),
    }
}

/// The internal endpoint `url` (canonical) of `owner`, if one is online.
pub(crate) fn resolve(shared: &Shared, owner: Option<&str>, url: &str) -> Option<Arc<Endpoint>> {
    match owner {
        Some(account) => shared
            .tunnels
            .lookup_internal(account, url)
            .map(|m| m.endpoint),
        None => shared
            .state
            .load()
            .internal
            .iter()
            .find(|e| internal_url(&e.info.url).is_ok_and(|u| u == url))
            .cloned(),
    }
}

/// The internal endpoints of one owner, as `forward-internal` asks about them.
struct Directory {
    shared: Arc<Shared>,
    owner: Option<String>,
}

impl InternalEndpoints for Directory {
    fn is_online(&self, url: &str) -> bool {
        match &self.owner {
            Some(account) => self.shared.tunnels.has_internal(account, url),
            None => resolve(&self.shared, None, url).is_some(),
        }
    }

    fn call(&self, call: InternalCall) -> InternalCallFuture {
        Box::pin(call_internal(self.shared.clone(), self.owner.clone(), call))
    }
}

/// Hands an inner endpoint's response to the endpoint that forwarded to it, as that
/// endpoint's upstream response: a response the inner policy made goes whole (through the
/// inner transforms), an upstream's keeps streaming through the inner transforms first.
fn hand_back(inner: &mut Exchange, outer: &mut Exchange, now: SystemTime) -> Result<(), BodyError> {
    let Some(parts) = inner.response.take() else {
        return Ok(());
    };
    if inner.synthetic {
        let raw = inner.response_body.take().unwrap_or_default();
        let body = run_transforms(&mut inner.response_transforms, raw, true)?;
        outer.upstream_responded(parts, now);
        outer.response_body = Some(body);
        outer.synthetic = true;
    } else {
        let mut chain = std::mem::take(&mut inner.response_transforms);
        chain.append(&mut outer.response_transforms);
        outer.response_transforms = chain;
        outer.upstream_responded(parts, now);
    }
    Ok(())
}

impl Ctx {
    /// The endpoint whose upstream the request goes to: the last internal endpoint it was
    /// handed to, else the one it was routed to.
    pub(super) fn upstream_endpoint(&self) -> Option<Arc<Endpoint>> {
        match self.hops.last() {
            Some(hop) => Some(hop.endpoint.clone()),
            None => self.endpoint.clone(),
        }
    }

    /// The exchange whose request goes upstream (the last endpoint's).
    pub(super) fn forwarded_exchange(&mut self) -> Option<&mut Exchange> {
        if self.hops.is_empty() {
            return self.exchange();
        }
        self.hops.last_mut().and_then(|hop| hop.ex.get_mut().ok())
    }

    /// Every endpoint of the chain with its exchange, the public one first.
    fn levels(&mut self) -> Vec<Level<'_>> {
        let mut levels = Vec::with_capacity(1 + self.hops.len());
        if let (Some(endpoint), Some(conn), Some(ex)) = (
            self.endpoint.clone(),
            self.conn.clone(),
            self.ex.as_mut().and_then(|m| m.get_mut().ok()),
        ) {
            levels.push(Level { endpoint, conn, ex });
        }
        for hop in &mut self.hops {
            if let Ok(ex) = hop.ex.get_mut() {
                levels.push(Level {
                    endpoint: hop.endpoint.clone(),
                    conn: hop.conn.clone(),
                    ex,
                });
            }
        }
        levels
    }

    /// Tells every exchange of the chain that the upstream could not be reached.
    pub(super) fn upstream_failed(&mut self, now: SystemTime) {
        for level in self.levels() {
            level.ex.upstream_failed(now);
        }
    }
}

/// What the policy of `ep` may forward to, for traffic that went through `visited`.
pub(crate) fn routing(
    shared: &Arc<Shared>,
    ep: &Endpoint,
    visited: Vec<String>,
) -> InternalRouting {
    InternalRouting {
        endpoints: Arc::new(Directory {
            shared: shared.clone(),
            owner: owner(ep),
        }),
        visited,
    }
}

impl EdgeService {
    /// What the policy of `ep` may forward to, for a request that went through `visited`.
    pub(super) fn internal_routing(&self, ep: &Endpoint, visited: Vec<String>) -> InternalRouting {
        routing(&self.shared, ep, visited)
    }

    /// Follows `forward-internal` hand-offs from the request phase that ended with `verdict`:
    /// each target's request phase runs in turn. Returns the last verdict; on `Forward` the
    /// request goes to [`Ctx::upstream_endpoint`].
    pub(super) async fn follow_handoffs(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        mut verdict: RequestVerdict,
        read: &mut ReadState,
        pace: &mut Option<BodyPace>,
    ) -> RequestVerdict {
        while verdict == RequestVerdict::Forward {
            let Some(caller) = ctx.upstream_endpoint() else {
                break;
            };
            let Some(ex) = ctx.forwarded_exchange() else {
                break;
            };
            let Some(url) = ex.forward_target().map(str::to_owned) else {
                break;
            };
            let Some(target) = resolve(&self.shared, owner(&caller).as_deref(), &url) else {
                // Its agent left between the action's look and now.
                ex.set_synthetic(SyntheticResponse::error(
                    StatusCode::NOT_FOUND,
                    errors::ENDPOINT_NOT_FOUND,
                    &format!("The endpoint {url} is offline."),
                ));
                return RequestVerdict::Responded;
            };
            let mut visited = ex
                .internal
                .as_ref()
                .map(|r| r.visited.clone())
                .unwrap_or_default();
            visited.push(url);
            let request = ex.request.clone();
            let transforms = std::mem::take(&mut ex.request_transforms);
            let info = match ctx.hops.last() {
                Some(hop) => hop.conn.info.clone(),
                None => match &ctx.conn {
                    Some(c) => c.info.clone(),
                    None => break,
                },
            };
            let conn = Arc::new(Connection::new(
                info,
                target.info.clone(),
                self.clock.clone(),
            ));
            let (source, reads) = SessionBody::channel();
            let mut next = Exchange::new(request, Box::new(source));
            next.request_transforms = transforms;
            next.internal = Some(self.internal_routing(&target, visited));
            self.shared.metrics.forwarded_internal(&target.info.id);
            verdict =
                run_request_policy(session, &target.policy, &conn, &mut next, reads, read, pace)
                    .await;
            ctx.hops.push(Hop {
                endpoint: target,
                conn,
                ex: Mutex::new(next),
            });
        }
        verdict
    }

    /// Runs the response phase of each endpoint of the chain from the innermost out, each
    /// seeing the response of the endpoint it forwarded to. The innermost exchange already
    /// holds its response (the upstream's, or one its policy made).
    pub(super) async fn respond_through(
        &self,
        ctx: &mut Ctx,
    ) -> Result<ResponseVerdict, BodyError> {
        let now = self.clock.now();
        let mut levels = ctx.levels();
        for i in (0..levels.len()).rev() {
            if i + 1 < levels.len() {
                let (outer, inner) = levels.split_at_mut(i + 1);
                hand_back(inner[0].ex, outer[i].ex, now)?;
            }
            let level = &mut levels[i];
            let verdict = level
                .endpoint
                .policy
                .on_http_response(&level.conn, level.ex)
                .await;
            if verdict == ResponseVerdict::Close {
                return Ok(ResponseVerdict::Close);
            }
        }
        Ok(ResponseVerdict::Send)
    }
}
