//! What a `terminate-tls` action asks of the listener: the engine has no TLS of its own, so the
//! action records these options on the [`Connection`](crate::Connection) in `on_tcp_connect`
//! and the listener terminates the client's TLS with them: during the phase through a
//! [`TlsHandshake`] the host provides (so later rules see the handshake's facts), else once
//! the phase is over.

use std::sync::Arc;

use async_trait::async_trait;

use crate::TlsInfo;

/// The listener's TLS handshake with the client, offered to `terminate-tls` while
/// `on_tcp_connect` runs: the engine has no TLS and no socket, the host has both.
#[async_trait]
pub trait TlsHandshake: Send + Sync {
    /// Ends the client's TLS per `options`; the handshake's facts, or why it failed.
    async fn handshake(&self, options: Arc<TlsTermination>) -> Result<TlsInfo, String>;
}

/// A TLS protocol version a terminating listener may accept (rustls speaks 1.2 and 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

/// Whether and how the listener asks the client for a certificate (ngrok's
/// `mutual_tls_verification_strategy`, after Go's `tls.ClientAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// One is asked for; none, or any, is accepted without a chain check.
    Request,
    /// One is required; any is accepted without a chain check.
    RequireAny,
    /// One is asked for; when given it must chain to the configured authorities.
    VerifyIfGiven,
    /// One is required and must chain to the configured authorities.
    RequireAndVerify,
}

/// The listener's TLS options for one connection, set by `terminate-tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTermination {
    /// The server certificate chain and its private key (PEM); `None` means the listener's own
    /// certificate for the requested name.
    pub certificate: Option<PemKeyPair>,
    /// Lowest accepted version.
    pub min_version: TlsVersion,
    /// Highest accepted version.
    pub max_version: TlsVersion,
    /// Certificate authorities (PEM) that client certificates must chain to.
    pub client_cas: Vec<String>,
    /// How client certificates are asked for and checked.
    pub client_auth: ClientAuth,
}

impl TlsTermination {
    /// The options of `terminate-tls` written without any: the listener's own certificate,
    /// TLS 1.2 to 1.3, no client certificate.
    pub fn is_default(&self) -> bool {
        self.certificate.is_none()
            && self.min_version == TlsVersion::V1_2
            && self.max_version == TlsVersion::V1_3
            && self.client_cas.is_empty()
            && self.client_auth == ClientAuth::None
    }
}

/// A certificate chain and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct PemKeyPair {
    /// The certificate chain, leaf first.
    pub certificate_pem: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key_pem: String,
}

impl std::fmt::Debug for PemKeyPair {
    // The key stays out of logs and debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemKeyPair")
            .field("certificate_pem", &self.certificate_pem)
            .finish_non_exhaustive()
    }
}
