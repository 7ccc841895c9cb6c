//! The real OpenSSH client against the edge's SSH gateway: keys made by `ssh-keygen`, and
//! `ssh -R … 127.0.0.1 COMMAND` processes whose output is collected. `None` when OpenSSH is not
//! installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::agent::{TunnelEdge, collect_lines, host_port};

/// Whether `ssh` and `ssh-keygen` are installed.
pub fn openssh_installed() -> bool {
    ["ssh", "ssh-keygen"].iter().all(|bin| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {bin}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Whether to skip an OpenSSH test (saying so): OpenSSH is not installed.
pub fn skip_without_openssh() -> bool {
    if openssh_installed() {
        return false;
    }
    eprintln!("SKIPPED: OpenSSH is not installed (apt-get install openssh-client)");
    true
}

/// An edge with an SSH gateway (and a TCP range) whose first authtoken authorizes `public`.
pub async fn edge_with_key(public: &str) -> TunnelEdge {
    let extra = format!("    authorized_keys:\n      - \"{public}\"\n");
    TunnelEdge::start_full(true, true, &extra).await
}

/// `curl -i` of `url` (its host resolved to loopback, the edge's CA trusted) with `extra`
/// args: the response head and body, then curl's own errors.
pub fn curl(edge: &TunnelEdge, url: &str, extra: &[&str]) -> String {
    let (host, port) = host_port(url);
    let out = Command::new("curl")
        .args(["-sS", "-i", "--http1.1", "--max-time", "20", "--cacert"])
        .arg(edge.ca_path())
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl (install the `curl` package)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A new Ed25519 key in `dir`: its private key file and its public `authorized_keys` line.
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    (path, public.trim().to_owned())
}

/// A running `ssh` client, killed on drop.
pub struct SshProc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
}

impl Drop for SshProc {
    fn drop(&mut self) {
        self.kill();
    }
}

impl SshProc {
    /// `ssh -p PORT -i KEY -R FORWARD tests@127.0.0.1 COMMAND` (the command as one word, as a
    /// shell would pass it after quoting), host key not checked.
    pub fn spawn(port: u16, key: &Path, forward: &str, command: &str, dir: &Path) -> SshProc {
        Self::spawn_with_input(port, key, forward, command, dir, None)
    }

    /// [`spawn`](Self::spawn) with `input` (then EOF) as the session's standard input, as
    /// `ssh … < FILE` sends it; `None`: no input (`ssh -n`).
    pub fn spawn_with_input(
        port: u16,
        key: &Path,
        forward: &str,
        command: &str,
        dir: &Path,
        input: Option<Vec<u8>>,
    ) -> SshProc {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let stderr = dir.join(format!("ssh-{n}.stderr"));
        let mut child = Command::new("ssh")
            .args(if input.is_none() {
                &["-n"][..]
            } else {
                &[][..]
            })
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-F",
                "/dev/null",
                "-p",
            ])
            .arg(port.to_string())
            .arg("-i")
            .arg(key)
            .arg("-R")
            .arg(forward)
            .arg("tests@127.0.0.1")
            .arg(command)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(match input {
                Some(_) => Stdio::piped(),
                None => Stdio::null(),
            })
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("ssh stderr file"))
            .spawn()
            .expect("spawn ssh");
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(&bytes);
            });
        }
        let stdout = child.stdout.take().expect("ssh stdout");
        let lines = collect_lines(stdout);
        SshProc {
            child,
            lines,
            stderr,
        }
    }

    /// Standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The URL of the `Forwarding URL` line, waiting for it (at most 20 s).
    pub async fn url(&mut self) -> String {
        let start = Instant::now();
        loop {
            let found = self.lines.lock().ok().and_then(|l| {
                l.iter()
                    .find_map(|l| l.strip_prefix("Forwarding ").map(str::to_owned))
            });
            if let Some(url) = found {
                return url.trim().to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ssh exited ({status}) before forwarding: {}", self.stderr());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no Forwarding line within 20 s: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Standard output's lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (at most `limit`) for a line of standard output that `pred` accepts.
    pub async fn wait_line(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| pred(l)) {
                return line;
            }
            assert!(
                start.elapsed() < limit,
                "no such line within {limit:?}: {:?}\n{}",
                self.lines(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most `limit`) for ssh to exit; its exit code.
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

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the client: stopped, it answers nothing but
    /// its TCP connection stays open (the kernel still acknowledges).
    pub fn freeze(&self, frozen: bool) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        let sig = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(pid, sig) };
    }

    /// Kills the client (its connection drops).
    pub fn kill(&mut self) {
        self.freeze(false);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
