//! The SSH gateway: `ssh -R 0:localhost:3000 edge http` publishes a local port with nothing
//! installed but OpenSSH, as ngrok's SSH reverse tunnels do. Built on `russh` (ring crypto).
//!
//! - [`host_key`]: the host key, made on first start and kept in the state folder.
//! - `handler`: one connection's authentication (public keys listed per authtoken; failures
//!   counted by the tunnel listener's limiter) and its `-R` forwards.
//! - [`command`]: the command after the host (`http|tcp|tls` and flags) into a bind request.
//! - `bridge`: the bind and the forwarded connections, through a tunnel session to this
//!   edge's own tunnel server, so SSH endpoints are agent endpoints in every respect.
//! - `http_relay`: an http endpoint's requests to the local target, a console line each on
//!   the session's standard output.

mod bridge;
pub mod command;
mod handler;
pub mod host_key;
mod http_relay;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PublicKey;
use russh::{MethodKind, MethodSet};
use sluice_tunnel::TunnelServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth_limit::AuthLimiter;
use crate::config::EdgeConfig;
use crate::metrics::Metrics;
use handler::{Connection, Login};

/// `-R` forwards one SSH connection may have (one endpoint per session, as ngrok's).
const MAX_FORWARDS: usize = 1;

/// Keepalives in a row a client may leave unanswered; at the next interval it is dropped.
const KEEPALIVE_MAX: u32 = 3;

/// A key that logs in, and as whom.
struct AuthorizedKey {
    key: PublicKey,
    login: Login,
}

/// What every connection of the gateway shares.
struct Gateway {
    tunnel: Arc<TunnelServer>,
    keys: Vec<AuthorizedKey>,
    limiter: Arc<AuthLimiter>,
    metrics: Arc<Metrics>,
}

/// A running SSH gateway; dropping it stops accepting (open sessions end with their clients).
pub struct SshGateway {
    local_addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl Drop for SshGateway {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl SshGateway {
    /// Listens on `addr`: logins with the keys of `config`'s authtokens, binds through
    /// `tunnel`, failed logins counted in `limiter` and `metrics`.
    pub async fn start(
        addr: SocketAddr,
        config: &EdgeConfig,
        tunnel: Arc<TunnelServer>,
        limiter: Arc<AuthLimiter>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<SshGateway> {
        let host_key = host_key::load_or_create(&config.state_dir)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (ssh): {e}"))?;
        let local_addr = listener.local_addr()?;
        let keys = config
            .authtokens
            .iter()
            .flat_map(|t| {
                t.authorized_keys.iter().map(|k| AuthorizedKey {
                    key: k.clone(),
                    login: Login {
                        token: t.token.clone(),
                        account: t.account.clone(),
                    },
                })
            })
            .collect();
        let interval = config.ssh_keepalive_interval;
        let ssh = Arc::new(russh::server::Config {
            methods: MethodSet::from(&[MethodKind::PublicKey][..]),
            keys: vec![host_key],
            auth_rejection_time: Duration::from_millis(300),
            auth_rejection_time_initial: Some(Duration::ZERO),
            max_auth_attempts: 6,
            // A tunnel may be idle for hours; keepalives find dead clients instead. A live
            // client answers each keepalive, which restarts this timer; it only ends a
            // connection whose writes have waited this long on a client that reads nothing
            // (russh sends no keepalive while a write waits).
            inactivity_timeout: Some(interval * (KEEPALIVE_MAX + 2)),
            keepalive_interval: Some(interval),
            keepalive_max: KEEPALIVE_MAX as usize,
            nodelay: true,
            ..russh::server::Config::default()
        });
        let gateway = Arc::new(Gateway {
            tunnel,
            keys,
            limiter,
            metrics,
        });
        let accepting = tokio::spawn(accept_loop(listener, ssh, gateway));
        Ok(SshGateway {
            local_addr,
            accepting,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    gateway: Arc<Gateway>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "ssh accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let handler = Connection::new(gateway.clone(), peer);
        let config = config.clone();
        tokio::spawn(async move {
            match russh::server::run_stream(config, tcp, handler).await {
                Ok(session) => {
                    if let Err(e) = session.await {
                        tracing::debug!(%peer, error = %e, "ssh connection ended with an error");
                    }
                }
                Err(e) => tracing::debug!(%peer, error = %e, "ssh handshake failed"),
            }
        });
    }
}
