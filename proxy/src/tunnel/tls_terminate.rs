//! `terminate-tls` with options: the edge ends the client's TLS with the action's options (its
//! certificate, else the edge's own for the name; its versions; its client-certificate
//! checks). On TLS endpoints the tunnel then carries the plaintext ([`Terminator::accept`]);
//! on HTTPS endpoints the options shape the https listener's own handshake
//! ([`Terminator::https_acceptor`], offering h2 and http/1.1). Server configs are built once
//! per set of options and kept while that policy is live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pingora::listeners::tls::Acceptor;
use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;
use sluice_policy::{ClientAuth, TlsInfo, TlsTermination, TlsVersion};
use sluice_tls::server::{
    ClientCerts, FixedCertificate, ServerTlsError, authorities, certified_key, server_config,
    versions,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Time allowed for a TLS handshake with a client, after its ClientHello (ngrok's TLS
/// endpoints allow 60 s).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

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

type Cached<T> = (Arc<TlsTermination>, Arc<T>);

/// A cache keyed by the address of the options its entries were built from (the options are
/// kept alongside, so an address is not reused while its entry lives).
type Cache<T> = Mutex<HashMap<usize, Cached<T>>>;

/// The entry for `options` in `cache`, built with `build` when missing.
fn cached<T, E>(
    cache: &Cache<T>,
    options: &Arc<TlsTermination>,
    build: impl FnOnce() -> Result<T, E>,
) -> Result<Arc<T>, E> {
    let key = Arc::as_ptr(options) as usize;
    if let Ok(cache) = cache.lock()
        && let Some((_, entry)) = cache.get(&key)
    {
        return Ok(entry.clone());
    }
    let entry = Arc::new(build()?);
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (options.clone(), entry.clone()));
    }
    Ok(entry)
}

/// Terminates clients' TLS with `terminate-tls` options.
pub struct Terminator {
    /// The edge's own certificates (configured by name, else the development CA).
    own: Arc<dyn ResolvesServerCert>,
    /// Server configs for TLS endpoints (no ALPN).
    configs: Cache<ServerConfig>,
    /// Acceptors for HTTPS endpoints (ALPN h2 and http/1.1).
    https: Cache<Acceptor>,
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
            https: Mutex::new(HashMap::new()),
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
        // No ALPN: the edge does not know what the agent's upstream speaks, so the client
        // keeps its default protocol.
        cached(&self.configs, options, || self.build(options, Vec::new()))
    }

    /// The https listener's acceptor for an HTTPS endpoint's `terminate-tls` options.
    pub fn https_acceptor(
        &self,
        options: &Arc<TlsTermination>,
    ) -> Result<Arc<Acceptor>, ServerTlsError> {
        cached(&self.https, options, || {
            let alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let config = self.build(options, alpn)?;
            Ok(Acceptor::from_server_config(Arc::new(config)))
        })
    }

    fn build(
        &self,
        options: &TlsTermination,
        alpn: Vec<Vec<u8>>,
    ) -> Result<ServerConfig, ServerTlsError> {
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
        server_config(&versions, &client, certs, alpn)
    }
}

/// The TLS facts of a terminating handshake (rustls), named as the https listener names them,
/// with the client's certificate.
pub fn handshake_facts(server: &rustls::ServerConnection) -> TlsInfo {
    TlsInfo {
        sni: server.server_name().map(str::to_string),
        version: server
            .protocol_version()
            .and_then(|v| v.as_str())
            .map(str::to_string),
        cipher_suite: server
            .negotiated_cipher_suite()
            .and_then(|c| c.suite().as_str())
            .map(str::to_string),
        alpn: server
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned()),
        client: super::handshake::client_certificate(
            server
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref()),
        ),
    }
}
