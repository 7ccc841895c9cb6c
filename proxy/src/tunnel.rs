//! Agent-backed endpoints: the tunnel listener's authenticator (authtokens from the config)
//! and bind handler (policy validation, URL allocation, takeover), the table of endpoints
//! bound by agents, and the Pingora L4 connector that opens a stream on an agent session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use pingora::{Error, ErrorType};
use sluice_policy::{EndpointInfo, LoadOptions, Registry, load_policy};
use sluice_tunnel::{
    AgentSession, AuthRejection, AuthRequest, Authenticator, BindHandler, BindPermission,
    BindRejection, BindRequest, Grant, Protocol, StreamHeader, TunnelStream,
};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::{Allow, Authtoken, Endpoint, Scheme, Target, Upstream};

/// Time allowed to open a stream on an agent session.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Endpoints bound by agents, by (scheme, host). Survives config reloads.
#[derive(Debug, Default)]
pub struct TunnelRoutes {
    map: RwLock<HashMap<(Scheme, String), Arc<Endpoint>>>,
}

impl TunnelRoutes {
    /// The agent-backed endpoint for a `Host` value.
    pub fn lookup(&self, scheme: Scheme, host: &str) -> Option<Arc<Endpoint>> {
        let name = crate::routes::normalize(host);
        let map = self.map.read().ok()?;
        map.get(&(scheme, name)).cloned()
    }

    /// Removes every endpoint of the session with this id.
    fn remove_session(&self, id: &str) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|_, ep| !matches!(&ep.upstream.target, Target::Tunnel(s) if s.id() == id));
        }
    }
}

/// Authenticates agents against the configured authtokens (constant-time comparison).
pub struct TokenAuth {
    tokens: Vec<Authtoken>,
}

impl TokenAuth {
    /// An authenticator over `tokens`.
    pub fn new(tokens: Vec<Authtoken>) -> Self {
        TokenAuth { tokens }
    }
}

#[async_trait]
impl Authenticator for TokenAuth {
    async fn authenticate(&self, request: &AuthRequest) -> Result<Grant, AuthRejection> {
        let presented = request.authtoken.as_bytes();
        // Compare against every token so the time taken does not say which one matched.
        let mut found: Option<&Authtoken> = None;
        for t in &self.tokens {
            if bool::from(t.token.as_bytes().ct_eq(presented)) {
                found = Some(t);
            }
        }
        let Some(t) = found else {
            return Err(AuthRejection::new(
                "ERR_SLUICE_AUTH_FAILED",
                "unknown authtoken",
            ));
        };
        Ok(Grant {
            account: t.account.clone(),
            permissions: t
                .allow
                .iter()
                .map(|a| match a {
                    Allow::Any => BindPermission::Any,
                    Allow::Domain(d) => BindPermission::Domain(d.clone()),
                    Allow::Wildcard(w) => BindPermission::Wildcard(w.clone()),
                    Allow::TcpPort(p) => BindPermission::TcpPort(*p),
                })
                .collect(),
        })
    }
}

/// Handles binds: validates the policy, allocates the name, registers the endpoint.
pub struct Binder {
    routes: Arc<TunnelRoutes>,
    state: Arc<arc_swap::ArcSwap<crate::state::State>>,
    registry: Registry,
    base_domains: Vec<String>,
    http_port: Option<u16>,
    https_port: Option<u16>,
}

impl Binder {
    /// A bind handler registering into `routes`.
    pub fn new(
        routes: Arc<TunnelRoutes>,
        state: Arc<arc_swap::ArcSwap<crate::state::State>>,
        registry: Registry,
        base_domains: Vec<String>,
        http_port: Option<u16>,
        https_port: Option<u16>,
    ) -> Self {
        Binder {
            routes,
            state,
            registry,
            base_domains,
            http_port,
            https_port,
        }
    }
}

fn random_label() -> String {
    format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff)
}

#[async_trait]
impl BindHandler for Binder {
    async fn bind(
        &self,
        session: &AgentSession,
        request: &BindRequest,
    ) -> Result<String, BindRejection> {
        let (scheme, policy_protocol, port) = match request.protocol {
            Protocol::Http => (Scheme::Http, sluice_policy::Protocol::Http, self.http_port),
            Protocol::Https => (
                Scheme::Https,
                sluice_policy::Protocol::Https,
                self.https_port,
            ),
            other => {
                return Err(BindRejection::new(
                    "ERR_SLUICE_BIND_UNSUPPORTED",
                    format!(
                        "{} endpoints are not served by this edge yet",
                        other.scheme()
                    ),
                ));
            }
        };
        let Some(port) = port else {
            return Err(BindRejection::new(
                "ERR_SLUICE_BIND_UNSUPPORTED",
                format!("this edge has no {} listener", request.protocol.scheme()),
            ));
        };
        let policy = match &request.traffic_policy {
            None => sluice_policy::Policy::empty(),
            Some(text) => load_policy(
                "traffic-policy",
                text,
                &self.registry,
                LoadOptions {
                    protocol: Some(policy_protocol),
                },
            )
            .map_err(|e| {
                let text: Vec<String> = e.errors().map(|d| d.to_string()).collect();
                BindRejection::new("ERR_SLUICE_POLICY_INVALID", text.join("\n"))
            })?,
        };
        let policy = Arc::new(policy);
        let state = self.state.load();
        let static_routes = match scheme {
            Scheme::Http => &state.http,
            Scheme::Https => &state.https,
        };
        let mut map = self
            .routes
            .map
            .write()
            .map_err(|_| BindRejection::new("ERR_SLUICE_INTERNAL", "edge state poisoned"))?;
        let host = match &request.url {
            Some(url) => {
                let Some((host, _)) = sluice_tunnel::auth::host_port(url) else {
                    return Err(BindRejection::new(
                        "ERR_SLUICE_BIND_INVALID_URL",
                        format!("`{url}` is not a URL like http://app.example.com"),
                    ));
                };
                host.trim_end_matches('.').to_ascii_lowercase()
            }
            None => {
                let base = self
                    .base_domains
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "localhost".into());
                let mut name = format!("{}.{base}", random_label());
                for _ in 0..16 {
                    if !map.contains_key(&(scheme, name.clone())) {
                        break;
                    }
                    name = format!("{}.{base}", random_label());
                }
                name
            }
        };
        if static_routes
            .lookup(&host)
            .is_some_and(|ep| ep.host == host)
        {
            return Err(BindRejection::new(
                "ERR_SLUICE_334",
                format!("{host} is already bound: the edge config serves it"),
            ));
        }
        let key = (scheme, host.clone());
        if let Some(prev) = map.get(&key)
            && let Target::Tunnel(old) = &prev.upstream.target
            && old.id() != session.id()
        {
            if old.account() != session.account() || old.client_id() != session.client_id() {
                return Err(BindRejection::new(
                    "ERR_SLUICE_334",
                    format!("{host} is already bound by another session"),
                ));
            }
            // The newest session of the same agent takes over its names.
            let old = old.clone();
            map.retain(
                |_, ep| !matches!(&ep.upstream.target, Target::Tunnel(s) if s.id() == old.id()),
            );
            old.close(
                "ERR_SLUICE_SESSION_REPLACED",
                "a newer session of this agent took over its endpoints",
            );
        }
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let url = if port == default_port {
            format!("{}://{host}", request.protocol.scheme())
        } else {
            format!("{}://{host}:{port}", request.protocol.scheme())
        };
        let ep = Endpoint {
            info: Arc::new(EndpointInfo {
                id: format!("ep_{}_{}", &session.id()[..8.min(session.id().len())], host),
                url: url.clone(),
                protocol: policy_protocol,
                host: host.clone(),
                port,
            }),
            host: host.clone(),
            scheme,
            upstream: Upstream {
                url: format!("agent session {}", session.id()),
                target: Target::Tunnel(session.clone()),
            },
            policy,
        };
        map.insert(key, Arc::new(ep));
        Ok(url)
    }

    async fn unbind(&self, session: &AgentSession, url: &str) {
        let Some((host, _)) = sluice_tunnel::auth::host_port(url) else {
            return;
        };
        let scheme = if url.starts_with("https://") {
            Scheme::Https
        } else {
            Scheme::Http
        };
        if let Ok(mut map) = self.routes.map.write() {
            let key = (scheme, host.to_ascii_lowercase());
            if map.get(&key).is_some_and(
                |ep| matches!(&ep.upstream.target, Target::Tunnel(s) if s.id() == session.id()),
            ) {
                map.remove(&key);
            }
        }
    }

    async fn session_closed(&self, session: &AgentSession) {
        self.routes.remove_session(session.id());
    }
}

/// Removes a session's endpoints as soon as it ends (before the bind handler hears of it).
pub fn watch_session(routes: Arc<TunnelRoutes>, session: AgentSession) {
    tokio::spawn(async move {
        session.closed().await;
        routes.remove_session(session.id());
    });
}

/// Opens a proxy stream on an agent session in place of a TCP connect.
#[derive(Debug)]
pub struct TunnelConnect {
    /// The agent.
    pub session: AgentSession,
    /// The header sent first on each stream.
    pub header: StreamHeader,
}

#[async_trait]
impl pingora::connectors::L4Connect for TunnelConnect {
    async fn connect(
        &self,
        _addr: &pingora::protocols::l4::socket::SocketAddr,
    ) -> pingora::Result<L4Stream> {
        let open = tokio::time::timeout(OPEN_TIMEOUT, self.session.open_stream(&self.header));
        match open.await {
            Ok(Ok(s)) => Ok(L4Stream::from(VirtualSocketStream::new(Box::new(
                TunnelSock(s),
            )))),
            Ok(Err(e)) => Error::e_explain(
                ErrorType::ConnectError,
                format!("cannot open a stream to the agent: {e}"),
            ),
            Err(_) => Error::e_explain(
                ErrorType::ConnectTimedout,
                "opening a stream to the agent timed out",
            ),
        }
    }
}

/// A tunnel stream as a Pingora virtual socket.
struct TunnelSock(TunnelStream);

impl std::fmt::Debug for TunnelSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelSock")
    }
}

impl AsyncRead for TunnelSock {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TunnelSock {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl VirtualSocket for TunnelSock {
    fn set_socket_option(&self, _opt: VirtualSockOpt) -> std::io::Result<()> {
        Ok(())
    }
}

/// The stream header for a request from `client` to `ep`.
pub fn header(ep: &Endpoint, client: Option<SocketAddr>) -> StreamHeader {
    StreamHeader {
        endpoint_url: ep.info.url.clone(),
        client_addr: client.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        protocol: match ep.scheme {
            Scheme::Http => Protocol::Http,
            Scheme::Https => Protocol::Https,
        },
    }
}
