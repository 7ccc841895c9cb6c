//! The running edge: one tokio runtime with its own accept loops (http, https, admin) feeding
//! client streams into Pingora's `HttpProxy`, and a reload loop (SIGHUP, or the config file or
//! a certificate file it names changing on disk) that swaps routes, policies and certificates
//! atomically.
//!
//! Owning the accept loop gives the edge what Pingora's listeners do not: one record per TCP
//! connection ([`crate::conn::ConnRecord`]: `on_tcp_connect` state, bytes,
//! `tcp_connection_closed.v0`) carried with the connection's requests, a certificate resolver
//! over the live config with a development CA, and the header guards of
//! [`crate::metered::Metered`].
//!
//! - [`accept`]: the http and https accept loops, TLS, and one connection's life.
//! - [`front`]: the Pingora HTTP app per listener and per connection.
//! - [`https`]: the https listener's certificate resolver and TLS acceptor;
//!   [`https_connect`] its handshake, after an HTTPS endpoint's `on_tcp_connect`.
//! - [`drain`]: the graceful stop. [`tunnel_listener`]: the listener agents dial.

mod accept;
mod drain;
mod front;
mod https;
mod https_connect;
mod tunnel_listener;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pingora::apps::HttpServerOptions;
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use sluice_policy::Registry;
use tokio::net::TcpListener;

use crate::admin::admin_loop;
use crate::auth_limit::AuthLimiter;
use crate::cert_watch::{CertWatch, cert_files};
use crate::config::{EdgeConfig, Scheme};
use crate::event_sink::EventSink;
use crate::reload::{file_stamp, reload};
use crate::service::EdgeService;
use crate::ssh::SshGateway;
use crate::state::Shared;
use crate::tls::DevCa;
use crate::tunnel::watch_session;
use accept::{Listening, accept_loop};
use drain::Drain;
use front::Front;
use https::tls_acceptor;
use tunnel_listener::start_tunnel;

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
    // Policies fetch what they need from elsewhere first (OIDC discovery): an issuer that does
    // not answer is a config error now, not a 5xx at the first request.
    crate::config::prepare_policies(&config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nthe edge config has errors; nothing was started"))?;
    // Handlers first: a signal that arrives once the ports answer is never fatal.
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let events = Arc::new(EventSink::open(&config.events)?);
    let shared = Arc::new(Shared::new(&config, Some(events)));
    // Stored ACME certificates are served from the first handshake; orders start once the
    // listeners that answer the CA's challenges are up (below).
    let acme = match &config.acme {
        Some(a) => Some(
            crate::acme::prepare(a, &config.state_dir, &shared.acme).map_err(|e| {
                anyhow::anyhow!("{e}\nthe edge config has errors; nothing was started")
            })?,
        ),
        None => None,
    };
    if let Some(c) = &config.cluster {
        let cluster = crate::cluster::Cluster::start(c, &shared, registry.clone()).await?;
        let _ = shared.cluster.set(cluster);
    }
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
    // One limiter for every listener that checks a secret (tunnel authtokens, SSH keys).
    let limiter = Arc::new(AuthLimiter::new(config.auth_limits));
    let tunnel = match (config.tunnel, config.ssh) {
        (None, None) => None,
        (addr, _) => {
            let (server, local) = start_tunnel(
                addr,
                &config,
                &shared,
                &registry,
                ca.as_ref(),
                limiter.clone(),
            )
            .await?;
            if let Some(a) = local {
                eprintln!("sluice edge: tunnel listener on {a}");
            }
            Some(Arc::new(server))
        }
    };
    let _ssh = match (config.ssh, &tunnel) {
        (Some(addr), Some(server)) => {
            let gateway = SshGateway::start(
                addr,
                &config,
                server.clone(),
                limiter.clone(),
                shared.metrics.clone(),
            )
            .await?;
            eprintln!("sluice edge: ssh listener on {}", gateway.local_addr());
            Some(gateway)
        }
        _ => None,
    };
    if let Some(server) = &tunnel {
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
            tls: Some(tls_acceptor(&shared, ca)?),
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

    if let Some(manager) = acme {
        manager.spawn();
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stamp = file_stamp(&path);
    let (mut cert_watch, mut cert_changes) = match CertWatch::new(&cert_files(&config)) {
        Ok((w, rx)) => (Some(w), rx),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch certificate files; SIGHUP still reloads them");
            (None, tokio::sync::mpsc::unbounded_channel().1)
        }
    };
    loop {
        let reloaded = tokio::select! {
            _ = hup.recv() => {
                stamp = file_stamp(&path);
                reload(&path, &registry, &config, &shared, "SIGHUP").await
            }
            _ = tick.tick() => {
                let now = file_stamp(&path);
                if now.is_some() && now != stamp {
                    stamp = now;
                    reload(&path, &registry, &config, &shared, "file changed").await
                } else {
                    None
                }
            }
            Some(file) = cert_changes.recv() => {
                tracing::info!(file = %file.display(), "certificate file changed; reloading");
                reload(&path, &registry, &config, &shared, "certificate file changed").await
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        if let (Some(w), Some(files)) = (cert_watch.as_mut(), reloaded) {
            w.set(&files);
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
