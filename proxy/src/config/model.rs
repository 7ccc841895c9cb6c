//! The validated config: what the rest of the edge reads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{Diagnostic, EndpointInfo, Policy};

/// How the edge speaks to an upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    #[default]
    Http1,
    /// HTTP/2 (h2c on `http://`).
    Http2,
}

/// Where request events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsOutput {
    /// One JSON line per event on standard output.
    Stdout,
    /// Appended to this file.
    File(PathBuf),
}

/// A validated edge config, policies compiled.
#[derive(Debug)]
pub struct EdgeConfig {
    /// Address of the plain HTTP listener.
    pub http: Option<SocketAddr>,
    /// Address of the HTTPS listener.
    pub https: Option<SocketAddr>,
    /// Address of the admin listener.
    pub admin: Option<SocketAddr>,
    /// The state folder (development CA).
    pub state_dir: PathBuf,
    /// Configured certificates, in file order.
    pub certificates: Vec<Certificate>,
    /// Idle timeout of client connections.
    pub idle_timeout: Duration,
    /// Time allowed for a request header to arrive, from its first byte.
    pub header_read_timeout: Duration,
    /// Where events go.
    pub events: EventsOutput,
    /// The endpoints, in file order.
    pub endpoints: Vec<Arc<Endpoint>>,
}

/// A certificate from PEM files and the names it serves.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Exact or wildcard names (lower case).
    pub names: Vec<String>,
    /// Chain and signing key, ready for rustls.
    pub key: Arc<rustls::sign::CertifiedKey>,
}

/// The scheme an endpoint is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (the http listener).
    Http,
    /// HTTPS (the https listener).
    Https,
}

/// One endpoint with a plain-address upstream.
#[derive(Debug)]
pub struct Endpoint {
    /// Facts the policy sees as `endpoint.*`.
    pub info: Arc<EndpointInfo>,
    /// Host pattern: `app.example.com` or `*.example.com` (lower case).
    pub host: String,
    /// The listener it is served on.
    pub scheme: Scheme,
    /// The upstream.
    pub upstream: Upstream,
    /// Its compiled policy (empty when none is given).
    pub policy: Arc<Policy>,
}

/// A plain-address upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The URL as written.
    pub url: String,
    /// Resolved address (resolved once at start-up).
    pub addr: SocketAddr,
    /// Whether to speak TLS to it.
    pub tls: bool,
    /// Host name, used for SNI.
    pub host: String,
    /// HTTP version.
    pub protocol: UpstreamProtocol,
}

/// A config that failed to load: every problem found.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The problems, each with file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.diagnostics.iter().filter(|d| d.is_error()).enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
