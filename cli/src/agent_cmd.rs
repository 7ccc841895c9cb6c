//! `sluice http <upstream>`: the agent. Binds an HTTP endpoint on an edge (an embedded one in
//! this process unless `--connect-url` names another), prints where it forwards, and serves
//! every tunnelled connection with the agent's HTTP forwarder (recorded for the inspector).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use sluice_agent::{
    ApiOptions, EndpointInfo, EndpointKind, Forwarder, HttpOptions, InspectApi, InspectLimits,
    Inspector, Upstream,
};
use sluice_policy::Registry;
use sluice_tunnel::{BindRequest, ClientSession, Protocol, SessionBuilder};

/// Arguments of `sluice http`.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// The local service: a port (`3000`), `host:port`, or a URL (`https://localhost:8443`).
    upstream: String,
    /// The public URL to bind (random when omitted).
    #[arg(long)]
    url: Option<String>,
    /// A Traffic Policy file sent to the edge with the bind.
    #[arg(long)]
    traffic_policy_file: Option<PathBuf>,
    /// The authtoken for the edge given by --connect-url.
    #[arg(long, env = "SLUICE_AUTHTOKEN", hide_env_values = true)]
    authtoken: Option<String>,
    /// The edge's tunnel address, `host:port` (default: an edge embedded in this process).
    #[arg(long, env = "SLUICE_CONNECT_URL")]
    connect_url: Option<String>,
    /// A PEM CA file to trust for --connect-url instead of the system roots.
    #[arg(long)]
    connect_ca: Option<PathBuf>,
    /// Record requests for the web interface.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    inspect: bool,
    /// Address of the web interface and local API.
    #[arg(long, default_value = "127.0.0.1:4040")]
    web_addr: SocketAddr,
    /// The embedded edge's HTTP listener (default 127.0.0.1:8080, or a free port if taken).
    #[arg(long, hide = true)]
    edge_http: Option<SocketAddr>,
}

/// Runs `sluice http`. Returns the exit code.
pub fn run(args: HttpArgs, registry: &Registry) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run_async(args, registry.clone()))
}

/// The embedded edge: its tunnel address, trusted CA and state folder.
struct Embedded {
    tunnel: String,
    token: String,
    ca_pem: Vec<u8>,
    dir: PathBuf,
}

fn free_port(ip: std::net::IpAddr) -> anyhow::Result<u16> {
    let l = TcpListener::bind((ip, 0)).context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

async fn start_embedded(http: Option<SocketAddr>, registry: &Registry) -> anyhow::Result<Embedded> {
    let http = match http {
        Some(a) if a.port() != 0 => a,
        Some(a) => SocketAddr::new(a.ip(), free_port(a.ip())?),
        None => {
            let default: SocketAddr = ([127, 0, 0, 1], 8080).into();
            match TcpListener::bind(default) {
                Ok(_) => default,
                Err(_) => SocketAddr::new(default.ip(), free_port(default.ip())?),
            }
        }
    };
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let tunnel = SocketAddr::new(loopback, free_port(loopback)?);
    let dir = std::env::temp_dir().join(format!(
        "sluice-http-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let token = format!("{:032x}", rand::random::<u128>());
    let text = format!(
        "version: 1\nlisteners:\n  http: \"{http}\"\n  tunnel: \"{tunnel}\"\nstate_dir: {state:?}\nevents:\n  output: {events:?}\nbase_domains: [localhost]\nauthtokens:\n  - token: \"{token}\"\n    account: local\n    allow: [\"*\"]\n",
        state = dir.join("state").display().to_string(),
        events = dir.join("events.jsonl").display().to_string(),
    );
    let config = match sluice_proxy::config::load_str(
        &Arc::from("embedded-edge.yml"),
        &text,
        &dir,
        registry,
    ) {
        Ok(c) => c,
        Err(e) => {
            let msgs: Vec<String> = e.diagnostics.iter().map(ToString::to_string).collect();
            bail!("the embedded edge config is invalid:\n{}", msgs.join("\n"));
        }
    };
    let mut edge = tokio::spawn(sluice_proxy::serve(
        config,
        dir.join("embedded-edge.yml"),
        registry.clone(),
    ));
    let ca = dir.join("state").join("ca.pem");
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
        let up = tokio::net::TcpStream::connect(tunnel).await.is_ok()
            && tokio::net::TcpStream::connect(http).await.is_ok();
        if up && ca.exists() {
            let ca_pem = std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?;
            tokio::spawn(async move {
                if let Ok(Err(e)) = edge.await {
                    eprintln!("error: the embedded edge stopped: {e:#}");
                }
            });
            return Ok(Embedded {
                tunnel: tunnel.to_string(),
                token,
                ca_pem,
                dir,
            });
        }
        if Instant::now() > deadline {
            bail!("the embedded edge did not start within 20s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_policy(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn run_async(args: HttpArgs, registry: Registry) -> anyhow::Result<u8> {
    let upstream = match Upstream::parse(&args.upstream, EndpointKind::Http) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(1);
        }
    };
    let policy = match args
        .traffic_policy_file
        .as_deref()
        .map(read_policy)
        .transpose()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(1);
        }
    };

    let mut embedded_dir = None;
    let session: ClientSession = match &args.connect_url {
        Some(addr) => {
            let Some(token) = args.authtoken.clone() else {
                eprintln!(
                    "error: --connect-url needs an authtoken (--authtoken or SLUICE_AUTHTOKEN)"
                );
                return Ok(1);
            };
            let mut builder = SessionBuilder::new(token).connect_addr(addr.clone());
            if let Some(ca) = &args.connect_ca {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                builder = builder.ca_pem(pem);
            }
            builder.connect().await.context("connecting to the edge")?
        }
        None => {
            let edge = start_embedded(args.edge_http, &registry).await?;
            embedded_dir = Some(edge.dir.clone());
            SessionBuilder::new(edge.token)
                .connect_addr(edge.tunnel)
                .server_name("localhost")
                .ca_pem(edge.ca_pem)
                .connect()
                .await
                .context("connecting to the embedded edge")?
        }
    };

    let mut request = BindRequest::new(Protocol::Http);
    if let Some(url) = &args.url {
        let url = if url.contains("://") {
            url.clone()
        } else {
            format!("http://{url}")
        };
        request = request.with_url(url);
    }
    if let Some(p) = &policy {
        request = request.with_traffic_policy(p.clone());
    }
    let bound = match session.bind(request).await {
        Ok(b) => b,
        Err(e) => {
            match e.as_bind_refusal() {
                Some(r) => eprintln!(
                    "error: the edge refused the endpoint ({}):\n{}",
                    r.code, r.message
                ),
                None => eprintln!("error: binding the endpoint: {e}"),
            }
            session.close();
            cleanup(embedded_dir.as_deref());
            return Ok(1);
        }
    };

    let inspector = Inspector::new(InspectLimits::default());
    let forwarder = Forwarder::new(
        "command_line",
        EndpointKind::Http,
        upstream.clone(),
        HttpOptions::default(),
        args.inspect.then(|| inspector.clone()),
    )?;
    let api = InspectApi::new(
        inspector,
        ApiOptions {
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..ApiOptions::default()
        },
    );
    let replayer = match &forwarder {
        Forwarder::Http(h) => Some(h.clone()),
        Forwarder::Stream(_) => None,
    };
    api.add_endpoint(
        EndpointInfo {
            name: "command_line".to_owned(),
            url: bound.url.clone(),
            upstream_url: upstream.to_string(),
            upstream_protocol: upstream.protocol.as_str().to_owned(),
            inspect: args.inspect,
            traffic_policy: policy,
            pooling_enabled: false,
        },
        replayer,
    );
    let web = match sluice_agent::inspect::bind(args.web_addr, false).await {
        Ok(listener) => {
            tokio::spawn(api.serve(listener));
            Some(args.web_addr)
        }
        Err(e) => {
            eprintln!(
                "warning: the web interface is off: cannot listen on {}: {e}",
                args.web_addr
            );
            None
        }
    };

    println!("{:<30}online", "Session Status");
    println!("{:<30}{} -> {}", "Forwarding", bound.url, upstream);
    if let Some(addr) = web {
        println!("{:<30}http://{addr}", "Web Interface");
    }

    let accept = async {
        while let Some((header, stream)) = session.accept().await {
            let forwarder = forwarder.clone();
            tokio::spawn(async move {
                if let Err(e) = forwarder.serve(stream, header.client_addr).await {
                    eprintln!("warning: {}: {e}", header.client_addr);
                }
            });
        }
    };
    let code = tokio::select! {
        () = accept => {
            let reason = session
                .close_reason()
                .map_or_else(|| "closed".to_owned(), |r| r.to_string());
            eprintln!("error: the tunnel session ended: {reason}");
            println!("{:<30}offline", "Session Status");
            1
        }
        _ = tokio::signal::ctrl_c() => 0,
    };
    session.close();
    cleanup(embedded_dir.as_deref());
    Ok(code)
}

fn cleanup(dir: Option<&Path>) {
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}
