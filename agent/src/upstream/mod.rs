//! Upstream addresses, parsed the way ngrok parses them.
//!
//! - a bare port: `8080` → `http://localhost:8080` (for TCP/TLS endpoints: `localhost:8080`);
//!   port 443 means `https`;
//! - a host and port: `example.local:9000`;
//! - a bare host: `example.local` → `http://example.local:80`;
//! - a URL with scheme `http`, `https`, `tcp` or `tls`; a bare scheme (`https://`) means
//!   `localhost` on the scheme's default port;
//! - `file:///abs/path`, served by the built-in file server.
//!
//! TCP and TLS upstreams need both a host and a port.

use std::fmt;
use std::path::PathBuf;

/// What kind of endpoint the upstream serves; it changes how a bare address is read. Not a
/// [`sluice_tunnel::Protocol`]: `sluice http` serves HTTP and HTTPS endpoints alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// HTTP or HTTPS endpoint (`sluice http`).
    Http,
    /// TCP endpoint (`sluice tcp`).
    Tcp,
    /// TLS endpoint (`sluice tls`).
    Tls,
}

impl From<sluice_tunnel::Protocol> for EndpointKind {
    /// The kind of the endpoints of a public protocol (HTTP and HTTPS ones are forwarded alike).
    fn from(protocol: sluice_tunnel::Protocol) -> Self {
        match protocol {
            sluice_tunnel::Protocol::Http | sluice_tunnel::Protocol::Https => EndpointKind::Http,
            sluice_tunnel::Protocol::Tcp => EndpointKind::Tcp,
            sluice_tunnel::Protocol::Tls => EndpointKind::Tls,
        }
    }
}

impl EndpointKind {
    /// The public protocol an endpoint of this kind binds with, given the URL it asks for: an
    /// HTTP endpoint is HTTPS only when its URL says `https://`, as the edge then serves it.
    /// The one mapping back from kind to protocol (bind requests and `config check` both use it).
    pub fn protocol(self, url: Option<&str>) -> sluice_tunnel::Protocol {
        use sluice_tunnel::Protocol;
        match self {
            EndpointKind::Tcp => Protocol::Tcp,
            EndpointKind::Tls => Protocol::Tls,
            EndpointKind::Http => {
                let scheme = url.and_then(|u| u.split_once("://")).map(|(s, _)| s);
                if scheme.is_some_and(|s| s.eq_ignore_ascii_case("https")) {
                    Protocol::Https
                } else {
                    Protocol::Http
                }
            }
        }
    }
}

/// How the agent talks to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
    /// Raw TCP bytes.
    Tcp,
    /// Raw bytes over a TLS connection the agent opens.
    Tls,
    /// The built-in static file server.
    File,
}

impl Scheme {
    /// The scheme's name as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
            Scheme::Tls => "tls",
            Scheme::File => "file",
        }
    }

    fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Http => Some(80),
            Scheme::Https => Some(443),
            _ => None,
        }
    }
}

/// The HTTP version spoken to an HTTP upstream (`upstream.protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AppProtocol {
    /// HTTP/1.1 (the default).
    #[default]
    Http1,
    /// HTTP/2: h2c on `http://`, ALPN `h2` on `https://`.
    Http2,
}

impl AppProtocol {
    /// Parses `http1` or `http2`.
    pub fn parse(s: &str) -> Result<Self, UpstreamError> {
        match s {
            "http1" => Ok(AppProtocol::Http1),
            "http2" => Ok(AppProtocol::Http2),
            other => Err(UpstreamError::Protocol(other.to_string())),
        }
    }

    /// `http1` or `http2`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppProtocol::Http1 => "http1",
            AppProtocol::Http2 => "http2",
        }
    }
}

/// PROXY protocol version written before the first byte to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyProtocol {
    /// The text form (`PROXY TCP4 …\r\n`).
    V1,
    /// The binary form.
    V2,
}

impl ProxyProtocol {
    /// Parses `1` or `2`.
    pub fn from_number(n: i64) -> Result<Self, UpstreamError> {
        match n {
            1 => Ok(ProxyProtocol::V1),
            2 => Ok(ProxyProtocol::V2),
            other => Err(UpstreamError::ProxyProtocol(other.to_string())),
        }
    }
}

/// Where a parsed upstream lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A host and port on the network.
    Net {
        /// Host name or IP literal (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A directory (or file) served by the built-in file server.
    File(PathBuf),
}

/// A parsed upstream with its options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upstream {
    /// How to talk to it.
    pub scheme: Scheme,
    /// Where it is.
    pub target: Target,
    /// HTTP version for HTTP upstreams.
    pub protocol: AppProtocol,
    /// PROXY protocol header to send first, if any.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Verify the upstream's TLS certificate (off by default, as in ngrok).
    pub tls_verify: bool,
    /// With `tls_verify`: the authorities (PEM) the upstream's certificate must chain to,
    /// instead of the web PKI roots.
    pub tls_verify_cas: Option<String>,
}

/// An upstream address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Empty address.
    #[error("the upstream address is empty")]
    Empty,
    /// Unknown URL scheme.
    #[error("unsupported upstream scheme `{0}` (expected http, https, tcp, tls or file)")]
    Scheme(String),
    /// The port is not a number from 1 to 65535.
    #[error("invalid upstream port `{0}`")]
    Port(String),
    /// TCP/TLS upstreams need a port.
    #[error("the upstream `{0}` needs both a host and a port")]
    NeedsPort(String),
    /// The scheme does not fit the endpoint kind.
    #[error("a {kind} endpoint cannot forward to `{addr}`")]
    Mismatch {
        /// The endpoint kind.
        kind: &'static str,
        /// The address given.
        addr: String,
    },
    /// `file://` URLs need an absolute path.
    #[error("file upstreams need an absolute path, e.g. file:///var/www (got `{0}`)")]
    FilePath(String),
    /// Bad `protocol` value.
    #[error("invalid upstream protocol `{0}` (expected http1 or http2)")]
    Protocol(String),
    /// Bad `proxy_protocol` value.
    #[error("invalid proxy_protocol `{0}` (expected 1 or 2)")]
    ProxyProtocol(String),
    /// A host with characters that cannot be in one.
    #[error("invalid upstream host in `{0}`")]
    Host(String),
}

impl Upstream {
    /// Parses an address written for an endpoint of `kind`, with default options.
    pub fn parse(addr: &str, kind: EndpointKind) -> Result<Self, UpstreamError> {
        let addr = addr.trim();
        if addr.is_empty() {
            return Err(UpstreamError::Empty);
        }
        let (scheme, rest) = match addr.split_once("://") {
            Some((s, rest)) => (Some(parse_scheme(s)?), rest),
            None => (None, addr),
        };
        if scheme == Some(Scheme::File) {
            return parse_file(addr, rest, kind);
        }
        // Drop any path: upstreams are origins.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = split_host_port(authority, addr)?;
        let scheme = match (scheme, kind) {
            (Some(s), EndpointKind::Http) if matches!(s, Scheme::Http | Scheme::Https) => s,
            (Some(s), EndpointKind::Tcp | EndpointKind::Tls)
                if matches!(s, Scheme::Tcp | Scheme::Tls) =>
            {
                s
            }
            (Some(_), k) => {
                return Err(UpstreamError::Mismatch {
                    kind: kind_name(k),
                    addr: addr.into(),
                });
            }
            (None, EndpointKind::Http) if port == Some(443) => Scheme::Https,
            (None, EndpointKind::Http) => Scheme::Http,
            (None, _) => Scheme::Tcp,
        };
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        let port = match port.or(scheme.default_port()) {
            Some(p) => p,
            None => return Err(UpstreamError::NeedsPort(addr.into())),
        };
        Ok(Upstream {
            scheme,
            target: Target::Net { host, port },
            protocol: AppProtocol::default(),
            proxy_protocol: None,
            tls_verify: false,
            tls_verify_cas: None,
        })
    }

    /// The host and port, for network upstreams.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        match &self.target {
            Target::Net { host, port } => Some((host, *port)),
            Target::File(_) => None,
        }
    }

    /// The `Host` header value that names this upstream (port omitted when it is the default).
    pub fn authority(&self) -> String {
        match &self.target {
            Target::Net { host, port } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                if self.scheme.default_port() == Some(*port) {
                    host
                } else {
                    format!("{host}:{port}")
                }
            }
            Target::File(_) => "localhost".into(),
        }
    }

    /// True for upstreams spoken to with HTTP (including the file server).
    pub fn is_http(&self) -> bool {
        matches!(self.scheme, Scheme::Http | Scheme::Https | Scheme::File)
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::File(p) => write!(f, "file://{}", p.display()),
            Target::Net { host, port } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                write!(f, "{}://{host}:{port}", self.scheme.as_str())
            }
        }
    }
}

fn kind_name(k: EndpointKind) -> &'static str {
    match k {
        EndpointKind::Http => "http",
        EndpointKind::Tcp => "tcp",
        EndpointKind::Tls => "tls",
    }
}

fn parse_scheme(s: &str) -> Result<Scheme, UpstreamError> {
    match s.to_ascii_lowercase().as_str() {
        "http" => Ok(Scheme::Http),
        "https" => Ok(Scheme::Https),
        "tcp" => Ok(Scheme::Tcp),
        "tls" => Ok(Scheme::Tls),
        "file" => Ok(Scheme::File),
        other => Err(UpstreamError::Scheme(other.into())),
    }
}

fn parse_file(addr: &str, rest: &str, kind: EndpointKind) -> Result<Upstream, UpstreamError> {
    if kind != EndpointKind::Http {
        return Err(UpstreamError::Mismatch {
            kind: kind_name(kind),
            addr: addr.into(),
        });
    }
    // file:///abs/path or file://localhost/abs/path
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(UpstreamError::FilePath(addr.into()));
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| UpstreamError::FilePath(addr.into()))?;
    Ok(Upstream {
        scheme: Scheme::File,
        target: Target::File(PathBuf::from(decoded.as_ref())),
        protocol: AppProtocol::default(),
        proxy_protocol: None,
        tls_verify: false,
        tls_verify_cas: None,
    })
}

/// Splits `host[:port]`, `[v6][:port]` or a bare port.
fn split_host_port(authority: &str, addr: &str) -> Result<(String, Option<u16>), UpstreamError> {
    let port_of = |p: &str| -> Result<u16, UpstreamError> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(UpstreamError::Port(p.into())),
        }
    };
    if authority.is_empty() {
        return Ok((String::new(), None));
    }
    if authority.bytes().all(|b| b.is_ascii_digit()) {
        return Ok((String::new(), Some(port_of(authority)?)));
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| UpstreamError::Host(addr.into()))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(port_of(p)?),
            None if after.is_empty() => None,
            None => return Err(UpstreamError::Host(addr.into())),
        };
        return Ok((host.to_string(), port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(port_of(p)?)),
        None => (authority, None),
    };
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(UpstreamError::Host(addr.into()));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests;
