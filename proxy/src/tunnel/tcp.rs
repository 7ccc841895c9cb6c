//! TCP endpoints: a listener per bound port, each accepted connection handed to the next live
//! session of the port's pool ([`splice`](super::splice::splice)); and the choice of a free
//! port for binds that name none.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sluice_tunnel::{AgentSession, BindPermission, Protocol};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::splice::splice;
use crate::config::TcpConfig;
use crate::conn::ConnRecord;
use crate::metrics::OpenConnection;
use crate::state::Shared;

/// Listens on `ip:port` now (so a taken port fails the bind, not a later accept).
pub fn open(ip: IpAddr, port: u16) -> std::io::Result<TcpListener> {
    let std = std::net::TcpListener::bind(SocketAddr::new(ip, port))?;
    std.set_nonblocking(true)?;
    TcpListener::from_std(std)
}

/// Accepts connections on `listener` (TCP port `port`) until aborted.
pub fn serve(shared: Arc<Shared>, listener: TcpListener, port: u16) -> AbortHandle {
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept on TCP port {port} failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let shared = shared.clone();
            tokio::spawn(async move { connection(shared, tcp, peer, port).await });
        }
    })
    .abort_handle()
}

/// One connection to TCP port `port`.
async fn connection(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, port: u16) {
    // Closed right away (dropped) when no live session serves the port any more.
    let Some(member) = shared.tunnels.lookup_tcp(port) else {
        return;
    };
    let _open = OpenConnection::count(shared.metrics.clone());
    let _ = tcp.set_nodelay(true);
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port));
    let record = Arc::new(ConnRecord::new(peer, local, None));
    splice(
        &shared,
        record,
        &member.endpoint,
        &member.session,
        tcp,
        &[],
        None,
    )
    .await;
}

/// Ports a bind naming none may get, in the order to try: the configured range (from a
/// random point in it), then ports the authtoken names one by one; only ports the session's
/// grant allows and `taken` does not hold.
pub fn candidates(config: &TcpConfig, session: &AgentSession, taken: &[u16]) -> Vec<u16> {
    let (lo, hi) = (*config.ports.start(), *config.ports.end());
    let span = u32::from(hi) - u32::from(lo) + 1;
    let offset = rand::random::<u32>() % span;
    let range = (0..span).map(|i| {
        let p = u32::from(lo) + (offset + i) % span;
        u16::try_from(p).unwrap_or(hi)
    });
    let named = session
        .grant()
        .permissions
        .iter()
        .filter_map(|p| match p {
            BindPermission::TcpPort(p) => Some(*p),
            _ => None,
        })
        .collect::<Vec<_>>();
    let grant = session.grant();
    range
        .chain(named)
        .filter(|p| *p != 0 && !taken.contains(p))
        .filter(|p| grant.permits(Protocol::Tcp, &format!("tcp://{}:{p}", config.host)))
        .collect()
}
