//! Agent-side TLS termination for `tls://` endpoints (`--terminate-at agent --crt --key`,
//! v3 `agent_tls_termination`, v2 `crt`/`key`): the edge passes the client's TLS through and
//! the agent ends it with its own certificate, so the edge never sees plaintext. With
//! certificate authorities, clients must present a certificate that chains to one of them.

use std::sync::Arc;

use sluice_tls::server::{
    ClientCerts, FixedCertificate, ServerTlsError, authorities, certified_key, server_config,
    versions,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The PEMs an agent terminates with (read from files or written inline).
#[derive(Clone, PartialEq, Eq)]
pub struct AgentTlsPem {
    /// Certificate chain, leaf first.
    pub certificate_pem: String,
    /// Its private key.
    pub private_key_pem: String,
    /// Authorities client certificates must chain to (empty: none asked for).
    pub client_cas: Vec<String>,
}

impl std::fmt::Debug for AgentTlsPem {
    // The key stays out of logs and debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTlsPem")
            .field("certificate_pem", &self.certificate_pem)
            .field("client_cas", &self.client_cas.len())
            .finish_non_exhaustive()
    }
}

/// A ready acceptor for agent-side termination. Cheap to clone.
#[derive(Clone)]
pub struct AgentTls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for AgentTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentTls")
    }
}

impl AgentTls {
    /// Checks the PEMs and builds the acceptor (TLS 1.2 and 1.3; client certificates
    /// required and verified when authorities are given; no ALPN, as the upstream's protocol
    /// is not known).
    pub fn new(pem: &AgentTlsPem) -> Result<Self, ServerTlsError> {
        let key = certified_key(
            pem.certificate_pem.as_bytes(),
            pem.private_key_pem.as_bytes(),
        )?;
        let client = if pem.client_cas.is_empty() {
            ClientCerts::None
        } else {
            ClientCerts::Verify {
                roots: Arc::new(authorities(&pem.client_cas)?),
                optional: false,
            }
        };
        let config = server_config(
            &versions(12, 13),
            &client,
            Arc::new(FixedCertificate(key)),
            Vec::new(),
        )?;
        Ok(AgentTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Handshakes with the public client over `io`.
    pub async fn accept<S>(&self, io: S) -> std::io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.acceptor.accept(io).await
    }
}
