//! Edge-side authorization: who may connect ([`Authenticator`]) and what they may bind
//! ([`Grant`]).

use std::net::SocketAddr;

use async_trait::async_trait;

use crate::proto::Protocol;

/// What the edge knows about a connecting agent when it authenticates. Its `Debug` leaves the
/// authtoken out.
#[derive(Clone)]
pub struct AuthRequest {
    /// The presented authtoken.
    pub authtoken: String,
    /// The agent's software version.
    pub agent_version: String,
    /// The agent's stable client id.
    pub client_id: String,
    /// The agent's network address.
    pub remote_addr: SocketAddr,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("authtoken", &"<redacted>")
            .field("agent_version", &self.agent_version)
            .field("client_id", &self.client_id)
            .field("remote_addr", &self.remote_addr)
            .finish()
    }
}

/// Why authentication failed (sent to the agent as `AuthError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    /// Machine-readable code, e.g. `ERR_SLUICE_AUTH_FAILED`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl AuthRejection {
    /// A rejection with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// One thing a token may bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindPermission {
    /// Exactly this host name (any http/https/tls URL on it).
    Domain(String),
    /// `*.example.com`: any name below `example.com` (not the apex), at any depth, including
    /// wildcard endpoints below it.
    Wildcard(String),
    /// This TCP port (any host).
    TcpPort(u16),
    /// An inclusive range of TCP ports.
    TcpPorts(u16, u16),
    /// Anything.
    Any,
}

/// The result of a successful authentication: the account and what it may bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A stable name for the token's owner; sessions of the same account may take over each
    /// other's URLs, other accounts never may.
    pub account: String,
    /// What the token may bind.
    pub permissions: Vec<BindPermission>,
}

impl Grant {
    /// Whether a bind of `url` with `protocol` is allowed.
    pub fn permits(&self, protocol: Protocol, url: &str) -> bool {
        let Some((host, port)) = host_port(url) else {
            return false;
        };
        self.permissions.iter().any(|p| match p {
            BindPermission::Any => true,
            BindPermission::Domain(d) => protocol != Protocol::Tcp && host.eq_ignore_ascii_case(d),
            BindPermission::Wildcard(w) => protocol != Protocol::Tcp && wildcard_covers(w, &host),
            BindPermission::TcpPort(p) => protocol == Protocol::Tcp && port == Some(*p),
            BindPermission::TcpPorts(lo, hi) => {
                protocol == Protocol::Tcp && port.is_some_and(|p| (*lo..=*hi).contains(&p))
            }
        })
    }
}

/// Whether the wildcard pattern `*.base` covers `host` (a name or a deeper wildcard).
fn wildcard_covers(pattern: &str, host: &str) -> bool {
    let Some(base) = pattern.strip_prefix("*.") else {
        return false;
    };
    let (base, host) = (base.to_ascii_lowercase(), host.to_ascii_lowercase());
    if host.strip_prefix("*.") == Some(base.as_str()) {
        return true;
    }
    host.strip_suffix(&base)
        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
}

/// Splits a URL such as `https://app.example.com:8443/`, `tcp://host:2222` or a bare host into
/// its host and optional port.
pub fn host_port(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.is_empty() {
        return None;
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h.to_owned(), Some(p.parse().ok()?))),
        Some(_) => None,
        None => Some((authority.to_owned(), None)),
    }
}

/// Decides whether an authtoken is valid and what it may bind.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Accepts the agent with a [`Grant`] or refuses it.
    async fn authenticate(&self, request: &AuthRequest) -> Result<Grant, AuthRejection>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(p: Vec<BindPermission>) -> Grant {
        Grant {
            account: "a".into(),
            permissions: p,
        }
    }

    #[test]
    fn parses_hosts_and_ports() {
        assert_eq!(
            host_port("https://a.b.com/x"),
            Some(("a.b.com".into(), None))
        );
        assert_eq!(host_port("tcp://h:2222"), Some(("h".into(), Some(2222))));
        assert_eq!(host_port("a.b.com"), Some(("a.b.com".into(), None)));
        assert_eq!(host_port("tcp://h:notaport"), None);
        assert_eq!(host_port("http://"), None);
    }

    #[test]
    fn domains_wildcards_and_ports() {
        let g = grant(vec![
            BindPermission::Domain("app.example.com".into()),
            BindPermission::Wildcard("*.dev.example.com".into()),
            BindPermission::TcpPorts(20000, 20010),
        ]);
        assert!(g.permits(Protocol::Https, "https://app.example.com"));
        assert!(g.permits(Protocol::Http, "http://APP.example.com:80/"));
        assert!(!g.permits(Protocol::Https, "https://other.example.com"));
        assert!(g.permits(Protocol::Https, "https://x.dev.example.com"));
        assert!(g.permits(Protocol::Https, "https://y.x.dev.example.com"));
        assert!(g.permits(Protocol::Https, "https://*.x.dev.example.com"));
        assert!(g.permits(Protocol::Https, "https://*.dev.example.com"));
        assert!(!g.permits(Protocol::Https, "https://dev.example.com"));
        assert!(!g.permits(Protocol::Https, "https://xdev.example.com"));
        assert!(g.permits(Protocol::Tcp, "tcp://edge:20005"));
        assert!(!g.permits(Protocol::Tcp, "tcp://edge:20011"));
        assert!(!g.permits(Protocol::Tcp, "tcp://app.example.com"));
        assert!(grant(vec![BindPermission::Any]).permits(Protocol::Tcp, "tcp://h:1"));
    }
}
