//! The agent commands' run: the session to the embedded or remote edge, the endpoints handed to
//! [`sluice_agent::runner::Runner`], its events printed as ngrok's console lines (or shown on
//! the full-screen console when standard output is a terminal), and Ctrl-C or SIGTERM as the
//! stop.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use sluice_agent::config::{ConsoleUi, ResolvedEndpoint};
use sluice_agent::runner::{Forwarding, RunError, RunEvent, Runner};
use sluice_agent::{ApiOptions, EndpointKind, InspectApi, Inspector};
use sluice_policy::Registry;
use sluice_tunnel::{EdgeProxy, Protocol, SessionBuilder};

use super::args::Settings;
use super::console::Notes;
use super::console::screen::Screen;
use super::embedded::{self, Embedded};
use super::print::console;

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The proxy to reach a remote edge at `addr` through: the config's, else the environment's
/// (never for the embedded edge, which is in this process).
fn edge_proxy(settings: &Settings, addrs: &[&str]) -> anyhow::Result<Option<EdgeProxy>> {
    let proxy = match &settings.proxy_url {
        Some(url) => Some(EdgeProxy::parse(url).context("the config's proxy_url")?),
        None => {
            let host =
                |a: &str| sluice_tunnel::auth::host_port(a).map_or_else(String::new, |(h, _)| h);
            let first = EdgeProxy::from_env(&host(addrs[0]))?;
            for addr in &addrs[1..] {
                if EdgeProxy::from_env(&host(addr))?.map(|p| p.to_string())
                    != first.as_ref().map(|p| p.to_string())
                {
                    anyhow::bail!(
                        "the proxy settings of the environment (NO_PROXY) cover some of the edges in connect_url but not all ({} and {addr}): give proxy_url in the config, or make NO_PROXY name all or none of them",
                        addrs[0]
                    );
                }
            }
            first
        }
    };
    if let Some(p) = &proxy {
        tracing::info!(proxy = %p, "dialing the edge through a proxy");
    }
    Ok(proxy)
}

/// Dials the embedded edge or the remote one.
async fn session_builder(
    settings: &Settings,
    endpoints: &[ResolvedEndpoint],
    registry: &Registry,
) -> anyhow::Result<(SessionBuilder, Option<Embedded>)> {
    let client_id = format!(
        "sluice-agent-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    );
    let (interval, tolerance) = settings.heartbeat;
    match &settings.connect_url {
        Some(url) => {
            let token = settings.authtoken.clone().context(
                "connecting to an edge needs an authtoken (--authtoken, SLUICE_AUTHTOKEN or the config's agent.authtoken)",
            )?;
            let addrs = sluice_agent::config::edge_addrs(url).map_err(anyhow::Error::msg)?;
            let mut builder = SessionBuilder::new(token).connect_addrs(addrs.iter().copied());
            if let Some(ca) = &settings.connect_ca {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                builder = builder.ca_pem(pem);
            }
            if let Some(timeout) = settings.connect_timeout {
                builder = builder.connect_timeout(timeout);
            }
            if let Some(proxy) = edge_proxy(settings, &addrs)? {
                builder = builder.proxy(proxy);
            }
            Ok((
                builder.client_id(client_id).heartbeat(interval, tolerance),
                None,
            ))
        }
        None => {
            let mut options = settings.embedded.clone();
            options.tcp = endpoints.iter().any(|e| e.kind == EndpointKind::Tcp);
            options.https = endpoints.iter().any(|e| {
                e.kind == EndpointKind::Tls || e.bind_request().protocol == Protocol::Https
            });
            let edge = embedded::start(&options, registry).await?;
            let builder = SessionBuilder::new(edge.token.clone())
                .connect_addr(edge.tunnel.clone())
                .server_name("localhost")
                .ca_pem(edge.ca_pem.clone())
                .client_id(client_id)
                .heartbeat(interval, tolerance);
            Ok((builder, Some(edge)))
        }
    }
}

/// What the console says about the embedded edge, when the agent runs one.
#[derive(Debug, Clone)]
struct EmbeddedNotes {
    /// Its development CA, named once when an HTTPS or TLS URL is served with it.
    ca: PathBuf,
    /// Its HTTP listener, which also serves its only `http://` endpoint whatever the `Host`.
    http: SocketAddr,
}

/// The `http://IP:PORT` form of the embedded edge's only HTTP endpoint, which works in every
/// client (wget, Python…, which do not resolve `*.localhost`); `None` unless exactly one of
/// `forwarding` is an `http://` URL on that listener.
fn loopback_url(forwarding: &[Forwarding], http: SocketAddr) -> Option<String> {
    let mut on_http = forwarding.iter().filter(|f| {
        f.url.starts_with("http://")
            && sluice_tunnel::auth::host_port(&f.url)
                .is_some_and(|(_, port)| port.unwrap_or(80) == http.port())
    });
    on_http.next()?;
    on_http.next().is_none().then(|| format!("http://{http}"))
}

/// Prints a runner event as the console line (or warning) ngrok shows for it, with notes on
/// the embedded edge when there is one.
fn print_event(event: RunEvent, embedded: Option<&EmbeddedNotes>) {
    match event {
        RunEvent::Waiting { error } => {
            console("Session Status", &format!("reconnecting ({error})"))
        }
        RunEvent::Online { forwarding, web } => {
            console("Session Status", "online");
            for f in &forwarding {
                console("Forwarding", &format!("{} -> {}", f.url, f.upstream));
            }
            if let Some(url) = embedded.and_then(|e| loopback_url(&forwarding, e.http)) {
                console(
                    "Also at",
                    &format!("{url} (any Host; for wget, Python… that do not resolve *.localhost)"),
                );
            }
            if let Some(addr) = web {
                console("Web Interface", &format!("http://{addr}"));
            }
            let tls = forwarding
                .iter()
                .find(|f| f.url.starts_with("https://") || f.url.starts_with("tls://"));
            if let (Some(f), Some(ca)) = (tls, embedded.map(|e| e.ca.as_path())) {
                eprintln!(
                    "note: {} is served with the embedded edge's development CA; trust {} \
                     (e.g. curl --cacert {} {}); it is kept for the next runs",
                    f.url,
                    ca.display(),
                    ca.display(),
                    f.url
                );
            }
        }
        RunEvent::WebUnavailable { addr, error } => {
            eprintln!("warning: the web interface is off: cannot listen on {addr}: {error}");
        }
        RunEvent::Status(status) => console("Session Status", &status.to_string()),
        RunEvent::RebindFailed { url, error } => {
            eprintln!("warning: {url} did not come back after reconnecting: {error}");
        }
    }
}

/// Whether to draw the full-screen console: `console_ui: true`, or `iftty` (the default) when
/// standard output is a terminal and the log does not write to one (it would draw over it).
fn console_wanted(settings: &Settings) -> bool {
    match settings.console_ui {
        ConsoleUi::On => true,
        ConsoleUi::Off => false,
        ConsoleUi::IfTty => std::io::stdout().is_terminal() && !settings.log_to_terminal,
    }
}

/// Binds every endpoint and serves until stopped. Returns the exit code.
pub async fn run(
    settings: Settings,
    endpoints: Vec<ResolvedEndpoint>,
    registry: Registry,
) -> anyhow::Result<u8> {
    let (session, embedded) = session_builder(&settings, &endpoints, &registry).await?;
    let embedded_notes = embedded.as_ref().map(|e| EmbeddedNotes {
        ca: e.ca_path.clone(),
        http: e.http,
    });
    let edge_addr = match (&settings.connect_url, &embedded) {
        (Some(url), _) => url.clone(),
        (None, Some(e)) => format!("{} (embedded)", e.tunnel),
        (None, None) => String::new(),
    };
    let api = InspectApi::new(
        Inspector::new(settings.inspect_limits.unwrap_or_default()),
        ApiOptions {
            allow_hosts: settings.web_allow_hosts.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            edge_addr,
            settings: settings.sources.clone(),
        },
    );
    let screen = match console_wanted(&settings) {
        true => {
            let notes = Notes::default();
            let screen = Screen::start(api.clone(), notes.clone(), settings.console_color)?;
            Some((screen, notes))
        }
        false => None,
    };
    let runner = Runner::new(session, endpoints)
        .web_addr(settings.web_addr)
        .inspect(settings.inspect_limits)
        .api(api);
    let result = match &screen {
        Some((screen, notes)) => {
            let (notes, poke) = (notes.clone(), screen.poke());
            let quit = screen.quit();
            runner
                .on_event(move |event| {
                    notes.hear(&event);
                    poke.notify_one();
                })
                .run(async {
                    tokio::select! {
                        () = shutdown_signal() => {}
                        () = quit => {}
                    }
                })
                .await
        }
        None => {
            runner
                .on_event(move |event| print_event(event, embedded_notes.as_ref()))
                .run(shutdown_signal())
                .await
        }
    };
    // The terminal is given back before anything more is printed.
    drop(screen);
    let code = match result {
        Ok(()) => 0,
        Err(e @ RunError::SessionEnded(_)) => {
            eprintln!("error: {e}");
            console("Session Status", "offline");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    drop(embedded);
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(url: &str) -> Forwarding {
        Forwarding {
            name: "e".into(),
            url: url.into(),
            upstream: "http://localhost:3000".into(),
        }
    }

    #[test]
    fn the_ip_form_is_shown_for_the_only_http_endpoint() {
        let http = SocketAddr::from(([127, 0, 0, 1], 8080));
        let one = [fwd("http://abc.localhost:8080")];
        assert_eq!(
            loopback_url(&one, http).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        let both = [
            fwd("https://abc.localhost:8443"),
            fwd("http://abc.localhost:8080"),
        ];
        assert!(loopback_url(&both, http).is_some());
        let two = [
            fwd("http://a.localhost:8080"),
            fwd("http://b.localhost:8080"),
        ];
        assert_eq!(loopback_url(&two, http), None);
        assert_eq!(loopback_url(&[fwd("tcp://localhost:20000")], http), None);
    }
}
