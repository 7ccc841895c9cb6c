//! Real forward proxies on loopback for the agent's proxy tests: Debian's `tinyproxy` (HTTP
//! CONNECT, basic credentials) and `microsocks` (SOCKS5, user/password), each killed on drop,
//! with what they logged. `None` when the binary is not installed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, scratch_dir};

/// A running proxy process.
pub struct ProxyProc {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for ProxyProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn installed(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl ProxyProc {
    /// `tinyproxy` requiring `user:pass` (basic), logging each CONNECT.
    pub async fn tinyproxy(user: &str, pass: &str) -> Option<ProxyProc> {
        Self::tinyproxy_with(&format!("BasicAuth {user} {pass}\n")).await
    }

    /// `tinyproxy` with `extra` lines in its config (`BasicAuth …`, `ConnectPort …`).
    pub async fn tinyproxy_with(extra: &str) -> Option<ProxyProc> {
        if !installed("tinyproxy") {
            return None;
        }
        let (dir, port) = (scratch_dir(), free_port());
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        let text = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Connect\n\
             MaxClients 50\nAllow 127.0.0.1\n{extra}PidFile \"{}\"\n",
            log.display(),
            dir.join("tinyproxy.pid").display()
        );
        std::fs::write(&conf, text).expect("write tinyproxy.conf");
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tinyproxy");
        Some(Self::started(child, port, log, dir).await)
    }

    /// `microsocks` requiring `user`/`pass`, logging each connection on standard error.
    pub async fn microsocks(user: &str, pass: &str) -> Option<ProxyProc> {
        if !installed("microsocks") {
            return None;
        }
        let (dir, port) = (scratch_dir(), free_port());
        let log = dir.join("microsocks.log");
        let out = std::fs::File::create(&log).expect("microsocks log");
        let child = Command::new("microsocks")
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-u",
                user,
                "-P",
                pass,
            ])
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("spawn microsocks");
        Some(Self::started(child, port, log, dir).await)
    }

    async fn started(child: Child, port: u16, log: PathBuf, dir: PathBuf) -> ProxyProc {
        let proxy = ProxyProc {
            child,
            port,
            log,
            dir,
        };
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the proxy did not listen on {port} within 10 s: {}",
                proxy.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proxy
    }

    /// What the proxy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
