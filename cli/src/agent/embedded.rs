//! The embedded edge: with no `--connect-url`, the agent starts an edge in this process on
//! loopback (HTTP listener, plus an HTTPS listener for TLS/https endpoints and a TCP port range
//! for TCP endpoints) and talks to it over the real tunnel protocol.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sluice_policy::Registry;

/// The listeners the embedded edge needs.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// HTTP listener (default 127.0.0.1:8080, or a free port if taken; port 0: a free port).
    pub http: Option<SocketAddr>,
    /// Serve HTTPS and TLS endpoints.
    pub https: bool,
    /// HTTPS listener (default 127.0.0.1:8443, or a free port if taken).
    pub https_addr: Option<SocketAddr>,
    /// Serve TCP endpoints.
    pub tcp: bool,
    /// TCP port range (default `20000-20999`).
    pub tcp_ports: Option<String>,
    /// Where the development CA is kept across runs, so a client told to trust it once keeps
    /// working (`None`: a fresh CA in the run's temporary folder).
    pub ca_dir: Option<PathBuf>,
}

/// A running embedded edge: its tunnel address, authtoken, trusted CA and state folder (removed
/// on drop).
#[derive(Debug)]
pub struct Embedded {
    /// Tunnel listener, `host:port`.
    pub tunnel: String,
    /// The one authtoken it accepts.
    pub token: String,
    /// Its development CA, to trust.
    pub ca_pem: Vec<u8>,
    /// Where that CA's certificate is (`ca.pem`), for users to trust it.
    pub ca_path: PathBuf,
    /// Its HTTP listener, where its only HTTP endpoint is also served whatever the `Host`.
    pub http: SocketAddr,
    dir: PathBuf,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn free_port(ip: IpAddr) -> anyhow::Result<u16> {
    let l = TcpListener::bind((ip, 0)).context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// `wanted` when given (port 0: a free port), else `default` if free, else a free port.
fn pick(wanted: Option<SocketAddr>, default_port: u16) -> anyhow::Result<SocketAddr> {
    match wanted {
        Some(a) if a.port() != 0 => Ok(a),
        Some(a) => Ok(SocketAddr::new(a.ip(), free_port(a.ip())?)),
        None => {
            let default = SocketAddr::new(loopback(), default_port);
            match TcpListener::bind(default) {
                Ok(_) => Ok(default),
                Err(_) => Ok(SocketAddr::new(loopback(), free_port(loopback())?)),
            }
        }
    }
}

/// The edge config text.
fn config_text(
    http: SocketAddr,
    https: Option<SocketAddr>,
    tcp_ports: Option<&str>,
    tunnel: SocketAddr,
    (dir, state): (&std::path::Path, &std::path::Path),
    token: &str,
) -> String {
    let mut text = format!("version: 1\nlisteners:\n  http: \"{http}\"\n  tunnel: \"{tunnel}\"\n");
    if let Some(https) = https {
        text.push_str(&format!("  https: \"{https}\"\n"));
    }
    text.push_str(&format!(
        "state_dir: {state:?}\nevents:\n  output: {events:?}\nbase_domains: [localhost]\nauthtokens:\n  - token: \"{token}\"\n    account: local\n    allow: [\"*\"]\n",
        state = state.display().to_string(),
        events = dir.join("events.jsonl").display().to_string(),
    ));
    if let Some(ports) = tcp_ports {
        text.push_str(&format!(
            "tcp:\n  bind: 127.0.0.1\n  host: localhost\n  ports: {ports:?}\n"
        ));
    }
    text
}

/// Starts the embedded edge and waits (up to 20 s) until its listeners accept connections.
pub async fn start(options: &EmbeddedOptions, registry: &Registry) -> anyhow::Result<Embedded> {
    let http = pick(options.http, 8080)?;
    let https = match options.https {
        true => Some(pick(options.https_addr, 8443)?),
        false => None,
    };
    let tcp_ports = options.tcp.then(|| {
        options
            .tcp_ports
            .clone()
            .unwrap_or_else(|| "20000-20999".into())
    });
    let tunnel = SocketAddr::new(loopback(), free_port(loopback())?);
    let dir = std::env::temp_dir().join(format!(
        "sluice-agent-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let token = format!("{:032x}", rand::random::<u128>());
    let state = options.ca_dir.clone().unwrap_or_else(|| dir.join("state"));
    let mut embedded = Embedded {
        tunnel: tunnel.to_string(),
        token,
        ca_pem: Vec::new(),
        ca_path: state.join("ca.pem"),
        http,
        dir,
    };
    let text = config_text(
        http,
        https,
        tcp_ports.as_deref(),
        tunnel,
        (&embedded.dir, &state),
        &embedded.token,
    );
    let mut config = match sluice_proxy::config::load_str(
        &Arc::from("embedded-edge.yml"),
        &text,
        &embedded.dir,
        registry,
    ) {
        Ok(c) => c,
        Err(e) => {
            let msgs: Vec<String> = e.diagnostics.iter().map(ToString::to_string).collect();
            bail!("the embedded edge config is invalid:\n{}", msgs.join("\n"));
        }
    };
    // Its one endpoint is also at `http://127.0.0.1:PORT`, for clients that do not resolve
    // `*.localhost` (wget, Python…).
    config.only_endpoint_at_ip = true;
    // Sessions of `oauth` / `openid-connect` survive a restart of the agent and its edge.
    if let Err(e) = sluice_modules::load_or_create_session_key(&config.state_dir) {
        tracing::warn!(error = %e, "no lasting session key: oauth logins end when sluice stops");
    }
    let mut edge = tokio::spawn(sluice_proxy::serve(
        config,
        embedded.dir.join("embedded-edge.yml"),
        registry.clone(),
    ));
    let ca = embedded.ca_path.clone();
    let mut listeners = vec![tunnel, http];
    listeners.extend(https);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if edge.is_finished() {
            let why = match (&mut edge).await {
                Ok(Ok(())) => "it stopped".to_owned(),
                Ok(Err(e)) => format!("{e:#}"),
                Err(e) => e.to_string(),
            };
            bail!("the embedded edge failed to start: {why}");
        }
        let mut up = ca.exists();
        for addr in &listeners {
            up = up && tokio::net::TcpStream::connect(addr).await.is_ok();
        }
        if up {
            let ca_pem = std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?;
            tokio::spawn(async move {
                if let Ok(Err(e)) = edge.await {
                    eprintln!("error: the embedded edge stopped: {e:#}");
                }
            });
            embedded.ca_pem = ca_pem;
            return Ok(embedded);
        }
        if Instant::now() > deadline {
            bail!("the embedded edge did not start within 20s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
