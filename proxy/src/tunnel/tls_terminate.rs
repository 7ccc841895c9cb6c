//! TLS endpoints whose `on_tcp_connect` ran `terminate-tls`: the edge ends the client's TLS
//! here with the action's options (its certificate, else the edge's own for the name; its
//! versions; its client-certificate checks) and the tunnel carries the plaintext. Server
//! configs are built once per set of options and kept while that policy is live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;
use sluice_policy::{ClientAuth, TlsTermination, TlsVersion};
use sluice_tls::server::{
    ClientCerts, FixedCertificate, ServerTlsError, authorities, certified_key, server_config,
    versions,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Time allowed for the terminating handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most server configs kept; past it the cache starts again (options written with `${…}`
/// can differ per connection).
const CACHE_LIMIT: usize = 64;

/// Why a terminating handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum TerminateError {
    /// The options do not make a server config.
    #[error("terminate-tls options: {0}")]
    Options(#[from] ServerTlsError),
    /// The client's handshake failed (bad version, no or wrong certificate, …).
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    /// The client took too long.
    #[error("TLS handshake timed out")]
    Timeout,
}

type Cached = (Arc<TlsTermination>, Arc<ServerConfig>);

/// Terminates clients' TLS with `terminate-tls` options.
pub struct Terminator {
    /// The edge's own certificates (configured by name, else the development CA).
    own: Arc<dyn ResolvesServerCert>,
    /// Server configs by the address of the options they were built from (the options are
    /// kept alongside, so an address is not reused while its entry lives).
    configs: Mutex<HashMap<usize, Cached>>,
}

impl std::fmt::Debug for Terminator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Terminator")
    }
}

impl Terminator {
    /// A terminator falling back to `own` when the options name no certificate.
    pub fn new(own: Arc<dyn ResolvesServerCert>) -> Self {
        Terminator {
            own,
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// Handshakes with the client on `io` per `options`.
    pub async fn accept<S>(
        &self,
        options: &Arc<TlsTermination>,
        io: S,
    ) -> Result<TlsStream<S>, TerminateError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = self.config(options)?;
        let accept = TlsAcceptor::from(config).accept(io);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(e)) => Err(TerminateError::Handshake(e)),
            Err(_) => Err(TerminateError::Timeout),
        }
    }

    fn config(&self, options: &Arc<TlsTermination>) -> Result<Arc<ServerConfig>, ServerTlsError> {
        let key = Arc::as_ptr(options) as usize;
        if let Ok(cache) = self.configs.lock()
            && let Some((_, config)) = cache.get(&key)
        {
            return Ok(config.clone());
        }
        let config = Arc::new(self.build(options)?);
        if let Ok(mut cache) = self.configs.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, (options.clone(), config.clone()));
        }
        Ok(config)
    }

    fn build(&self, options: &TlsTermination) -> Result<ServerConfig, ServerTlsError> {
        let certs: Arc<dyn ResolvesServerCert> = match &options.certificate {
            Some(pair) => Arc::new(FixedCertificate(certified_key(
                pair.certificate_pem.as_bytes(),
                pair.private_key_pem.as_bytes(),
            )?)),
            None => self.own.clone(),
        };
        let number = |v: TlsVersion| match v {
            TlsVersion::V1_2 => 12,
            TlsVersion::V1_3 => 13,
        };
        let versions = versions(number(options.min_version), number(options.max_version));
        let verify = |optional: bool| -> Result<ClientCerts, ServerTlsError> {
            Ok(ClientCerts::Verify {
                roots: Arc::new(authorities(&options.client_cas)?),
                optional,
            })
        };
        let client = match options.client_auth {
            ClientAuth::None => ClientCerts::None,
            ClientAuth::Request => ClientCerts::Request,
            ClientAuth::RequireAny => ClientCerts::RequireAny,
            ClientAuth::VerifyIfGiven => verify(true)?,
            ClientAuth::RequireAndVerify => verify(false)?,
        };
        // No ALPN: the edge does not know what the agent's upstream speaks, so the client
        // keeps its default protocol.
        server_config(&versions, &client, certs, Vec::new())
    }
}
