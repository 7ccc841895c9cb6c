//! `sluice http` against a real `sluice edge`: curl through a tunnel with a policy, websockets,
//! an upstream that went away (8012), deprecated flags turned into policy, and a clean exit on
//! SIGTERM.

mod support;

use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::agent::{AgentProc, TunnelEdge, host_port, poll, text_upstream, try_get, write_file};
use support::{scratch_dir, start_echo, start_ws_echo};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const POLICY: &str = "on_http_response:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-from-policy: added\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_a_tunnel_with_a_policy() {
    let edge = TunnelEdge::start(false).await;
    let (echo, _gate) = start_echo().await;
    let dir = scratch_dir();
    let policy = write_file(&dir, "policy.yml", POLICY);
    let policy = policy.display().to_string();
    let mut agent = edge.http_agent(
        &echo.port().to_string(),
        &["--traffic-policy-file", &policy],
    );
    let (url, upstream) = agent.forwarding(1).await.remove(0);
    assert_eq!(upstream, format!("http://localhost:{}", echo.port()));
    assert!(
        agent
            .lines()
            .first()
            .is_some_and(|l| l.starts_with("Session Status") && l.ends_with("online")),
        "{:?}",
        agent.lines()
    );
    let (host, port) = host_port(&url);
    assert_eq!(port, edge.http);
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20", "--resolve"])
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("{url}/through/curl?q=1"))
        .output()
        .expect("run curl (install the `curl` package)");
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("x-from-policy: added"), "{text}");
    assert!(text.contains("\"path\":\"/through/curl?q=1\""), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_a_tunnel() {
    let edge = TunnelEdge::start(false).await;
    let ws = start_ws_echo().await;
    let mut agent = edge.http_agent(&ws.port().to_string(), &[]);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect edge");
    let request = format!("ws://{host}:{port}/socket")
        .into_client_request()
        .expect("ws request");
    let (mut socket, resp) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .expect("handshake in time")
    .expect("websocket handshake");
    assert_eq!(resp.status().as_u16(), 101);
    for i in 0..5 {
        let msg = format!("hello {i}");
        socket.send(Message::text(msg.clone())).await.expect("send");
        let back = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("echo in time")
            .expect("a message")
            .expect("no error");
        assert_eq!(back.into_text().expect("text").as_str(), msg);
    }
    let _ = socket.close(None).await;
}

/// The edge's development certificate names its listen addresses, so `--connect-url` may give
/// the address instead of `localhost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_url_may_name_the_edge_by_its_address() {
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("by address").await;
    let mut flags = edge.agent_flags();
    assert_eq!(flags[0], "--connect-url");
    flags[1] = format!("127.0.0.1:{}", edge.tunnel);
    let mut args = vec!["http".to_owned(), up.to_string()];
    args.extend(flags);
    let mut agent = AgentProc::spawn(&args);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let ok = poll("a 200", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(&ok.body[..], b"by address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_upstream_answers_8012() {
    // With ngrok's header asked for, the agent's code reaches the client under both names.
    let edge = TunnelEdge::start_with_config(false, "ngrok_error_code_header: true\n").await;
    let (up, task) = text_upstream("still here").await;
    let mut agent = edge.http_agent(&up.to_string(), &[]);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let ok = poll("a 200", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(&ok.body[..], b"still here");
    task.abort();
    let bad = poll("a 502", Duration::from_secs(10), || async {
        try_get(port, &host, "/").await.filter(|r| r.status == 502)
    })
    .await;
    assert_eq!(bad.header("sluice-error-code"), Some("ERR_SLUICE_8012"));
    assert_eq!(bad.header("ngrok-error-code"), Some("ERR_NGROK_8012"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_flags_become_policy() {
    let edge = TunnelEdge::start(false).await;
    let (echo, _gate) = start_echo().await;
    let mut agent = edge.http_agent(
        &echo.port().to_string(),
        &[
            "--request-header-add",
            "x-legacy: yes",
            "--response-header-add",
            "x-legacy-response: 1",
            "--host-header",
            "rewrite",
        ],
    );
    let url = agent.url().await;
    let stderr = agent.stderr();
    assert!(stderr.contains("--host-header is deprecated"), "{stderr}");
    assert!(
        stderr.contains("--request-header-add is deprecated") && stderr.contains("add-headers"),
        "{stderr}"
    );
    let (host, port) = host_port(&url);
    let reply = poll("a 200", Duration::from_secs(10), || {
        try_get(port, &host, "/x")
    })
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-legacy-response"), Some("1"));
    assert_eq!(reply.json()["headers"]["x-legacy"][0], "yes");
    assert_eq!(
        reply.json()["headers"]["host"][0],
        format!("localhost:{}", echo.port()),
        "--host-header rewrite: the upstream sees its own host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_unbinds_and_exits_zero() {
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("up").await;
    let mut agent = edge.http_agent(&up.to_string(), &[]);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let ok = poll("a 200", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(agent.terminate().await, Some(0), "{}", agent.stderr());
    let gone = poll("3200 after exit", Duration::from_secs(5), || async {
        try_get(port, &host, "/").await.filter(|r| r.status == 404)
    })
    .await;
    assert_eq!(gone.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_authtoken_or_policy_exits_1() {
    let edge = TunnelEdge::start(false).await;
    let mut args = vec!["http".to_owned(), "9".to_owned()];
    args.extend(edge.agent_flags());
    let token = args.len() - 1;
    args[token] = "wrong-token".into();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(&args)
        .args(["--web-addr", "false"])
        .env("XDG_CONFIG_HOME", edge.dir.join("no-config"))
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("authentication refused"), "{stderr}");

    let dir = scratch_dir();
    let policy = write_file(
        &dir,
        "bad.yml",
        "on_http_request:\n  - actions:\n      - type: no-such-action\n",
    );
    let mut args = vec!["http".to_owned(), "9".to_owned()];
    args.extend(edge.agent_flags());
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(&args)
        .arg("--traffic-policy-file")
        .arg(&policy)
        .args(["--web-addr", "false"])
        .env("XDG_CONFIG_HOME", &dir)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no-such-action"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
