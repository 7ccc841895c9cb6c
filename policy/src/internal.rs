//! What `forward-internal` and `http-request` need from their host: the internal endpoints a
//! request may be handed to or call ([`InternalEndpoints`]), the hops it has made so far
//! ([`InternalRouting`]), and the one spelling of an internal endpoint's URL both sides
//! compare ([`internal_url`]).
//!
//! The engine never resolves a target itself: `forward-internal` asks the host whether the
//! target is online and records the hand-off on the exchange, and the host (the edge) runs the
//! target's policy and forwards the request in-process; `http-request` hands the host a whole
//! request ([`InternalCall`]) and gets the target's whole answer back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::{Clock, ConnInfo};

/// The top-level domain of internal endpoints.
const INTERNAL_SUFFIX: &str = ".internal";

/// The most endpoints one request may pass through with `forward-internal`, the public one
/// included. ngrok does not document its own limit; past it the request is answered
/// `ERR_SLUICE_3501`.
pub const MAX_FORWARD_ENDPOINTS: usize = 8;

/// The internal endpoints a request may be handed to: those of the calling endpoint's owner,
/// as the host knows them now.
pub trait InternalEndpoints: Send + Sync {
    /// Whether the internal endpoint with this URL (as [`internal_url`] spells it) is online.
    fn is_online(&self, url: &str) -> bool;

    /// Sends `call` to its internal endpoint as a client would: the target's policy runs on
    /// it, then the target's upstream answers (or the policy does), and the response comes
    /// back whole. A host that cannot do this answers [`InternalCallError::Unsupported`].
    fn call(&self, call: InternalCall) -> InternalCallFuture {
        let _ = call;
        Box::pin(async { Err(InternalCallError::Unsupported) })
    }
}

/// What [`InternalEndpoints::call`] returns.
pub type InternalCallFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, InternalCallError>> + Send>>;

/// A request `http-request` sends to an internal endpoint.
pub struct InternalCall {
    /// The target, as [`internal_url`] spells it.
    pub url: String,
    /// The whole request; its URI is in origin form (path and query).
    pub request: http::Request<Bytes>,
    /// The connection of the client whose request the calling policy runs for: the target's
    /// policy sees it as its `conn.*`.
    pub from: ConnInfo,
    /// The calling connection's clock.
    pub clock: Arc<dyn Clock>,
    /// The endpoints the calling request went through, the caller last; the target must
    /// not be among them.
    pub visited: Vec<String>,
    /// The largest response body accepted, in bytes.
    pub max_body: usize,
}

/// Why a call to an internal endpoint failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternalCallError {
    /// No internal endpoint of this owner has the URL.
    #[error("the internal endpoint {0} is offline")]
    Offline(String),
    /// The call would go back through an endpoint it came from.
    #[error("calling {0} would loop back through an endpoint the request came from")]
    Loop(String),
    /// The response body was larger than the cap, in bytes.
    #[error("response body exceeds {0} bytes")]
    TooLarge(usize),
    /// The target's policy closed the connection, or its upstream failed.
    #[error("{0}")]
    Failed(String),
    /// The host does not call internal endpoints (only the edge does).
    #[error("internal endpoints cannot be called here")]
    Unsupported,
}

/// Where a request stands among internal endpoints; the host sets it on each exchange it
/// runs a policy for. An exchange without it has no internal endpoints to reach.
#[derive(Clone)]
pub struct InternalRouting {
    /// The endpoints reachable from here.
    pub endpoints: Arc<dyn InternalEndpoints>,
    /// The URLs of the endpoints this request went through, the first (public) one first.
    pub visited: Vec<String>,
}

impl std::fmt::Debug for InternalRouting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalRouting")
            .field("visited", &self.visited)
            .finish_non_exhaustive()
    }
}

/// Why a URL does not name an internal endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotInternal(String);

/// The canonical URL of an internal endpoint: `scheme://host[:port]`, the host in lower case
/// and the scheme's default port left out (how the edge records internal binds). Only
/// `http`, `https`, `tcp` and `tls` schemes, only `.internal` hosts, no path beyond `/`, no
/// query, no user info.
pub fn internal_url(url: &str) -> Result<String, NotInternal> {
    let bad = |why: &str| NotInternal(format!("{url:?} {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("is not a URL (expected e.g. https://api.internal)"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" | "tls" => Some(443),
        "tcp" => None,
        _ => return Err(bad("has an unsupported scheme (http, https, tcp or tls)")),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "/") {
        return Err(bad(
            "has a path or query; an internal endpoint is named by scheme and host only",
        ));
    }
    if authority.contains('@') {
        return Err(bad("has user info"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => {
            let port = p.parse::<u16>().map_err(|_| bad("has an invalid port"))?;
            (h, Some(port))
        }
        None => (authority, None),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let is_internal = host.len() > INTERNAL_SUFFIX.len() && host.ends_with(INTERNAL_SUFFIX);
    if !is_internal || host.starts_with('.') || host.contains('*') {
        return Err(bad(
            "is not an internal endpoint (its host must end in .internal)",
        ));
    }
    let port = match (port, default_port) {
        (Some(p), Some(d)) if p == d => None,
        (Some(p), _) => Some(p),
        (None, Some(_)) => None,
        (None, None) => return Err(bad("needs a port (tcp://db.internal:5432)")),
    };
    Ok(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::internal_url;

    #[test]
    fn canonical_urls() {
        for (given, want) in [
            ("https://API.internal", "https://api.internal"),
            ("https://api.internal:443/", "https://api.internal"),
            ("http://svc.internal:1234", "http://svc.internal:1234"),
            ("tcp://db.internal:5432", "tcp://db.internal:5432"),
            ("http://a.b.internal.", "http://a.b.internal"),
        ] {
            assert_eq!(internal_url(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "https://api.example.com",
            "api.internal",
            "ftp://x.internal",
            "https://x.internal/v1",
            "https://x.internal?a=1",
            "tcp://db.internal",
            "https://.internal",
            "https://*.internal",
            "https://u@x.internal",
            "https://x.internal:99999",
        ] {
            assert!(internal_url(bad).is_err(), "{bad}");
        }
    }
}
