//! The running edge: one tokio runtime with its own accept loops (http, https, admin) feeding
//! client streams into Pingora's `HttpProxy`, and a reload loop (SIGHUP, or the config file
//! changing on disk) that swaps routes, policies and certificates atomically.
//!
//! Owning the accept loop gives the edge what Pingora's listeners do not: one record per TCP
//! connection ([`ConnMeter`]: `on_tcp_connect` state, bytes, `tcp_connection_closed.v0`), a
//! certificate resolver over the live config with a development CA, and the header guards of
//! [`Metered`].
//!
//! [`drain`] is the graceful stop; [`tunnel_listener`] starts the listener agents dial.

mod drain;
mod tunnel_listener;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora::listeners::tls::Acceptor;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{ALPN, GetSocketDigest, SocketDigest, Ssl, Stream};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use pingora::server::configuration::ServerConf;
use sluice_policy::{Registry, TlsInfo};
use tokio::net::{TcpListener, TcpStream};

use crate::admin::admin_loop;
use crate::body_pace::BodyTimeouts;
use crate::body_watch::BodyWatch;
use crate::config::{EdgeConfig, Scheme};
use crate::conn::{ConnMeter, ConnTable, Metered};
use crate::events::EventSink;
use crate::metrics::Metrics;
use crate::reload::{file_stamp, reload};
use crate::service::EdgeService;
use crate::state::State;
use crate::tls::{DevCa, Resolver};
use crate::tunnel::{Passthrough, TunnelRoutes, passthrough, watch_session};
use drain::Drain;
use tunnel_listener::start_tunnel;

/// Largest decoded HTTP/2 request header list, as for HTTP/1.
const H2_HEADER_LIMIT: u32 = crate::conn::HEADER_LIMIT as u32 + 1;

/// HTTP/2 flow-control window of each request body stream.
const H2_STREAM_WINDOW: u32 = 1 << 20;

/// HTTP/2 flow-control window of a whole connection (all its request bodies).
const H2_CONNECTION_WINDOW: u32 = 4 << 20;

/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the listeners and the service share.
#[derive(Debug)]
pub struct Shared {
    /// Routes and certificates; swapped whole on reload.
    pub state: Arc<ArcSwap<State>>,
    /// Live client connections.
    pub conns: ConnTable,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// Where events go.
    pub events: Option<Arc<EventSink>>,
    /// Endpoints bound by agents over the tunnel listener.
    pub tunnels: Arc<TunnelRoutes>,
    /// How fast request bodies must arrive (fixed until a restart).
    pub body_timeouts: BodyTimeouts,
}

impl Shared {
    /// A shared state over `config` (no event output).
    pub fn new(config: &EdgeConfig, events: Option<Arc<EventSink>>) -> Self {
        let mut metrics = Metrics::default();
        if let Some(e) = &events {
            metrics.events_dropped = e.dropped_counter();
        }
        Shared {
            state: Arc::new(ArcSwap::from_pointee(State::new(config))),
            conns: ConnTable::default(),
            metrics: Arc::new(metrics),
            events,
            tunnels: Arc::new(TunnelRoutes::default()),
            body_timeouts: config.body_timeouts,
        }
    }

    /// Writes `tcp_connection_closed.v0` for a finished connection.
    pub(crate) async fn connection_closed(&self, meter: &ConnMeter) {
        let Some(sink) = &self.events else { return };
        let endpoints = meter.endpoints.lock().await;
        let mut logs = Vec::new();
        let mut fired = Vec::new();
        let mut eps = Vec::new();
        for (id, ec) in endpoints.iter() {
            eps.push(serde_json::json!({ "id": id, "url": ec.conn.endpoint.url, "closed_by_policy": ec.closed }));
            logs.extend(ec.conn.logs.iter().map(|l| l.metadata.clone()));
            fired.extend(ec.conn.fired.iter().map(|f| {
                serde_json::json!({ "phase": f.phase.key(), "index": f.index, "name": f.name, "endpoint": id })
            }));
        }
        let timestamp = crate::events::now_ms();
        sink.emit(serde_json::json!({
            "event_type": "tcp_connection_closed.v0",
            "timestamp_ms": timestamp,
            "object": {
                "conn": {
                    "client_ip": meter.client.ip().to_string(),
                    "client_port": meter.client.port(),
                    "server_ip": meter.server.ip().to_string(),
                    "server_port": meter.server.port(),
                    "tls": meter.tls.as_ref().map(|t| serde_json::json!({
                        "sni": t.sni, "version": t.version, "cipher_suite": t.cipher_suite, "alpn": t.alpn,
                    })),
                    "bytes_in": meter.bytes_in.load(Ordering::Relaxed),
                    "bytes_out": meter.bytes_out.load(Ordering::Relaxed),
                    "duration_ms": meter.started.elapsed().as_secs_f64() * 1000.0,
                    "requests": meter.requests.load(Ordering::Relaxed),
                },
                "endpoints": eps,
                "policy": { "fired": fired, "logs": logs },
            }
        }));
    }
}

/// Pingora's HTTP handling with the edge's per-request connection settings in front.
struct Front {
    proxy: Arc<HttpProxy<EdgeService>>,
    options: HttpServerOptions,
    idle_secs: u64,
    shared: Arc<Shared>,
}

#[async_trait]
impl HttpServerApp for Front {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !session.is_http2() {
            // Between requests the idle timeout applies; the header guard starts with the
            // next request's first byte.
            session.set_keepalive(Some(self.idle_secs));
            // Pipelined requests (sent before the previous answer) are served in order.
            // Without this, Pingora answers the first and closes, dropping the rest it has
            // already read.
            session.set_pipelining_enabled(true);
            let client = session.client_addr().and_then(|a| a.as_inet()).copied();
            let server = session.server_addr().and_then(|a| a.as_inet()).copied();
            if let (Some(c), Some(s)) = (client, server)
                && let Some(m) = self.shared.conns.get(c, s)
            {
                m.await_header();
            }
        }
        if session.is_http2() {
            // Pingora has no read timeout for HTTP/2 request bodies: see `BodyWatch`.
            return BodyWatch::run(self.proxy.process_new_http(session, shutdown))
                .await
                .flatten();
        }
        self.proxy.process_new_http(session, shutdown).await
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.options)
    }

    /// Pingora's bounded HTTP/2 defaults, with the request header limit raised to HTTP/1's
    /// (1 MiB, [`crate::conn::HEADER_LIMIT`]): a larger header list is answered `431` by h2.
    fn h2_options(&self) -> Option<H2Options> {
        let mut options = self
            .proxy
            .h2_options()
            .unwrap_or_else(pingora::protocols::http::v2::server::default_h2_options);
        options.max_header_list_size(H2_HEADER_LIMIT);
        // h2's 64 KiB windows cap an upload at 64 KiB per round trip (1.3 MB/s at 50 ms);
        // these bound what one stream or connection can have in flight instead.
        options.initial_window_size(H2_STREAM_WINDOW);
        options.initial_connection_window_size(H2_CONNECTION_WINDOW);
        Some(options)
    }

    async fn http_cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

struct Listening {
    front: Arc<Front>,
    tls: Option<Arc<Acceptor>>,
    shared: Arc<Shared>,
    header_timeout: Duration,
    shutdown: ShutdownWatch,
}

async fn accept_loop(listener: TcpListener, l: Arc<Listening>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let l = l.clone();
        tokio::spawn(async move { serve_connection(tcp, peer, &l).await });
    }
}

/// Counts an open connection for as long as it lives.
pub(crate) struct OpenGuard(pub(crate) Arc<Metrics>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_connection(tcp: TcpStream, peer: SocketAddr, l: &Listening) {
    let metrics = l.shared.metrics.clone();
    metrics.connections.fetch_add(1, Ordering::Relaxed);
    metrics.open_connections.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(metrics.clone());
    let _ = tcp.set_nodelay(true);
    // Nothing more is allocated until the client's first byte: an idle connection costs its
    // socket and this small task (~1.4 KiB in all), not a Pingora session (~35 KiB: its
    // request future, header buffer and the state of `serve_ready`).
    // At shutdown, a connection that has sent nothing yet is closed.
    let idle = Duration::from_secs(l.front.idle_secs);
    let mut stop = l.shutdown.clone();
    // (`peek`, not `readable`: tokio marks an accepted stream readable before any event.)
    let mut first = [0u8; 1];
    let first_byte = async {
        tokio::select! {
            r = tokio::time::timeout(idle, tcp.peek(&mut first)) => matches!(r, Ok(Ok(n)) if n > 0),
            _ = stop.wait_for(|s| *s) => false,
        }
    };
    if !first_byte.await {
        return;
    }
    Box::pin(serve_ready(tcp, peer, l, metrics)).await;
}

/// The rest of [`serve_connection`], boxed so that a connection still waiting for its first
/// byte holds only the small future above (this one is several KiB).
async fn serve_ready(tcp: TcpStream, peer: SocketAddr, l: &Listening, metrics: Arc<Metrics>) {
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    // On the https listener, a ClientHello naming a TLS endpoint goes to its agent untouched.
    let (tcp, hello) = match &l.tls {
        None => (tcp, Vec::new()),
        Some(_) => match passthrough(&l.shared, tcp, peer, local).await {
            Passthrough::Done => return,
            Passthrough::Continue(tcp, hello) => (tcp, hello),
        },
    };
    let fd = tcp.as_raw_fd();
    let mut l4 = L4Stream::from(tcp);
    l4.set_socket_digest(SocketDigest::from_raw_fd(fd));
    if !hello.is_empty() {
        l4.rewind(&hello);
    }
    let (stream, tls): (Stream, Option<TlsInfo>) = match &l.tls {
        None => (Box::new(l4), None),
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.tls_handshake(l4)).await {
                Ok(Ok(s)) => {
                    let info = s.get_ssl().map(|r| TlsInfo {
                        sni: r.server_name().map(str::to_string),
                        version: r.version().map(str::to_string),
                        cipher_suite: r.current_cipher_name().map(str::to_string),
                        alpn: s.selected_alpn_proto().map(|a| {
                            match a {
                                ALPN::H2 | ALPN::H2H1 => "h2",
                                _ => "http/1.1",
                            }
                            .to_string()
                        }),
                    });
                    (Box::new(s), info)
                }
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake with {peer} failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake with {peer} timed out");
                    return;
                }
            }
        }
    };
    let meter = Arc::new(ConnMeter::new(peer, local, tls));
    l.shared.conns.insert(meter.clone());
    let metered = Metered::new(stream, meter.clone(), metrics, l.header_timeout);
    let _ = l.front.process_new(Box::new(metered), &l.shutdown).await;
    l.shared.conns.remove(&meter);
    l.shared.connection_closed(&meter).await;
}

fn tls_acceptor(shared: &Shared, ca: Arc<DevCa>) -> anyhow::Result<Acceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver::new(shared.state.clone(), ca)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Acceptor::from_server_config(Arc::new(config)))
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({what}): {e}"))
}

/// Runs the edge in the foreground until SIGTERM or SIGINT. `path` is the config file (read
/// again on SIGHUP or when it changes); `registry` builds the policies of reloaded configs.
pub fn run(config: EdgeConfig, path: PathBuf, registry: Registry) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(config, path, registry))
}

/// Runs the edge on the current tokio runtime until SIGTERM or SIGINT (see [`run`]).
pub async fn serve(config: EdgeConfig, path: PathBuf, registry: Registry) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Handlers first: a signal that arrives once the ports answer is never fatal.
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let events = Arc::new(EventSink::open(&config.events)?);
    let shared = Arc::new(Shared::new(&config, Some(events)));
    let conf = Arc::new(ServerConf {
        threads: 2,
        ..ServerConf::default()
    });
    let idle_secs = config.idle_timeout.as_secs_f64().ceil().max(1.0) as u64;
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let mut drain = Drain::default();
    let front = |scheme: Scheme| {
        let mut proxy = HttpProxy::new(EdgeService::new(shared.clone(), scheme), conf.clone());
        proxy.handle_init_modules();
        let mut options = HttpServerOptions::default();
        options.h2_idle_timeout = Some(config.idle_timeout);
        Arc::new(Front {
            proxy: Arc::new(proxy),
            options,
            idle_secs,
            shared: shared.clone(),
        })
    };
    // The CA first (clients may read it as soon as the port answers), then bind everything
    // before serving anything, so a taken port fails the start.
    let ca =
        if config.https.is_some() || (config.tunnel.is_some() && config.tunnel_tls.key.is_none()) {
            Some(Arc::new(DevCa::load_or_create(&config.state_dir)?))
        } else {
            None
        };
    let http = match config.http {
        Some(a) => Some(bind(a, "http").await?),
        None => None,
    };
    let https = match config.https {
        Some(a) => Some(bind(a, "https").await?),
        None => None,
    };
    let admin = match config.admin {
        Some(a) => Some(bind(a, "admin").await?),
        None => None,
    };
    let tunnel = match config.tunnel {
        Some(a) => Some(Arc::new(
            start_tunnel(a, &config, &shared, &registry, ca.as_ref()).await?,
        )),
        None => None,
    };
    if let Some(server) = &tunnel {
        if let Some(a) = server.local_addr() {
            eprintln!("sluice edge: tunnel listener on {a}");
        }
        let (server, routes) = (server.clone(), shared.tunnels.clone());
        let sessions = drain.sessions.clone();
        tokio::spawn(async move {
            while let Some(session) = server.accept().await {
                if let Ok(mut s) = sessions.lock() {
                    s.retain(|s: &sluice_tunnel::AgentSession| s.close_reason().is_none());
                    s.push(session.clone());
                }
                watch_session(routes.clone(), session);
            }
        });
    }
    if let Some(listener) = http {
        eprintln!("sluice edge: http listener on {}", listener.local_addr()?);
        let l = Arc::new(Listening {
            front: front(Scheme::Http),
            tls: None,
            shared: shared.clone(),
            header_timeout: config.header_read_timeout,
            shutdown: shutdown.clone(),
        });
        drain.fronts.push(l.front.clone());
        drain.accepting.push(tokio::spawn(accept_loop(listener, l)));
    }
    if let (Some(listener), Some(ca)) = (https, ca) {
        eprintln!(
            "sluice edge: https listener on {}; development CA: {} (curl --cacert {})",
            listener.local_addr()?,
            ca.cert_path.display(),
            ca.cert_path.display()
        );
        let l = Arc::new(Listening {
            front: front(Scheme::Https),
            tls: Some(Arc::new(tls_acceptor(&shared, ca)?)),
            shared: shared.clone(),
            header_timeout: config.header_read_timeout,
            shutdown: shutdown.clone(),
        });
        drain.fronts.push(l.front.clone());
        drain.accepting.push(tokio::spawn(accept_loop(listener, l)));
    }
    if let Some(listener) = admin {
        eprintln!(
            "sluice edge: admin listener on {} (/healthz, /metrics)",
            listener.local_addr()?
        );
        tokio::spawn(admin_loop(listener, shared.clone()));
    }

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stamp = file_stamp(&path);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                stamp = file_stamp(&path);
                reload(&path, &registry, &config, &shared, "SIGHUP");
            }
            _ = tick.tick() => {
                let now = file_stamp(&path);
                if now.is_some() && now != stamp {
                    stamp = now;
                    reload(&path, &registry, &config, &shared, "file changed");
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    eprintln!(
        "sluice edge: stopping: no new connections; waiting up to {:?} for requests in flight",
        config.shutdown_grace
    );
    drain
        .run(&shutdown_tx, &shared, tunnel, config.shutdown_grace)
        .await;
    if let Some(events) = &shared.events {
        events.flush();
    }
    eprintln!("sluice edge: stopped");
    Ok(())
}
