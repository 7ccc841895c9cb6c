//! The tunnel listener: agents authenticate with the configured authtokens and bind endpoints
//! into the shared routing table.

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_policy::Registry;

use crate::auth_limit::AuthLimiter;
use crate::config::EdgeConfig;
use crate::state::Shared;
use crate::tls::{DevCa, listener_ips};
use crate::tunnel::{BindSettings, Binder, TokenAuth};

/// A fixed certificate for the tunnel listener.
#[derive(Debug)]
struct FixedCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The tunnel server: agents authenticate with the configured authtokens (failures counted in
/// `limiter`) and bind endpoints into the shared routing table. It listens on `addr` when the
/// config has a tunnel listener; without one it serves only in-process sessions (the SSH
/// gateway's). Returns it with the address it listens on.
pub(super) async fn start_tunnel(
    addr: Option<SocketAddr>,
    config: &EdgeConfig,
    shared: &Arc<Shared>,
    registry: &Registry,
    ca: Option<&Arc<DevCa>>,
    limiter: Arc<AuthLimiter>,
) -> anyhow::Result<(sluice_tunnel::TunnelServer, Option<SocketAddr>)> {
    let binder = Binder::new(
        shared.clone(),
        registry.clone(),
        BindSettings::from_config(config),
    );
    let server = sluice_tunnel::TunnelServer::new(
        Arc::new(TokenAuth::new(
            config.authtokens.clone(),
            limiter,
            shared.metrics.clone(),
        )),
        Arc::new(binder),
        sluice_tunnel::ServerSettings::default(),
    );
    let Some(addr) = addr else {
        return Ok((server, None));
    };
    let key = match (&config.tunnel_tls.key, ca) {
        (Some(k), _) => k.clone(),
        (None, Some(ca)) => ca
            .issue_with_ips(&config.tunnel_tls.server_name, &listener_ips(addr))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot issue a certificate for {}",
                    config.tunnel_tls.server_name
                )
            })?,
        (None, None) => anyhow::bail!("the tunnel listener needs a certificate"),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FixedCert(key)));
    tls.alpn_protocols = vec![sluice_tunnel::proto::ALPN.to_vec()];
    let local = server
        .listen(addr, Arc::new(tls))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (tunnel): {e}"))?;
    Ok((server, Some(local)))
}
