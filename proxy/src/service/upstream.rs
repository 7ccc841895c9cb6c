//! Forwarding to the upstream: the peer to connect to, the request header it gets (the
//! policy's changes, hop-by-hop headers stripped, `X-Forwarded-*` and `Client-Cert` added) and the request body
//! through the request transforms.

use bytes::Bytes;
use http::Version;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora::Result;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;

use super::client_cert::{CLIENT_CERT, ClientCertHeader, client_cert_header};
use super::forwarded::forwarded_headers;
use super::headers::{host_of, is_upgrade, replace_request_headers, strip_hop_by_hop};
use super::{BodyFailure, Ctx, EdgeService, body_error, internal, run_transforms};
use sluice_policy::BodyError;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::cluster::PeerRoute;
use crate::cluster::peer::PeerHome;
use crate::config::{Endpoint, Scheme, Target, UpstreamProtocol};
use crate::tunnel::{AgentHome, Lease, StreamLease, TunnelConnect};

/// A peer, and the lease on the request's stream when the edge keeps it between requests.
pub(super) type PeerWithLease = (Box<HttpPeer>, Option<Arc<dyn Lease>>);

/// The peer for `ep`'s upstream, for a request of the client at `client` on client connection
/// `conn` (its record's id; 0 for none), and for an agent's endpoint the lease on the
/// request's tunnel stream.
pub(super) fn peer_for(
    ep: &Arc<Endpoint>,
    client: Option<SocketAddr>,
    conn: u64,
) -> Result<PeerWithLease> {
    let up = match &ep.upstream.target {
        Target::Address(up) => up,
        // Answered in the request phase; never asked for a peer.
        Target::PolicyOnly => return Err(internal("the endpoint has no upstream")),
        Target::Tunnel(session) => {
            // Any address will do: the connector opens a stream on the session instead.
            let mut peer =
                HttpPeer::new(SocketAddr::from(([127, 0, 0, 1], 1)), false, String::new());
            let header = crate::tunnel::header(ep, client);
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (session.id(), &header, conn).hash(&mut hasher);
            // Pingora parks a finished stream in its pool under this key until the lease takes
            // it back; one key per client connection keeps another client's request from
            // picking it up (and dropping it) first.
            peer.group_key = hasher.finish();
            let lease = StreamLease::new(AgentHome {
                session: session.clone(),
                header,
                conn,
            });
            peer.options.custom_l4 = Some(Arc::new(TunnelConnect {
                lease: lease.clone(),
            }));
            return Ok((Box::new(peer), Some(lease)));
        }
        Target::Peer(route) => return Ok(edge_peer(route, ep.scheme, client, conn)),
    };
    let mut peer = HttpPeer::new(up.addr, up.tls, up.host.clone());
    if up.tls {
        // As ngrok: upstream certificates are not verified unless `tls_verify` asks.
        peer.options.verify_cert = up.tls_verify;
        peer.options.verify_hostname = up.tls_verify;
    }
    if up.protocol == UpstreamProtocol::Http2 {
        peer.options.set_http_version(2, 2);
    }
    Ok((Box::new(peer), None))
}

/// A peer that dials another edge of the cluster (the connector does) instead of an address,
/// for a request on client connection `conn`, with the lease on its stream.
fn edge_peer(
    route: &Arc<PeerRoute>,
    scheme: Scheme,
    client: Option<SocketAddr>,
    conn: u64,
) -> PeerWithLease {
    // As for a session: the connector dials the edge that holds the agent instead.
    let mut peer = HttpPeer::new(SocketAddr::from(([127, 0, 0, 1], 1)), false, String::new());
    let client = client.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&route.edge, route.addr, &route.host, scheme, client, conn).hash(&mut hasher);
    // One key per client connection, as for a session.
    peer.group_key = hasher.finish();
    let lease = StreamLease::new(PeerHome::new(route, scheme, client, conn));
    peer.options.custom_l4 = Some(Arc::new(crate::cluster::peer::PeerConnect {
        route: route.clone(),
        tls: route.tls.clone(),
        scheme,
        host: route.host.clone(),
        client,
        lease: lease.clone(),
    }));
    (Box::new(peer), Some(lease))
}

impl EdgeService {
    /// The peer for the chosen endpoint's upstream (an agent's stream lease goes into `ctx`,
    /// finished when the request is logged).
    pub(super) fn peer(ctx: &mut Ctx, client: Option<SocketAddr>) -> Result<Box<HttpPeer>> {
        let ep = ctx
            .upstream_endpoint()
            .ok_or_else(|| internal("no endpoint chosen"))?;
        let conn = ctx.record.as_ref().map_or(0, |r| r.id);
        let (peer, lease) = match (&ctx.edge_retry, &ep.upstream.target) {
            (Some(route), Target::Peer(_)) => edge_peer(route, ep.scheme, client, conn),
            _ => peer_for(&ep, client, conn)?,
        };
        if let Some(earlier) = std::mem::replace(&mut ctx.stream_lease, lease) {
            // A retry: the first attempt's stream failed.
            earlier.finish(false);
        }
        Ok(peer)
    }

    /// When dialing another edge for the chosen endpoint failed: the edge the same agent is
    /// placed on now, if it moved (the policy that ran is its policy there too).
    pub(super) fn moved_agent(&self, ctx: &Ctx) -> Option<Arc<PeerRoute>> {
        let ep = ctx.upstream_endpoint()?;
        let Target::Peer(failed) = &ep.upstream.target else {
            return None;
        };
        self.shared.cluster.get()?.moved_to(ep.scheme, failed)
    }

    /// Builds the upstream request header from the exchange's request.
    pub(super) fn upstream_request(
        &self,
        session: &Session,
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
        if let Some(ex) = ctx.forwarded_exchange() {
            upstream_request.set_method(ex.request.method.clone());
            upstream_request.set_uri(ex.request.uri.clone());
            let mut headers = ex.request.headers.clone();
            let upgrade = is_upgrade(&headers);
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
        let forwarded = forwarded_headers(
            &upstream_request.headers,
            client_ip.as_deref(),
            self.scheme_str(),
            &original_host,
        );
        for (name, value) in forwarded {
            upstream_request.insert_header(name, value)?;
        }
        match client_cert_header(ctx.record.as_deref()) {
            ClientCertHeader::Untouched => {}
            ClientCertHeader::Remove => {
                upstream_request.remove_header(CLIENT_CERT);
            }
            ClientCertHeader::Set(value) => upstream_request.insert_header(CLIENT_CERT, value)?,
        }
        super::trace::tag_upstream(ctx, upstream_request)
    }

    /// Passes a request body chunk through the request transforms.
    pub(super) fn request_body(
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(ex) = ctx.forwarded_exchange() else {
            return Ok(());
        };
        if ex.request_transforms.is_empty() {
            return Ok(());
        }
        let chunk = body.take().unwrap_or_default();
        match run_transforms(&mut ex.request_transforms, chunk, end_of_stream) {
            // Request side: `None` would tell Pingora the body ended; an empty chunk that is
            // not the last is skipped by Pingora.
            Ok(out) => {
                *body = Some(out);
                Ok(())
            }
            Err(e) => {
                if matches!(e, BodyError::TooLarge { .. }) {
                    // Answered 413 by `fail_to_proxy`, as when an action buffers the body.
                    ctx.body_failure = Some(BodyFailure::TooLarge);
                }
                Err(body_error(e))
            }
        }
    }
}
