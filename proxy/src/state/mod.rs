//! The edge's state: what the listeners, the HTTP service, the tunnel handlers, the admin
//! listener and reloads share ([`Shared`]). Every one of them imports this module; it imports
//! none of them, only the leaf modules its parts are made of.
//!
//! - [`snapshot`]: routes and certificates of one config ([`State`]), swapped whole on reload.
//! - [`agent_routes`]: what agents bound over the tunnel listener ([`TunnelRoutes`]); it
//!   survives reloads. [`pool`]: the sessions serving one of those names or ports.

pub mod agent_routes;
pub mod pool;
pub mod snapshot;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use agent_routes::TunnelRoutes;
pub use snapshot::State;

use crate::acme::Acme;
use crate::body_pace::BodyTimeouts;
use crate::config::{EdgeConfig, Endpoint, Scheme};
use crate::conn::ConnRecord;
use crate::event_sink::EventSink;
use crate::events::{Event, TcpConnectionClosed};
use crate::metrics::Metrics;

/// What the listeners, the service and the tunnel handlers share.
#[derive(Debug)]
pub struct Shared {
    /// Routes and certificates; swapped whole on reload.
    pub state: Arc<ArcSwap<State>>,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// Where events go.
    pub events: Option<Arc<EventSink>>,
    /// Endpoints bound by agents over the tunnel listener.
    pub tunnels: Arc<TunnelRoutes>,
    /// How fast request bodies must arrive (fixed until a restart).
    pub body_timeouts: BodyTimeouts,
    /// The embedded edge's fallback for IP hosts (see [`EdgeConfig::only_endpoint_at_ip`];
    /// fixed until a restart).
    pub only_endpoint_at_ip: bool,
    /// Certificates from the ACME CA and the answers to its challenges (empty without
    /// `acme:`).
    pub acme: Arc<Acme>,
    /// This edge's membership of a cluster (`cluster:`), set once at start.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

impl Shared {
    /// A shared state over `config`, writing events to `events` if given.
    pub fn new(config: &EdgeConfig, events: Option<Arc<EventSink>>) -> Self {
        let mut metrics = Metrics::default();
        if let Some(e) = &events {
            metrics.events_dropped = e.dropped_counter();
            metrics.event_write_errors = e.write_errors_counter();
        }
        Shared {
            state: Arc::new(ArcSwap::from_pointee(State::new(config))),
            metrics: Arc::new(metrics),
            events,
            tunnels: Arc::new(TunnelRoutes::default()),
            body_timeouts: config.body_timeouts,
            only_endpoint_at_ip: config.only_endpoint_at_ip,
            acme: Arc::new(Acme::default()),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// The HTTP or HTTPS endpoint serving `host` on the listener of `scheme`: a configured
    /// one, else one an agent bound.
    pub fn http_endpoint(&self, scheme: Scheme, host: &str) -> Option<Arc<Endpoint>> {
        let state = self.state.load();
        let configured = match scheme {
            Scheme::Http => state.http.lookup(host),
            Scheme::Https => state.https.lookup(host),
        };
        configured
            .or_else(|| self.tunnels.lookup(scheme, host))
            .or_else(|| self.cluster.get()?.lookup(scheme, host))
            .or_else(|| {
                (self.only_endpoint_at_ip && is_ip_or_localhost(host))
                    .then(|| self.tunnels.only(scheme))
                    .flatten()
            })
    }

    /// [`Shared::http_endpoint`] without moving the round robin of agents' pools.
    pub fn peek_http_endpoint(&self, scheme: Scheme, host: &str) -> Option<Arc<Endpoint>> {
        let state = self.state.load();
        let configured = match scheme {
            Scheme::Http => state.http.lookup(host),
            Scheme::Https => state.https.lookup(host),
        };
        configured
            .or_else(|| self.tunnels.peek(scheme, host))
            .or_else(|| self.cluster.get()?.lookup(scheme, host))
    }

    /// How specific the HTTPS endpoint serving `host` is (0: exact; see
    /// [`crate::routes::candidates`]), if one does: a configured one, else an agent's.
    pub fn https_rank(&self, host: &str) -> Option<usize> {
        let configured = self.state.load().https.rank(host);
        let bound = self.tunnels.http_rank(Scheme::Https, host);
        match (configured, bound) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes `tcp_connection_closed.v0` for a finished connection.
    pub(crate) async fn connection_closed(&self, conn: &ConnRecord) {
        let Some(sink) = &self.events else { return };
        let endpoints = conn.endpoints.lock().await;
        let event = TcpConnectionClosed::new(conn, &endpoints);
        sink.emit(Event::tcp_connection_closed(event));
    }
}

/// Whether `host` names no endpoint by itself: an IP address or `localhost` (see
/// [`EdgeConfig::only_endpoint_at_ip`]).
fn is_ip_or_localhost(host: &str) -> bool {
    let name = crate::routes::normalize(host);
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod host_tests {
    use super::is_ip_or_localhost;

    #[test]
    fn ip_hosts_are_the_ones_the_embedded_edge_falls_back_for() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST",
        ] {
            assert!(is_ip_or_localhost(host), "{host}");
        }
        for host in ["app.localhost:8080", "example.com", "", "127.0.0.1.nip.io"] {
            assert!(!is_ip_or_localhost(host), "{host}");
        }
    }
}
