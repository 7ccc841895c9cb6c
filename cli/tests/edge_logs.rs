//! The edge's one log pipeline: `--log`, `--log-level` and `--log-format term|logfmt|json`
//! carry events of the library crates (here a refused tunnel authentication from
//! `sluice_proxy`, a refused reload), filtered by level, without secrets.

mod support;

use std::time::Duration;

use sluice_tunnel::SessionBuilder;
use support::{Edge, eventually, free_port, write_atomic};

const TOKEN: &str = "the-right-token-1234";

/// An edge config with a tunnel listener on `tunnel`; `{HTTP}` and `{DIR}` filled by [`Edge`].
fn config(tunnel: u16) -> String {
    format!(
        "version: 1\nlisteners:\n  http: 127.0.0.1:{{HTTP}}\n  tunnel: 127.0.0.1:{tunnel}\nstate_dir: {{DIR}}/state\nevents:\n  output: {{DIR}}/events.jsonl\nauthtokens:\n  - token: {TOKEN}\n    allow: [\"*\"]\n"
    )
}

/// Starts an edge with `args`; returns it and its tunnel port once that listens.
async fn edge_with(args: &[&str]) -> (Edge, u16) {
    let tunnel = free_port();
    let edge = Edge::start_with_args(&config(tunnel), args).await;
    eventually("the tunnel listener", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", tunnel))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    (edge, tunnel)
}

/// Presents a wrong authtoken to the edge's tunnel listener.
async fn wrong_token(edge: &Edge, tunnel: u16) {
    let ca = std::fs::read(edge.dir.join("state").join("ca.pem")).expect("CA");
    let r = SessionBuilder::new("wrong-token-5678")
        .connect_addr(format!("127.0.0.1:{tunnel}"))
        .server_name("localhost")
        .ca_pem(ca)
        .timeouts(Duration::from_secs(10), Duration::from_secs(10))
        .connect()
        .await;
    assert!(r.is_err(), "a wrong token was accepted");
}

/// Lines of `text` that contain `needle`, once there is one (bounded wait).
async fn lines_with(edge: &Edge, needle: &str) -> Vec<String> {
    eventually(needle, || async {
        let lines: Vec<String> = edge
            .stderr()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect();
        (!lines.is_empty()).then_some(lines)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_carry_library_events() {
    let (edge, tunnel) = edge_with(&["--log-format", "json", "--log", "stderr"]).await;
    wrong_token(&edge, tunnel).await;
    let lines = lines_with(&edge, "tunnel authentication refused").await;
    let v: serde_json::Value =
        serde_json::from_str(&lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]));
    assert_eq!(v["lvl"], "warn", "{v}");
    assert_eq!(v["reason"], "invalid_token", "{v}");
    assert!(
        v["obj"]
            .as_str()
            .is_some_and(|o| o.starts_with("sluice_proxy")),
        "{v}"
    );
    assert!(
        v["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{v}"
    );
    assert!(v["t"].is_string(), "{v}");
    // Every log line is JSON; no token anywhere.
    let all = edge.stderr();
    for line in all.lines().filter(|l| l.starts_with('{')) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
    assert!(
        !all.contains("wrong-token-5678") && !all.contains(TOKEN),
        "{all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfmt_to_a_file() {
    let dir = support::scratch_dir();
    let file = dir.join("edge.log");
    let path = file.display().to_string();
    let (edge, tunnel) = edge_with(&["--log-format", "logfmt", "--log", &path]).await;
    wrong_token(&edge, tunnel).await;
    let line = eventually("a logfmt line in the file", || async {
        std::fs::read_to_string(&file)
            .ok()?
            .lines()
            .find(|l| l.contains("tunnel authentication refused"))
            .map(str::to_owned)
    })
    .await;
    assert!(line.starts_with("t="), "{line}");
    assert!(
        line.contains(" lvl=warn msg=\"tunnel authentication refused"),
        "{line}"
    );
    assert!(line.contains(" obj=sluice_proxy::"), "{line}");
    assert!(line.contains(" peer=127.0.0.1:"), "{line}");
    assert!(line.contains(" reason=invalid_token"), "{line}");
    assert!(!edge.stderr().contains("tunnel authentication refused"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level_filters_events() {
    let (edge, tunnel) = edge_with(&["--log-format", "json", "--log-level", "error"]).await;
    wrong_token(&edge, tunnel).await;
    // An error event (a refused reload) passes; the warn event before it did not.
    write_atomic(&edge.config_path(), "version: 1\nlisteners: {}\n");
    edge.signal(libc::SIGHUP);
    let lines = lines_with(&edge, "config reload refused").await;
    let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
    assert_eq!(v["lvl"], "eror", "{v}");
    assert!(
        !edge.stderr().contains("tunnel authentication refused"),
        "{}",
        edge.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_log_flags_are_refused() {
    for args in [["--log-format", "xml"], ["--log-level", "loud"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["edge", "--config", "/nonexistent.yml"])
            .args(args)
            .output()
            .expect("run sluice");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(args[1]), "{stderr}");
    }
}
