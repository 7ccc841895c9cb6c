//! The connection side of an in-process run: a virtual clock, the connection a test request
//! arrives on, and the endpoint it was sent to.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::exchange::{Clock, ConnInfo, Connection, EndpointInfo, TlsInfo};
use crate::phase::Protocol;

/// A clock that stands still until moved: virtual time for rate limits and breakers.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock at a fixed, arbitrary instant (2026-01-01T00:00:00Z).
    pub fn new() -> Self {
        ManualClock {
            now: Mutex::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)),
        }
    }
    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.now
            .lock()
            .map(|n| *n)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// The connection a test request arrives on.
#[derive(Debug, Clone)]
pub struct TestConn {
    /// Client address.
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
    /// TLS server name, when the connection is TLS.
    pub sni: Option<String>,
    /// The client's certificate (mutual TLS), for `conn.tls.client.*`.
    pub client_certificate: Option<Arc<crate::PeerCertificate>>,
}

impl Default for TestConn {
    fn default() -> Self {
        TestConn {
            client: SocketAddr::from(([203, 0, 113, 7], 50000)),
            server: SocketAddr::from(([127, 0, 0, 1], 443)),
            sni: None,
            client_certificate: None,
        }
    }
}

/// The endpoint for a test, from its URL (`https://app.example.com`).
pub fn endpoint(url: &str) -> EndpointInfo {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let protocol = Protocol::parse(scheme).unwrap_or(Protocol::Https);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(443)),
        _ => (
            host_port.to_string(),
            match protocol {
                Protocol::Http => 80,
                _ => 443,
            },
        ),
    };
    EndpointInfo {
        id: "ep_test".into(),
        url: format!("{scheme}://{host_port}"),
        protocol,
        host,
        port,
    }
}

/// Makes a connection's policy state.
pub fn connection(conn: &TestConn, endpoint: EndpointInfo, clock: Arc<dyn Clock>) -> Connection {
    let started = clock.now();
    Connection::new(
        ConnInfo {
            client: conn.client,
            server: conn.server,
            tls: (conn.sni.is_some() || conn.client_certificate.is_some()).then(|| TlsInfo {
                sni: conn.sni.clone(),
                // As the edge's rustls listener names them.
                version: Some("TLSv1_3".into()),
                cipher_suite: Some("TLS13_AES_128_GCM_SHA256".into()),
                alpn: None,
                client: conn.client_certificate.clone(),
            }),
            started,
        },
        Arc::new(endpoint),
        clock,
    )
}
