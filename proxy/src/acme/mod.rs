//! Certificates the edge obtains and renews itself from an ACME CA (`acme:` in the edge
//! config), through the `instant-acme` client:
//!
//! - [`challenges`]: the HTTP-01 tokens (answered on the http listener) and TLS-ALPN-01
//!   certificates (offered on the https listener for ALPN `acme-tls/1`) of open orders.
//! - [`certs`]: the certificates obtained, which the https listener's resolver serves
//!   after the configured PEM certificates; renewal swaps them in place.
//! - `store`: the account key and certificates in the state folder, reused on restart.
//! - `order`: one order; `manager`: the background task that orders the configured domains,
//!   names bound under the configured base domains (on first bind, each in its own task so no
//!   tenant waits for another), and renewals, with bounded retries and backoff.
//! - `http_client`: the HTTPS client for the CA's directory (ring, given roots).
//!
//! Until a name's first certificate arrives, its clients get the development CA's certificate
//! for it (the fallback of every name the edge holds no certificate for).

pub mod certs;
pub mod challenges;
mod http_client;
mod manager;
mod order;
mod store;

use std::sync::{Arc, OnceLock};

use rustls::server::ClientHello;
use rustls::sign::CertifiedKey;
use tokio::sync::{Notify, mpsc};

pub use certs::{ManagedCert, ManagedCerts};
pub use challenges::{ACME_TLS_ALPN, Challenges, HTTP01_PREFIX};
pub use manager::{Manager, prepare};

/// Why an ACME step failed. Messages name files, names and the CA's problem documents, never
/// key material.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA answered with an error, or could not be reached.
    #[error("ACME: {0}")]
    Acme(#[from] instant_acme::Error),
    /// `acme.ca_roots` could not be used.
    #[error("ACME CA roots: {0}")]
    Roots(String),
    /// An order did not end with a certificate.
    #[error("{0}")]
    Order(String),
    /// A challenge answer could not be made.
    #[error("{0}")]
    Challenge(String),
    /// A certificate or key did not parse.
    #[error("{0}")]
    Certificate(String),
    /// A file in the state folder could not be read or written.
    #[error("{0}")]
    Store(String),
}

/// What the listeners, the bind handler and the admin listener share with the ACME manager.
/// Empty (and inert) when `acme:` is not configured.
#[derive(Debug, Default)]
pub struct Acme {
    /// Answers to the CA's challenges.
    pub challenges: Challenges,
    /// The certificates obtained.
    pub certs: ManagedCerts,
    handle: OnceLock<Handle>,
}

/// How to reach the running manager.
#[derive(Debug)]
struct Handle {
    /// Names bound by agents that need a certificate.
    wanted: mpsc::Sender<String>,
    /// Renews every certificate now.
    renew: Arc<Notify>,
    /// Which names it covers.
    covers: Covers,
    /// Whether TLS-ALPN-01 is answered (the https listener then accepts `acme-tls/1`).
    tls_alpn01: bool,
}

/// The names certificates are ordered for.
#[derive(Debug, Clone)]
struct Covers {
    domains: Vec<String>,
    base_domains: Vec<String>,
}

impl Covers {
    /// Whether `name` is one of the domains or a name under a base domain (never a wildcard,
    /// only DNS characters).
    fn covers(&self, name: &str) -> bool {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return false;
        }
        self.domains.iter().any(|d| d == name)
            || self.base_domains.iter().any(|b| {
                name.strip_suffix(b.as_str())
                    .and_then(|rest| rest.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty() && !label.ends_with('.'))
            })
    }
}

impl Acme {
    /// An agent bound `host` (https or TLS): when it falls under a configured base domain and
    /// the edge holds no certificate for it yet, the manager orders one in the background.
    pub fn bound(&self, host: &str) {
        let Some(h) = self.handle.get() else { return };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !h.covers.covers(&host) || self.certs.get(&host).is_some() {
            return;
        }
        if let Err(e) = h.wanted.try_send(host.clone()) {
            tracing::warn!(name = %host, error = %e, "ACME: too many names waiting; this one is ordered at the next renewal check");
        }
    }

    /// Orders a new certificate for every name held or configured, now (admin
    /// `POST /acme/renew`); `None` when ACME is not configured.
    pub fn renew_all(&self) -> Option<usize> {
        let h = self.handle.get()?;
        h.renew.notify_one();
        let mut names = self.certs.names();
        names.retain(|n| h.covers.covers(n));
        for d in &h.covers.domains {
            if !names.contains(d) {
                names.push(d.clone());
            }
        }
        Some(names.len())
    }

    /// Whether the https listener must accept ALPN `acme-tls/1`.
    pub fn tls_alpn01(&self) -> bool {
        self.handle.get().is_some_and(|h| h.tls_alpn01)
    }

    /// For a ClientHello offering `acme-tls/1` (a CA validating TLS-ALPN-01):
    /// `Some(answer)`, the challenge certificate for its name if an order is open (`None` inside
    /// ends the handshake: such a client wants nothing else). `None` for every other hello.
    pub fn challenge_hello(&self, hello: &ClientHello<'_>) -> Option<Option<Arc<CertifiedKey>>> {
        let mut alpn = hello.alpn()?;
        if !alpn.any(|p| p == ACME_TLS_ALPN) {
            return None;
        }
        Some(
            hello
                .server_name()
                .and_then(|n| self.challenges.tls_alpn01(n)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Covers;

    #[test]
    fn covers_the_domains_and_names_under_the_base_domains() {
        let c = Covers {
            domains: vec!["app.example.com".into()],
            base_domains: vec!["tenants.example.com".into()],
        };
        assert!(c.covers("app.example.com"));
        assert!(c.covers("shop.tenants.example.com"));
        assert!(c.covers("a.b.tenants.example.com"));
        assert!(!c.covers("tenants.example.com"));
        assert!(!c.covers("eviltenants.example.com"));
        assert!(!c.covers(".tenants.example.com"));
        assert!(!c.covers("*.tenants.example.com"));
        assert!(!c.covers("x/../y.tenants.example.com"));
        assert!(!c.covers("other.example.com"));
    }
}
