//! Validation helpers: durations, URLs, host patterns, certificates, and the [`Checker`] that
//! collects located errors.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice_policy::{Code, Diagnostic, Policy, PolicyError};
use sluice_source::{Node, PathSeg};

use super::model::Address;
use super::raw::RawUpstream;

/// `app.example.com` or `*.example.com`.
pub(super) fn valid_host_pattern(host: &str) -> bool {
    let rest = host.strip_prefix("*.").unwrap_or(host);
    !rest.is_empty() && !rest.contains('*') && !rest.contains('/') && !rest.contains(' ')
}

/// A duration in Go's grammar (`300ms`, `10s`, `1m30s`, `1h`; see [`sluice_wire::duration`]),
/// or, as the edge config also documents, a bare number of seconds (`"30"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    sluice_wire::parse_duration(text)
        .ok()
        .or_else(|| text.parse::<u64>().ok().map(Duration::from_secs))
}

/// Reads a PEM chain and key into a rustls signing key.
pub(super) fn load_certified_key(
    cert: &Path,
    key: &Path,
) -> Result<rustls::sign::CertifiedKey, String> {
    let loaded = pingora::tls::load_certs_and_key_files(
        &cert.display().to_string(),
        &key.display().to_string(),
    )
    .map_err(|e| {
        format!(
            "cannot read the certificate {} or key {}: {e}",
            cert.display(),
            key.display()
        )
    })?;
    let Some((chain, key_der)) = loaded else {
        return Err(format!(
            "no certificate in {} or no private key in {}",
            cert.display(),
            key.display()
        ));
    };
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| format!("unusable private key {}: {e}", key.display()))?;
    let pair = rustls::sign::CertifiedKey::new(chain, signing);
    // A certificate that does not parse, or a pair that does not belong together (say, a
    // certificate file replaced before its key file is), would fail every handshake.
    match pair.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(pair)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(format!(
                "the private key {} does not belong to the certificate {}",
                key.display(),
                cert.display()
            ))
        }
        Err(e) => Err(format!(
            "{} does not hold a usable certificate: {e}",
            cert.display()
        )),
    }
}

/// A path segment naming a map key.
pub(super) fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

/// `scheme://host[:port][/]` → (scheme, host, port).
pub(super) fn split_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let hostport = rest.strip_suffix('/').unwrap_or(rest);
    if hostport.is_empty() || hostport.contains('/') || hostport.contains('@') {
        return None;
    }
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (h, p.parse().ok()?),
        _ => (hostport, default_port),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_string(), port))
}

/// An upstream address as ngrok reads one → (https, host, port): `http://host[:port]` and
/// `https://host[:port]` say their scheme; `host:port` and a bare `port` (host `localhost`)
/// mean https when the port is 443 and plain http otherwise.
pub(super) fn split_upstream(url: &str) -> Option<(bool, String, u16)> {
    let url = url.trim();
    if url.contains("://") {
        let (scheme, host, port) = split_url(url)?;
        return Some((scheme == "https", host, port));
    }
    if let Ok(port) = url.parse::<u16>() {
        return (port > 0).then(|| (port == 443, "localhost".to_string(), port));
    }
    let (_, host, port) = split_url(&format!("http://{url}"))?;
    // Without a scheme the port is required: `example.com` alone says nothing.
    if !url.ends_with(&format!(":{port}")) || port == 0 {
        return None;
    }
    Some((port == 443, host, port))
}

/// Collects errors located at a path in the config tree.
pub(super) struct Checker<'a> {
    pub(super) file: &'a Arc<str>,
    pub(super) root: &'a Node,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub(super) fn error(&mut self, path: &[PathSeg], message: impl Into<String>) {
        let loc = self.root.at(path).map_or(self.root.loc, |n| n.loc);
        self.diagnostics.push(Diagnostic::error(
            Code::InvalidValue,
            self.file,
            loc,
            path,
            message,
        ));
    }

    pub(super) fn socket_addr(&mut self, text: &str, path: &[PathSeg]) -> Option<SocketAddr> {
        match text.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => Some(a),
            _ => {
                self.error(path, format!("`{text}` is not a host:port address"));
                None
            }
        }
    }

    pub(super) fn upstream(&mut self, raw: &RawUpstream, path: &[PathSeg]) -> Option<Address> {
        let Some((tls, host, port)) = split_upstream(&raw.url) else {
            self.error(
                path,
                format!(
                    "`{}` is not an upstream URL like http://127.0.0.1:3000, \
                     https://example.com, 127.0.0.1:3000 or 3000",
                    raw.url
                ),
            );
            return None;
        };
        let host_port = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let addr = match host_port.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => a,
            _ => {
                self.error(path, format!("cannot resolve the upstream host {host}"));
                return None;
            }
        };
        Some(Address {
            url: raw.url.clone(),
            addr,
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            protocol: raw.protocol,
            tls_verify: raw.tls_verify,
        })
    }

    pub(super) fn policy(&mut self, result: Result<Policy, PolicyError>) -> Option<Policy> {
        match result {
            Ok(p) => Some(p),
            Err(e) => {
                self.diagnostics.extend(e.diagnostics);
                None
            }
        }
    }
}
