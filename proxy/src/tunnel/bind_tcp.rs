//! Binds of TCP endpoints: the port asked for (if the authtoken grants it) or a free one from
//! the configured range, its listener opened at bind time, and the port's pool.

use std::collections::hash_map::Entry;
use std::time::Duration;

use sluice_tunnel::{AgentSession, BindRejection, BindRequest};

use super::binder::Binder;
use super::claim::{drop_if_empty, endpoint, member, take_over};
use super::tcp;
use crate::config::{Scheme, TcpConfig};
use crate::state::agent_routes::TcpPort;
use crate::state::pool::{Admission, Pool};

/// How long a TCP bind waits for its port while a listener just closed still holds it.
const PORT_RETRY: Duration = Duration::from_secs(1);
/// Ports of the range other accounts hold on other edges that a bind of a random port skips
/// before it gives up.
const MAX_REFUSED: usize = 64;

impl Binder {
    /// Binds a TCP endpoint for `session`; returns `tcp://host:port`.
    pub(super) async fn bind_tcp(
        &self,
        session: &AgentSession,
        request: &BindRequest,
    ) -> Result<String, BindRejection> {
        let policy = self
            .policy(session.account(), request, sluice_policy::Protocol::Tcp)
            .await?;
        let cfg = &self.settings.tcp;
        let cluster = self.shared.cluster.get();
        let (port, mut listener) = match &request.url {
            Some(url) => {
                let port = match sluice_tunnel::auth::host_port(url) {
                    Some((_, Some(p))) if p > 0 => p,
                    _ => {
                        return Err(BindRejection::new(
                            "ERR_SLUICE_BIND_INVALID_URL",
                            format!("`{url}` is not a URL like tcp://{}:20000", cfg.host),
                        ));
                    }
                };
                let listener = self.open_waiting(port).await?;
                if let Some(c) = cluster {
                    c.claim_port(port, session.account()).await?;
                }
                (port, listener)
            }
            None => {
                let taken = self.shared.tunnels.tcp_ports();
                let mut found = None;
                let mut refused = 0;
                for p in tcp::candidates(cfg, session, &taken) {
                    let Ok(l) = tcp::open(cfg.bind, p) else {
                        continue;
                    };
                    // In a cluster, a port another account holds on another edge is skipped.
                    if let Some(c) = cluster
                        && let Err(e) = c.claim_port(p, session.account()).await
                    {
                        refused += 1;
                        if e.code != "ERR_SLUICE_334" || refused >= MAX_REFUSED {
                            return Err(e);
                        }
                        continue;
                    }
                    found = Some((p, l));
                    break;
                }
                let Some((port, listener)) = found else {
                    return Err(BindRejection::new(
                        "ERR_SLUICE_BIND_PORT_UNAVAILABLE",
                        format!(
                            "no free TCP port this authtoken may bind in {}-{}",
                            cfg.ports.start(),
                            cfg.ports.end()
                        ),
                    ));
                };
                (port, Some(listener))
            }
        };
        let url = format!("tcp://{}:{port}", cfg.host);
        // `Endpoint::scheme` names an HTTP listener; a TCP endpoint has its own port and is
        // never routed by Host, so it carries `Http` there (its protocol is in `info`).
        let ep = endpoint(
            session,
            &url,
            &cfg.host,
            port,
            sluice_policy::Protocol::Tcp,
            Scheme::Http,
        );
        let member = member(session, request, ep, policy);
        let mut tables = self.tables()?;
        if let Entry::Vacant(slot) = tables.tcp.entry(port) {
            // Served by nobody now: this bind's listener (or, when the port was served a
            // moment ago, a new one) serves it.
            let l = match listener.take() {
                Some(l) => l,
                None => tcp::open(cfg.bind, port).map_err(|e| port_error(cfg, port, &e))?,
            };
            slot.insert(TcpPort {
                pool: Pool::default(),
                listener: tcp::serve(self.shared.clone(), l, port),
            });
        }
        let what = format!("TCP port {port}");
        let admission = match tables.tcp.get(&port) {
            Some(t) => t.pool.admit(session, member.pooling, &what),
            None => Ok(Admission::Join),
        };
        if let Err(e) = admission {
            drop_if_empty(&mut tables.tcp, port);
            drop(tables);
            if let Some(c) = cluster {
                // The sync lets go of the port if nothing here serves it.
                c.changed();
            }
            return Err(e);
        }
        if let Some(t) = tables.tcp.get_mut(&port) {
            t.pool.insert(member);
        }
        if let Ok(Admission::TakeOver(old)) = admission {
            take_over(&mut tables, old);
        }
        drop(tables);
        if let Some(c) = cluster {
            c.bound_port(port, session.account());
        }
        Ok(url)
    }

    /// Opens `port` unless agents serve it already (`None`), waiting up to [`PORT_RETRY`]
    /// while it is in use (a listener of an endpoint that just went away closes a moment
    /// later, and a concurrent bind may be about to register it).
    async fn open_waiting(
        &self,
        port: u16,
    ) -> Result<Option<tokio::net::TcpListener>, BindRejection> {
        let cfg = &self.settings.tcp;
        let deadline = tokio::time::Instant::now() + PORT_RETRY;
        loop {
            if self.shared.tunnels.tcp_ports().contains(&port) {
                return Ok(None);
            }
            match tcp::open(cfg.bind, port) {
                Ok(l) => return Ok(Some(l)),
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(e) => return Err(port_error(cfg, port, &e)),
            }
        }
    }
}

/// The refusal of a TCP bind whose port cannot be opened.
fn port_error(cfg: &TcpConfig, port: u16, e: &std::io::Error) -> BindRejection {
    BindRejection::new(
        "ERR_SLUICE_BIND_PORT_UNAVAILABLE",
        format!("cannot listen on {}:{port}: {e}", cfg.bind),
    )
}
