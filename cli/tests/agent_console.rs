//! The full-screen console under a real pseudo-terminal: `sluice http` run by util-linux's
//! `script` (which gives it a terminal and copies the screen's bytes to us) draws ngrok's
//! console, and the request list updates live after real requests through the embedded
//! edge; Ctrl+C typed at the terminal stops the agent and gives the terminal back.

mod support;

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::agent::{host_port, text_upstream, try_get};
use support::{free_port, scratch_dir};

/// `script` and what it copied of the terminal so far; killed on drop.
struct Pty {
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pty {
    /// Runs `command` (a shell line) on a 120×40 pseudo-terminal.
    fn spawn(command: &str, home: &std::path::Path) -> Pty {
        let line = format!("stty cols 120 rows 40; exec {command}");
        let mut child = Command::new("script")
            .args(["-qfec", &line, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env("XDG_CONFIG_HOME", home)
            .env_remove("SLUICE_CONNECT_URL")
            .env_remove("SLUICE_AUTHTOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn script (util-linux)");
        let mut out = child.stdout.take().expect("script stdout");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.extend_from_slice(&buf[..n]);
                }
            }
        });
        Pty { child, screen }
    }

    /// The screen as a terminal would show it now: every byte drawn so far replayed on a
    /// 40×120 virtual terminal (the console moves the cursor and writes only changed cells,
    /// so the byte stream itself does not read as text).
    fn text(&self) -> String {
        const ROWS: NonZeroU16 = NonZeroU16::new(40).expect("rows");
        const COLS: NonZeroU16 = NonZeroU16::new(120).expect("cols");
        let mut screen = vt100::Parser::new(ROWS, COLS, 0);
        screen.process(&self.raw());
        screen.screen().contents()
    }

    fn raw(&self) -> Vec<u8> {
        self.screen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits (bounded) until the drawn text contains every one of `wanted`.
    async fn wait_for(&mut self, wanted: &[&str]) {
        let start = Instant::now();
        loop {
            let text = self.text();
            if wanted.iter().all(|w| text.contains(w)) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the agent's terminal closed ({status}) before showing {wanted:?}:\n{text}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the console did not show {wanted:?} within 30 s:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_draws_live_requests_on_a_terminal() {
    let (upstream, _task) = text_upstream("hello from the upstream").await;
    let home = scratch_dir();
    let web = free_port();
    let command = format!(
        "{} http {upstream} --edge-http 127.0.0.1:0 --web-addr 127.0.0.1:{web}",
        quote(env!("CARGO_BIN_EXE_sluice"))
    );
    let mut pty = Pty::spawn(&command, &home);
    pty.wait_for(&[
        "Session Status",
        "online",
        "Forwarding",
        "Connections",
        "HTTP Requests",
    ])
    .await;
    let text = pty.text();
    assert!(text.contains(&format!("http://127.0.0.1:{web}")), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    let tunnels = support::get(web, "127.0.0.1", "/api/tunnels").await;
    let tunnels: serde_json::Value = serde_json::from_slice(&tunnels.body).expect("tunnels json");
    let url = tunnels["tunnels"][0]["public_url"]
        .as_str()
        .expect("a public URL")
        .to_owned();
    assert!(
        text.contains(&format!("{url} -> http://localhost:{upstream}")),
        "{text}"
    );
    let (host, port) = host_port(&url);

    for (i, path) in ["/console-probe-first", "/console-probe-second"]
        .iter()
        .enumerate()
    {
        let reply = try_get(port, &host, path)
            .await
            .expect("request through the edge");
        assert_eq!(reply.status, 200);
        pty.wait_for(&[path, "200 OK"]).await;
        // The metrics line counts the requests' connections.
        if i == 1 {
            let text = pty.text();
            assert!(text.contains("ttl     opn     rt1"), "{text}");
        }
    }

    // Ctrl+C at the terminal: the agent stops and leaves the alternate screen.
    if let Some(stdin) = pty.child.stdin.as_mut() {
        stdin.write_all(&[0x03]).expect("type Ctrl+C");
        stdin.flush().expect("flush");
    }
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = pty.child.try_wait() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Ctrl+C did not stop the agent:\n{}",
            pty.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let raw = pty.raw();
    let leave = b"\x1b[?1049l";
    assert!(
        raw.windows(leave.len()).any(|w| w == leave),
        "the alternate screen was not left"
    );
    let _ = std::fs::remove_dir_all(&home);
}
