//! Helpers of the agent end-to-end tests: a real `sluice edge` with a tunnel listener on fixed
//! ports (so it can be killed and restarted), real `sluice http|tcp|tls|start` processes whose
//! console lines are collected, and bounded polling.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::{free_port, scratch_dir};

/// The authtoken of every [`TunnelEdge`].
pub const TOKEN: &str = "agent-test-token";

/// A real `sluice edge` with HTTP, HTTPS and tunnel listeners (and optionally a TCP port range)
/// on fixed loopback ports, killed on drop.
pub struct TunnelEdge {
    child: Option<Child>,
    /// Plain HTTP port.
    pub http: u16,
    /// HTTPS port (TLS endpoints route here by SNI).
    pub https: u16,
    /// Tunnel port agents dial.
    pub tunnel: u16,
    /// First port of the TCP range, when the edge serves TCP endpoints.
    pub tcp: Option<u16>,
    /// Admin port (`/metrics`).
    pub admin: u16,
    /// SSH gateway port, when the edge has one.
    pub ssh: Option<u16>,
    /// More config after [`TOKEN`]'s `authtokens:` entry: more list items, then top-level
    /// sections (`tunnel:` …).
    pub extra_config: String,
    /// The edge's folder (config, state, logs).
    pub dir: PathBuf,
}

impl Drop for TunnelEdge {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TunnelEdge {
    /// Starts an edge; with `tcp`, it also serves TCP endpoints on 20 ports.
    pub async fn start(tcp: bool) -> TunnelEdge {
        Self::start_with_config(tcp, "").await
    }

    /// [`start`](Self::start) with more config after the first authtoken: list items such as
    /// `"  - token: t2\n    account: b\n    allow: [\"*.localhost\"]\n"`, then top-level
    /// sections.
    pub async fn start_with_config(tcp: bool, extra_config: &str) -> TunnelEdge {
        Self::start_full(tcp, false, extra_config).await
    }

    /// [`start_with_config`](Self::start_with_config), with an SSH gateway when `ssh` (its
    /// keys go in `extra_config`, under the first authtoken).
    pub async fn start_full(tcp: bool, ssh: bool, extra_config: &str) -> TunnelEdge {
        let mut edge = TunnelEdge {
            child: None,
            http: free_port(),
            https: free_port(),
            tunnel: free_port(),
            tcp: tcp.then(|| super::free_ports(20)),
            admin: free_port(),
            ssh: ssh.then(free_port),
            extra_config: extra_config.to_owned(),
            dir: scratch_dir(),
        };
        edge.restart().await;
        edge
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let r = super::get(self.admin, "127.0.0.1", "/metrics").await;
        String::from_utf8_lossy(&r.body).into_owned()
    }

    /// The edge's CA, which agents trust.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("state").join("ca.pem")
    }

    /// `--connect-url`, `--connect-ca` and `--authtoken` for an agent.
    pub fn agent_flags(&self) -> Vec<String> {
        vec![
            "--connect-url".into(),
            format!("localhost:{}", self.tunnel),
            "--connect-ca".into(),
            self.ca_path().display().to_string(),
            "--authtoken".into(),
            TOKEN.into(),
        ]
    }

    /// Starts `sluice http <upstream>` connected to this edge, with `extra` flags.
    pub fn http_agent(&self, upstream: &str, extra: &[&str]) -> AgentProc {
        let mut args = vec!["http".to_owned(), upstream.to_owned()];
        args.extend(self.agent_flags());
        args.extend(extra.iter().map(|s| s.to_string()));
        AgentProc::spawn(&args)
    }

    fn config(&self) -> String {
        let ssh = self
            .ssh
            .map_or_else(String::new, |p| format!("  ssh: 127.0.0.1:{p}\n"));
        let mut text = format!(
            "version: 1\nlisteners:\n  http: 127.0.0.1:{}\n  https: 127.0.0.1:{}\n  tunnel: 127.0.0.1:{}\n  admin: 127.0.0.1:{}\n{ssh}state_dir: {}\nevents:\n  output: {}\nbase_domains: [localhost]\nauthtokens:\n  - token: {TOKEN}\n    account: tests\n    allow: [\"*\"]\n{}",
            self.http,
            self.https,
            self.tunnel,
            self.admin,
            self.dir.join("state").display(),
            self.dir.join("events.jsonl").display(),
            self.extra_config,
        );
        if let Some(first) = self.tcp {
            text.push_str(&format!(
                "tcp:\n  bind: 127.0.0.1\n  host: localhost\n  ports: {first}-{}\n",
                first + 19
            ));
        }
        text
    }

    /// Kills the edge with SIGKILL (no goodbye to its agents).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the edge on the same ports and folder; returns once it listens.
    pub async fn restart(&mut self) {
        self.kill();
        let path = self.dir.join("edge.yml");
        std::fs::write(&path, self.config()).expect("write edge config");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stderr.log"))
            .expect("edge stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("edge")
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn sluice edge");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("sluice edge exited early: {status}\n{}", self.stderr());
            }
            let mut up = self.ca_path().exists();
            for port in [self.http, self.https, self.tunnel, self.admin]
                .into_iter()
                .chain(self.ssh)
            {
                up = up && TcpStream::connect(("127.0.0.1", port)).await.is_ok();
            }
            if up {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "sluice edge did not listen within 20 s\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `sig` to the edge.
    pub fn signal(&self, sig: i32) {
        if let Some(child) = &self.child {
            let pid = i32::try_from(child.id()).expect("pid");
            // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// Waits (at most `limit`) for the edge to exit; its status, `None` if it still runs.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// What the edge wrote to standard error.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

/// A running agent command (`sluice http …`), killed on drop; its standard output lines are
/// collected as they come.
pub struct AgentProc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
    /// A private folder (its config home and log).
    pub home: PathBuf,
    /// Port of its web interface and local API.
    pub web: u16,
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

impl AgentProc {
    /// Spawns `sluice ARGS` with a private config home, no inherited edge or proxy settings
    /// and the web interface on a free port.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> AgentProc {
        Self::spawn_with_env(args, &[])
    }

    /// [`spawn`](Self::spawn) with these environment variables set.
    pub fn spawn_with_env<S: AsRef<std::ffi::OsStr>>(
        args: &[S],
        env: &[(&str, &str)],
    ) -> AgentProc {
        let home = scratch_dir();
        let stderr = home.join("stderr.log");
        let web = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        for var in sluice_tunnel::edge_proxy::PROXY_ENV {
            command.env_remove(var);
        }
        command.env_remove("NO_PROXY").env_remove("no_proxy");
        let mut child = command
            .args(args)
            .arg("--web-addr")
            .arg(format!("127.0.0.1:{web}"))
            .env_remove("SLUICE_CONNECT_URL")
            .env_remove("SLUICE_AUTHTOKEN")
            .envs(env.iter().copied())
            .env("XDG_CONFIG_HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("agent stderr file"))
            .spawn()
            .expect("spawn sluice agent");
        let stdout = child.stdout.take().expect("agent stdout");
        let lines = collect_lines(stdout);
        AgentProc {
            child,
            lines,
            stderr,
            home,
            web,
        }
    }

    /// Standard output so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits (up to `limit`) for an output line after the first `skip` lines matching `pred`;
    /// returns its index and text.
    pub async fn wait_line(
        &mut self,
        skip: usize,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let start = Instant::now();
        loop {
            let lines = self.lines();
            if let Some((i, l)) = lines.iter().enumerate().skip(skip).find(|(_, l)| pred(l)) {
                return (i, l.clone());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the agent exited ({status})\nstdout: {lines:#?}\nstderr: {}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < limit,
                "no matching line within {limit:?}\nstdout: {lines:#?}\nstderr: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the `Forwarding` lines of `n` endpoints; returns each `(url, upstream)`.
    pub async fn forwarding(&mut self, n: usize) -> Vec<(String, String)> {
        let mut from = 0;
        for _ in 0..n {
            let (i, _) = self
                .wait_line(from, Duration::from_secs(40), |l| {
                    l.starts_with("Forwarding")
                })
                .await;
            from = i + 1;
        }
        let out: Vec<(String, String)> = self
            .lines()
            .iter()
            .filter(|l| l.starts_with("Forwarding"))
            .filter_map(|l| {
                let mut words = l.split_whitespace().skip(1);
                let url = words.next()?.to_owned();
                let _arrow = words.next()?;
                Some((url, words.next()?.to_owned()))
            })
            .collect();
        assert_eq!(out.len(), n, "{:#?}", self.lines());
        out
    }

    /// The one endpoint's public URL.
    pub async fn url(&mut self) -> String {
        self.forwarding(1).await.remove(0).0
    }

    /// Kills the agent with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (up to `limit`) for the agent to exit by itself; its exit code.
    pub async fn exited(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    pub async fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

/// `host` and `port` of `http://host:port`.
pub fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().expect("port in URL")),
        None => (rest.to_owned(), 80),
    }
}

/// Polls `f` every 100 ms for up to `limit` until it returns `Some`.
pub async fn poll<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `text` to `dir/name`, returning the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create folder");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// One GET through the edge's HTTP port for `host`, or `None` when the connection fails or
/// takes more than 10 s.
pub async fn try_get(port: u16, host: &str, path: &str) -> Option<super::Reply> {
    use http_body_util::Full;
    let fut = async {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .uri(path)
            .header("host", host)
            .header("connection", "close")
            .body(Full::new(bytes::Bytes::new()))
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        let version = resp.version();
        let headers = resp.headers().clone();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .ok()?
            .to_bytes();
        Some(super::Reply {
            status,
            version,
            headers,
            body,
        })
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .ok()
        .flatten()
}

/// An HTTP/1.1 upstream answering every request with `body` (and `connection: close`); abort
/// the returned task to stop listening.
pub async fn text_upstream(body: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| async move {
                    let resp = hyper::Response::builder()
                        .header("connection", "close")
                        .body(Full::new(bytes::Bytes::from_static(body.as_bytes())));
                    Ok::<_, std::convert::Infallible>(resp.unwrap_or_default())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, task)
}

/// The lines a child writes to `out`, collected by a thread as they come.
pub fn collect_lines(out: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut l) = sink.lock() {
                l.push(line);
            }
        }
    });
    lines
}
