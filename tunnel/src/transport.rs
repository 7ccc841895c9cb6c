//! The transport seam: how an agent reaches an edge (TLS over TCP by default), and the TLS
//! configurations both sides use (rustls with the ring provider).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sluice_tls::ServerCerts;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::edge_proxy::EdgeProxy;
use crate::error::{Result, TunnelError};
use crate::proto::ALPN;

/// Any byte stream a session can run over.
pub trait AsyncIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncIo for T {}

/// A boxed [`AsyncIo`].
pub type BoxedIo = Box<dyn AsyncIo>;

/// Dials the edge. Implement it to run sessions over something other than TLS/TCP
/// (an in-memory pipe for an embedded edge, a proxy, a websocket).
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Opens one connection, ready for the mux.
    async fn connect(&self) -> Result<BoxedIo>;
}

/// Which certificates the agent trusts for the edge.
#[derive(Debug, Clone)]
pub enum Roots {
    /// The Mozilla root program (webpki-roots).
    System,
    /// The certificates in this PEM text (e.g. the edge's own CA).
    CaPem(Vec<u8>),
}

fn tls_err(e: impl std::fmt::Display) -> TunnelError {
    TunnelError::Tls(e.to_string())
}

/// A client TLS config trusting `roots`, offering the tunnel ALPN.
pub fn client_tls_config(roots: &Roots) -> Result<Arc<ClientConfig>> {
    let certs = match roots {
        Roots::System => ServerCerts::WebPki,
        Roots::CaPem(pem) => {
            let mut store = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                store.add(cert.map_err(tls_err)?).map_err(tls_err)?;
            }
            if store.is_empty() {
                return Err(TunnelError::Tls("no certificate in CA PEM".into()));
            }
            ServerCerts::Roots(store)
        }
    };
    let cfg = sluice_tls::client_config(certs, vec![ALPN.to_vec()]).map_err(tls_err)?;
    Ok(Arc::new(cfg))
}

/// A server TLS config from a PEM certificate chain and PEM private key, offering the tunnel ALPN.
pub fn server_tls_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_err)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(tls_err)?;
    let mut cfg = ServerConfig::builder_with_provider(sluice_tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_err)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(cfg))
}

/// TLS over TCP to `addr`, verifying the certificate for `server_name`.
#[derive(Clone)]
pub struct TlsTransport {
    addr: String,
    server_name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
    timeout: Duration,
    local_ip: Option<std::net::IpAddr>,
    proxy: Option<EdgeProxy>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport")
            .field("addr", &self.addr)
            .field("server_name", &self.server_name)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl TlsTransport {
    /// A transport dialing `addr` (`host:port`) and expecting a certificate for `server_name`.
    pub fn new(
        addr: impl Into<String>,
        server_name: &str,
        config: Arc<ClientConfig>,
        timeout: Duration,
    ) -> Result<Self> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| TunnelError::Tls(format!("invalid server name {server_name:?}: {e}")))?;
        Ok(Self {
            addr: addr.into(),
            server_name,
            connector: tokio_rustls::TlsConnector::from(config),
            timeout,
            local_ip: None,
            proxy: None,
        })
    }

    /// The same settings, dialing from `ip` (a host with several addresses choosing which
    /// one the edge sees).
    pub fn with_local_ip(&self, ip: std::net::IpAddr) -> Self {
        Self {
            local_ip: Some(ip),
            ..self.clone()
        }
    }

    /// The same settings, dialing through `proxy` (HTTP CONNECT or SOCKS5).
    pub fn with_proxy(&self, proxy: EdgeProxy) -> Self {
        Self {
            proxy: Some(proxy),
            ..self.clone()
        }
    }

    /// A TCP connection to the edge: through the proxy if there is one, else directly from
    /// the chosen local address if any.
    async fn open(&self) -> Result<TcpStream> {
        let Some(proxy) = &self.proxy else {
            return Ok(self.dial().await?);
        };
        let (host, port) = crate::auth::host_port(&self.addr)
            .and_then(|(h, p)| Some((h, p?)))
            .ok_or_else(|| TunnelError::Tls(format!("bad connect address {}", self.addr)))?;
        proxy.connect(&host, port, self.timeout).await
    }

    /// A direct TCP connection to the edge, from the chosen local address if any.
    async fn dial(&self) -> std::io::Result<TcpStream> {
        let Some(ip) = self.local_ip else {
            return TcpStream::connect(&self.addr).await;
        };
        let mut last = None;
        for addr in tokio::net::lookup_host(&self.addr).await? {
            if addr.is_ipv4() != ip.is_ipv4() {
                continue;
            }
            let socket = if ip.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.bind(std::net::SocketAddr::new(ip, 0))?;
            match socket.connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("no address of {} in the family of {ip}", self.addr),
            )
        }))
    }

    /// The same TLS settings, dialing another address (e.g. a relay).
    pub fn with_addr(&self, addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            ..self.clone()
        }
    }
}

#[async_trait]
impl Transport for TlsTransport {
    async fn connect(&self) -> Result<BoxedIo> {
        let dial = async {
            let tcp = self.open().await?;
            tcp.set_nodelay(true)?;
            let tls = self
                .connector
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| handshake_error(e, &self.server_name))?;
            Ok::<_, TunnelError>(tls)
        };
        let tls = tokio::time::timeout(self.timeout, dial)
            .await
            .map_err(|_| TunnelError::Timeout("connecting to the edge"))??;
        Ok(Box::new(tls))
    }
}

/// A refused edge certificate is a configuration problem that retrying cannot fix, so it becomes
/// [`TunnelError::Tls`] (fatal); every other handshake failure stays an i/o error (retried).
fn handshake_error(e: std::io::Error, server_name: &ServerName<'static>) -> TunnelError {
    let refused = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(why) => Some(why.clone()),
            _ => None,
        });
    match refused {
        Some(why) => TunnelError::Tls(format!(
            "the edge's certificate is not trusted for {}: {why:?} (check the connect address \
             and --connect-ca)",
            server_name.to_str()
        )),
        None => TunnelError::Io(e),
    }
}
