//! A real single-node etcd (Debian's `etcd-server`) on free loopback ports with its data in
//! a scratch folder, killed on drop; and edges that join it as one cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::agent::{AgentProc, TunnelEdge};
use super::{free_port, scratch_dir};

/// Where Debian installs etcd.
pub const ETCD: &str = "/usr/bin/etcd";

/// The second account's authtoken on every cluster edge (the first is `agent::TOKEN`).
pub const TOKEN_B: &str = "cluster-account-b";

/// Whether etcd is installed; prints why a test is skipped when it is not.
pub fn etcd_available(test: &str) -> bool {
    let there = Path::new(ETCD).exists();
    if !there {
        eprintln!("skipping {test}: {ETCD} is absent (install Debian's etcd-server)");
    }
    there
}

/// A running etcd.
pub struct Etcd {
    child: Option<Child>,
    /// Client port.
    pub client: u16,
    peer: u16,
    /// Data and log folder.
    pub dir: PathBuf,
    /// This member's name and the `--initial-cluster` of its cluster.
    name: String,
    initial: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Etcd {
    /// Starts etcd and waits until it answers.
    pub async fn start() -> Etcd {
        Etcd::start_cluster(1).await.remove(0)
    }

    /// Starts an etcd cluster of `n` members and waits until each answers.
    pub async fn start_cluster(n: usize) -> Vec<Etcd> {
        let mut members: Vec<Etcd> = (0..n)
            .map(|i| Etcd {
                child: None,
                client: free_port(),
                peer: free_port(),
                dir: scratch_dir(),
                name: format!("m{i}"),
                initial: String::new(),
            })
            .collect();
        let initial: Vec<String> = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect();
        for m in &mut members {
            m.initial = initial.join(",");
            m.spawn();
        }
        for m in &members {
            m.wait().await;
        }
        members
    }

    /// The client URL edges are given.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// (Re)starts etcd on the same ports and data; returns once it answers.
    pub async fn restart(&mut self) {
        self.spawn();
        self.wait().await;
    }

    fn spawn(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .expect("etcd log");
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let child = Command::new(ETCD)
            .arg(format!("--name={}", self.name))
            .arg(format!("--data-dir={}", self.dir.join("data").display()))
            .arg(format!("--listen-client-urls={}", self.url()))
            .arg(format!("--advertise-client-urls={}", self.url()))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        self.child = Some(child);
    }

    async fn wait(&self) {
        let start = Instant::now();
        while self.keys("/").await.is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "etcd did not answer within 20 s:\n{}",
                std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills etcd with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The keys under `prefix`, through etcd's JSON gateway (`None`: no answer).
    pub async fn keys(&self, prefix: &str) -> Option<Vec<String>> {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let body = serde_json::json!({
            "key": B64.encode(prefix), "range_end": B64.encode(&end), "keys_only": true
        });
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "2", "-X", "POST", "-d"])
            .arg(body.to_string())
            .arg(format!("{}/v3/kv/range", self.url()))
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v.get("header")?;
        let keys = v["kvs"].as_array().cloned().unwrap_or_default();
        Some(
            keys.iter()
                .filter_map(|kv| kv["key"].as_str())
                .filter_map(|k| B64.decode(k).ok())
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .collect(),
        )
    }
}

/// Starts an edge with a tunnel listener that joins the cluster on `etcd` as `id`, with
/// lease lifetime `ttl` and the cluster CA in `ca_dir`; it also takes [`TOKEN_B`] (account b).
pub async fn cluster_edge(etcd: &Etcd, id: &str, ttl: &str, ca_dir: &Path) -> TunnelEdge {
    cluster_edge_with(etcd, id, ttl, ca_dir, "").await
}

/// [`cluster_edge`] with more top-level config sections (`tcp:` …).
pub async fn cluster_edge_with(
    etcd: &Etcd,
    id: &str,
    ttl: &str,
    ca_dir: &Path,
    more: &str,
) -> TunnelEdge {
    cluster_edge_on(&[etcd.url()], id, ttl, ca_dir, more).await
}

/// [`cluster_edge_with`] given the etcd URLs.
pub async fn cluster_edge_on(
    urls: &[String],
    id: &str,
    ttl: &str,
    ca_dir: &Path,
    more: &str,
) -> TunnelEdge {
    let extra = format!(
        "  - token: {TOKEN_B}\n    account: b\n    allow: [\"*\"]\ncluster:\n  etcd: [{}]\n  edge_id: {id}\n  listen: 127.0.0.1:{}\n  lease_ttl: {ttl}\n  ca_dir: {}\n{more}",
        urls.join(", "),
        free_port(),
        ca_dir.display()
    );
    TunnelEdge::start_with_config(false, &extra).await
}

/// `sluice http <upstream> --url <url>` on `edge` with `token`, and `extra` flags.
pub fn agent_on(
    edge: &TunnelEdge,
    token: &str,
    upstream: &str,
    url: &str,
    extra: &[&str],
) -> AgentProc {
    let mut args: Vec<String> = vec!["http".into(), upstream.into()];
    args.extend(edge.agent_flags());
    if let Some(t) = args.iter_mut().skip_while(|a| *a != "--authtoken").nth(1) {
        *t = token.to_string();
    }
    args.extend(["--url".to_string(), url.to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    AgentProc::spawn(&args)
}

/// The port of a [`cluster_edge`]'s inter-edge listener.
pub fn cluster_port(edge: &TunnelEdge) -> u16 {
    let (_, rest) = edge
        .extra_config
        .split_once("listen: 127.0.0.1:")
        .expect("a cluster edge");
    rest.lines()
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("port")
}

/// Runs `openssl` with `args` in `dir`; panics unless it succeeds.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Dials an inter-edge listener with `openssl s_client` (the client certificate `cert`/`key`
/// in `dir`, if given), sends `line` and returns what came back within a second.
pub fn peer_hello(dir: &Path, port: u16, cert: Option<(&str, &str)>, line: &str) -> Vec<u8> {
    let mut cmd = Command::new("sh");
    let auth = cert.map_or_else(String::new, |(c, k)| format!("-cert {c} -key {k}"));
    cmd.arg("-c")
        .arg(format!(
            "(printf '%s\\n' '{line}'; sleep 1) | timeout 10 openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:{port} -servername edges.sluice-cluster.invalid {auth}"
        ))
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd.output().expect("run openssl s_client").stdout
}

/// Waits (at most `limit`) until a GET for `host` through `port` answers `status`; the reply.
pub async fn until_status(port: u16, host: &str, status: u16, limit: Duration) -> super::Reply {
    super::agent::poll(
        &format!("{status} for {host} on :{port}"),
        limit,
        || async {
            super::agent::try_get(port, host, "/x")
                .await
                .filter(|r| r.status == status)
        },
    )
    .await
}
