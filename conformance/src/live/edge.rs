//! Starts a real `sluice edge` for one case: writes its config, spawns the binary, and waits
//! (bounded) until its listener accepts connections. Killed on drop.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::format::IpPolicySpec;

/// How long the edge may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// What the edge serves: one endpoint with the file's policy in front of the echo upstream.
pub struct EdgeSpec<'a> {
    /// The endpoint URL (`https://app.example.com`); its scheme picks the listener.
    pub endpoint_url: &'a str,
    /// Whether the endpoint is https.
    pub https: bool,
    /// The echo upstream.
    pub upstream: SocketAddr,
    /// The policy file, if any.
    pub policy_file: Option<&'a Path>,
    /// Folder shared by the edges of one run (the development CA lives there).
    pub state_dir: &'a Path,
    /// The test file's named IP policies, written as the config's `ip_policies:`.
    pub ip_policies: &'a BTreeMap<String, IpPolicySpec>,
}

/// A running edge.
pub struct EdgeProcess {
    child: Child,
    /// The listener the endpoint is served on.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The edge config text for `spec`, listening on `listen`.
pub fn config_text(spec: &EdgeSpec<'_>, listen: SocketAddr, events: &Path) -> String {
    let mut s = String::from("version: 1\nlisteners:\n");
    let listener = if spec.https { "https" } else { "http" };
    let _ = writeln!(s, "  {listener}: {listen}");
    let _ = writeln!(
        s,
        "state_dir: {}",
        quoted(&spec.state_dir.display().to_string())
    );
    let _ = writeln!(
        s,
        "events:\n  output: {}",
        quoted(&events.display().to_string())
    );
    if !spec.ip_policies.is_empty() {
        s.push_str("ip_policies:\n");
        for (name, p) in spec.ip_policies {
            let list = |items: &[String]| serde_json::to_string(items).unwrap_or_default();
            let _ = writeln!(
                s,
                "  - {{name: {}, allow: {}, deny: {}}}",
                quoted(name),
                list(&p.allow),
                list(&p.deny)
            );
        }
    }
    let _ = writeln!(s, "endpoints:\n  - url: {}", quoted(spec.endpoint_url));
    let _ = writeln!(
        s,
        "    upstream:\n      url: {}",
        quoted(&format!("http://{}", spec.upstream))
    );
    if let Some(p) = spec.policy_file {
        let _ = writeln!(
            s,
            "    traffic_policy_file: {}",
            quoted(&p.display().to_string())
        );
    }
    s
}

impl EdgeProcess {
    /// Writes the config into `dir` and starts `bin edge --config …`.
    pub async fn start(bin: &Path, spec: &EdgeSpec<'_>, dir: &Path) -> Result<EdgeProcess, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let config = dir.join("edge.yml");
        std::fs::write(&config, config_text(spec, addr, &dir.join("events.jsonl")))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let log = dir.join("edge.log");
        let stderr = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let child = Command::new(bin)
            .arg("edge")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start the edge `{}`: {e}", bin.display()))?;
        let mut edge = EdgeProcess { child, addr, log };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = edge.child.try_wait() {
                return Err(format!(
                    "the edge exited before listening ({status}):\n{}",
                    edge.log_text()
                ));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(edge);
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "the edge did not listen on {addr} within {}s:\n{}",
                    READY_TIMEOUT.as_secs(),
                    edge.log_text()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the edge wrote to stderr.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
