//! The public protocol of an endpoint (`http`, `https`, `tcp`, `tls`): one type for the policy
//! engine (which phases a policy may have, `endpoint.protocol`), the tunnel protocol (what an
//! agent binds, what a stream carries) and the edge. It lives here, in the crate both sides
//! already share, because neither the engine nor the tunnel may depend on the other.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The public protocol of an endpoint, as its URL scheme names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS terminated at the edge.
    Https,
    /// Raw TCP on a port.
    Tcp,
    /// TLS routed by SNI and passed through.
    Tls,
}

impl Protocol {
    /// The URL scheme, also the `endpoint.protocol` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        }
    }

    /// Parses a URL scheme.
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            "tcp" => Protocol::Tcp,
            "tls" => Protocol::Tls,
            _ => return None,
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_round_trip() {
        for p in [
            Protocol::Http,
            Protocol::Https,
            Protocol::Tcp,
            Protocol::Tls,
        ] {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Protocol::parse("HTTP"), None);
    }
}
