//! A running `sluice edge`: the real binary on loopback ports, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

use super::{free_port, scratch_dir};

/// A running `sluice edge` in its own folder (config, `stderr.log`, events), killed on drop.
pub struct Edge {
    child: Child,
    /// Port of the plain HTTP listener (`{HTTP}` in a config).
    pub http: u16,
    /// Port of the HTTPS listener (`{HTTPS}`).
    pub https: u16,
    /// Port of the admin listener (`{ADMIN}`).
    pub admin: u16,
    /// The edge's folder (`{DIR}`).
    pub dir: PathBuf,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fills `{HTTP}`, `{HTTPS}`, `{ADMIN}` and `{DIR}` in a config.
fn render(config: &str, http: u16, https: u16, admin: u16, dir: &std::path::Path) -> String {
    config
        .replace("{HTTP}", &http.to_string())
        .replace("{HTTPS}", &https.to_string())
        .replace("{ADMIN}", &admin.to_string())
        .replace("{DIR}", &dir.display().to_string())
}

impl Edge {
    /// `config` with this edge's ports and folder filled in.
    pub fn render(&self, config: &str) -> String {
        render(config, self.http, self.https, self.admin, &self.dir)
    }

    /// The config file the edge runs on.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("edge.yml")
    }

    /// Starts the edge on `config` (`{HTTP}`, `{HTTPS}`, `{ADMIN}`, `{DIR}` filled in) in
    /// `dir`, returning once every listener the config names accepts connections.
    pub async fn start_in(dir: PathBuf, config: &str) -> Edge {
        Edge::start_in_with(dir, config, &[]).await
    }

    /// [`start`](Self::start) with more command-line flags (`--log-format json`, say).
    pub async fn start_with_args(config: &str, args: &[&str]) -> Edge {
        Edge::start_in_with(scratch_dir(), config, args).await
    }

    /// [`start_in`](Self::start_in) with more command-line flags.
    pub async fn start_in_with(dir: PathBuf, config: &str, args: &[&str]) -> Edge {
        let (http, https, admin) = (free_port(), free_port(), free_port());
        let path = dir.join("edge.yml");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
        std::fs::write(&path, render(config, http, https, admin, &dir)).expect("write config");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("edge")
            .arg("--config")
            .arg(&path)
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn sluice edge");
        let mut edge = Edge {
            child,
            http,
            https,
            admin,
            dir,
        };
        let mut ports = Vec::new();
        for (key, port) in [
            ("{HTTP}", edge.http),
            ("{HTTPS}", edge.https),
            ("{ADMIN}", edge.admin),
        ] {
            if config.contains(key) {
                ports.push(port);
            }
        }
        for port in ports {
            let mut up = false;
            for _ in 0..200 {
                if let Ok(Some(status)) = edge.child.try_wait() {
                    panic!("sluice edge exited early: {status}\n{}", edge.stderr());
                }
                if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "sluice edge did not listen on {port} within 10 s");
        }
        edge
    }

    /// Starts the edge on `config` in a fresh folder.
    pub async fn start(config: &str) -> Edge {
        Edge::start_in(scratch_dir(), config).await
    }

    /// What the edge wrote to standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// `{DIR}/events.jsonl` as written so far.
    pub fn events_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("events.jsonl")).unwrap_or_default()
    }

    /// The events in `{DIR}/events.jsonl` so far: every complete line (the edge may be
    /// half-way through writing the last one).
    pub fn events(&self) -> Vec<serde_json::Value> {
        let text = self.events_text();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| serde_json::from_str(l).expect("event is JSON"))
            .collect()
    }

    /// The edge's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The edge's exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `within` for the edge to exit; its status, or `None` if it is still running.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if start.elapsed() >= within {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `sig` to the edge.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }
}
