//! The table of endpoints bound by agents: HTTP/HTTPS names, TLS (SNI) names and TCP ports,
//! each served by a [`Pool`] of sessions; and internal endpoints (`.internal` names), kept per
//! account for `forward-internal` and never reachable from a public listener. It survives
//! config reloads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use tokio::task::AbortHandle;

use super::pool::{Member, Pool};
use crate::config::{Endpoint, Scheme};

/// A TCP port served by agents: its pool and its listener.
#[derive(Debug)]
pub struct TcpPort {
    /// The sessions serving it.
    pub pool: Pool,
    /// The accept loop; stopped (and the port closed) when this entry is dropped.
    pub listener: AbortHandle,
}

impl Drop for TcpPort {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Every agent-bound name and port.
#[derive(Debug, Default)]
pub struct Tables {
    /// HTTP and HTTPS endpoints by (listener, host).
    pub http: HashMap<(Scheme, String), Pool>,
    /// TLS endpoints by server name.
    pub tls: HashMap<String, Pool>,
    /// TCP endpoints by port.
    pub tcp: HashMap<u16, TcpPort>,
    /// Internal endpoints by (account, URL): in no public listener's table.
    pub internal: HashMap<InternalKey, Pool>,
}

/// An internal endpoint's key: its account and its URL (`https://api.internal:443`). Each
/// account has its own internal names.
pub type InternalKey = (String, String);

impl Tables {
    /// Removes every member of the session with this id, and the names and ports left with
    /// no session (closing those ports).
    pub fn remove_session(&mut self, id: &str) {
        self.http.retain(|_, p| {
            p.remove_session(id);
            !p.is_empty()
        });
        self.tls.retain(|_, p| {
            p.remove_session(id);
            !p.is_empty()
        });
        self.tcp.retain(|_, t| {
            t.pool.remove_session(id);
            !t.pool.is_empty()
        });
        self.internal.retain(|_, p| {
            p.remove_session(id);
            !p.is_empty()
        });
    }
}

/// Endpoints bound by agents (shared by the listeners, the service and the bind handler).
#[derive(Debug, Default)]
pub struct TunnelRoutes {
    tables: RwLock<Tables>,
}

impl TunnelRoutes {
    /// The agent-backed endpoint for a `Host` value; pooled names give the next live
    /// session's endpoint on each call.
    ///
    /// An exact name beats a wildcard bind, and the most specific wildcard wins:
    /// `a.b.example.com` tries `*.b.example.com`, then `*.example.com` (as [`crate::routes`]
    /// does for the config's endpoints); a wildcard never matches its bare suffix.
    pub fn lookup(&self, scheme: Scheme, host: &str) -> Option<Arc<Endpoint>> {
        self.find_http(scheme, host, Pool::pick)
    }

    /// [`TunnelRoutes::lookup`] without moving pools' round robin: the endpoint the next
    /// lookup would give.
    pub fn peek(&self, scheme: Scheme, host: &str) -> Option<Arc<Endpoint>> {
        self.find_http(scheme, host, Pool::peek)
    }

    fn find_http(
        &self,
        scheme: Scheme,
        host: &str,
        choose: impl for<'p> Fn(&'p Pool) -> Option<&'p Member>,
    ) -> Option<Arc<Endpoint>> {
        let name = crate::routes::normalize(host);
        let tables = self.tables.read().ok()?;
        let live = |key: String| {
            tables
                .http
                .get(&(scheme, key))
                .and_then(|pool| choose(pool).map(|m| m.endpoint.clone()))
        };
        crate::routes::candidates(&name).find_map(live)
    }

    /// The endpoint of the only name agents bound under `scheme`, when there is exactly one
    /// (for the embedded edge's `http://127.0.0.1:PORT`, see
    /// [`EdgeConfig::only_endpoint_at_ip`](crate::config::EdgeConfig::only_endpoint_at_ip)).
    pub fn only(&self, scheme: Scheme) -> Option<Arc<Endpoint>> {
        let tables = self.tables.read().ok()?;
        let mut names = tables.http.iter().filter(|((s, _), _)| *s == scheme);
        let (_, pool) = names.next()?;
        if names.next().is_some() {
            return None;
        }
        pool.pick().map(|m| m.endpoint.clone())
    }

    /// How specific the agent-bound HTTP name serving `host` on `scheme`'s listener is (see
    /// [`crate::routes::candidates`]; 0: exact), if one does.
    pub fn http_rank(&self, scheme: Scheme, host: &str) -> Option<usize> {
        let name = crate::routes::normalize(host);
        let tables = self.tables.read().ok()?;
        crate::routes::candidates(&name)
            .position(|c| tables.http.get(&(scheme, c)).is_some_and(|p| !p.is_empty()))
    }

    /// The next live member serving the TLS name `sni`, and how specific its name is (0:
    /// exact). As for HTTP names, an exact name beats a wildcard and the most specific
    /// wildcard wins (`tls://*.example.com`).
    pub fn lookup_tls(&self, sni: &str) -> Option<(Member, usize)> {
        let name = crate::routes::normalize(sni);
        let tables = self.tables.read().ok()?;
        crate::routes::candidates(&name)
            .enumerate()
            .find_map(|(i, c)| tables.tls.get(&c)?.pick().cloned().map(|m| (m, i)))
    }

    /// The next live member serving TCP port `port`.
    pub fn lookup_tcp(&self, port: u16) -> Option<Member> {
        let tables = self.tables.read().ok()?;
        tables.tcp.get(&port)?.pool.pick().cloned()
    }

    /// The next live member serving the internal endpoint `url` (as its bind returned it) of
    /// `account`; for `forward-internal`, never for a public listener.
    pub fn lookup_internal(&self, account: &str, url: &str) -> Option<Member> {
        let tables = self.tables.read().ok()?;
        let key = (account.to_owned(), url.to_owned());
        tables.internal.get(&key)?.pick().cloned()
    }

    /// Whether a live session serves the internal endpoint `url` of `account` (without
    /// moving the pool's round robin, unlike [`TunnelRoutes::lookup_internal`]).
    pub fn has_internal(&self, account: &str, url: &str) -> bool {
        let Ok(tables) = self.tables.read() else {
            return false;
        };
        let key = (account.to_owned(), url.to_owned());
        tables.internal.get(&key).is_some_and(|p| {
            p.members()
                .iter()
                .any(|m| m.session.close_reason().is_none())
        })
    }

    /// The account serving TCP port `port`, if a session does (without moving the pool's
    /// round robin).
    pub fn tcp_account(&self, port: u16) -> Option<String> {
        let tables = self.tables.read().ok()?;
        let member = tables.tcp.get(&port)?.pool.peek()?;
        Some(member.session.account().to_owned())
    }

    /// The TCP ports bound now.
    pub fn tcp_ports(&self) -> Vec<u16> {
        self.tables
            .read()
            .map(|t| t.tcp.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Stops accepting on every TCP endpoint port, for a graceful stop: new connections are
    /// refused, open ones go on.
    pub fn stop_tcp_listeners(&self) {
        if let Ok(tables) = self.tables.read() {
            for port in tables.tcp.values() {
                port.listener.abort();
            }
        }
    }

    /// Removes every endpoint of the session with this id.
    pub fn remove_session(&self, id: &str) {
        if let Ok(mut tables) = self.tables.write() {
            tables.remove_session(id);
        }
    }

    /// The tables, for the bind handler.
    pub(crate) fn write(&self) -> Option<RwLockWriteGuard<'_, Tables>> {
        self.tables.write().ok()
    }
}
