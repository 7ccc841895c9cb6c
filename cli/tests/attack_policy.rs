//! Attack suite, policies (issue 12, findings 1 and 9), against the real binary on loopback:
//! an expensive policy is refused at load by `sluice policy check`, by `sluice edge` at start
//! and on reload, and by an agent binding it over a tunnel; a policy under the static limit
//! that is still slow is stopped per request by the run-time budget (500 ERR_SLUICE_2254)
//! while a second endpoint keeps answering within 100 ms; the `--ua-filter-deny` flag refuses
//! the user agents it names, checked with curl.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::agent::{AgentProc, TunnelEdge, write_file};
use support::{Edge, eventually, get, scratch_dir, start_echo, write_atomic};

/// A CEL list literal of `n` integers.
fn list(n: usize) -> String {
    let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// Three nested `exists` over 1,000-element lists: ~1e9 iterations.
fn nested_1000() -> String {
    format!(
        "{l}.exists(a, {l}.exists(b, {l}.exists(c, a + b + c == -1)))",
        l = list(1000)
    )
}

/// Under the static limit (two nested loops of 400) but 160,000 iterations when it runs.
const SLOW: &str = "req.url.path == '/slow' && lists.range(400).exists(a, lists.range(400).exists(b, a + b == -1))";

/// A policy document whose one rule has expression `expr`, at line 4 column 9.
fn policy_with(expr: &str) -> String {
    format!(
        "on_http_request:\n  - name: expensive\n    expressions:\n      - \"{expr}\"\n    actions:\n      - type: deny\n"
    )
}

/// Runs a command to completion, killing it if it runs past `limit` (the old code accepted
/// these policies and kept running).
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for sluice"),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("sluice was still running after {limit:?}: the policy was accepted");
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn policy_check(path: &Path) -> Output {
    run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["policy", "check"])
            .arg(path),
        Duration::from_secs(60),
    )
}

#[test]
fn policy_check_refuses_the_nested_policy_with_line_and_column() {
    let dir = scratch_dir();
    let path = write_file(&dir, "nested.yml", &policy_with(&nested_1000()));
    let out = policy_check(&path);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("nested.yml:4:9"), "{all}");
    assert!(all.contains("ERR_SLUICE_2270"), "{all}");
    assert!(all.contains("estimated worst-case cost"), "{all}");
    // The policy just under the limit loads.
    let ok = write_file(&dir, "slow.yml", &policy_with(SLOW));
    let out = policy_check(&ok);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

fn edge_config(echo: std::net::SocketAddr, slow_expr: &str) -> String {
    format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
events:
  output: {{DIR}}/events.jsonl
endpoints:
  - url: http://slow.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - name: slow rule
          expressions:
            - "{slow_expr}"
          actions:
            - type: custom-response
              config: {{status_code: 200, body: never}}
  - url: http://fast.localhost
    upstream:
      url: http://{echo}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_refuses_an_expensive_policy_at_start_and_on_reload() {
    let (echo, _) = start_echo().await;
    // At start: the edge exits with the diagnostic.
    let dir = scratch_dir();
    let config = edge_config(echo, &nested_1000())
        .replace("{HTTP}", &support::free_port().to_string())
        .replace("{DIR}", &dir.display().to_string());
    let path = write_file(&dir, "edge.yml", &config);
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("edge")
            .arg("--config")
            .arg(&path),
        Duration::from_secs(60),
    );
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("ERR_SLUICE_2270"), "{all}");
    assert!(all.contains("edge.yml:14:"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);

    // On reload: refused, and the running config keeps serving.
    let edge = Edge::start(&edge_config(echo, "req.url.path == '/nothing'")).await;
    assert_eq!(get(edge.http, "slow.localhost", "/").await.status, 200);
    write_atomic(
        &edge.config_path(),
        &edge.render(&edge_config(echo, &nested_1000())),
    );
    edge.signal(libc::SIGHUP);
    let stderr = eventually("the refusal on stderr", || async {
        let s = edge.stderr();
        s.contains("ERR_SLUICE_2270").then_some(s)
    })
    .await;
    assert!(stderr.contains("edge.yml:14:"), "{stderr}");
    assert_eq!(get(edge.http, "slow.localhost", "/").await.status, 200);
    assert_eq!(get(edge.http, "fast.localhost", "/").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_budget_stops_a_slow_policy_while_another_endpoint_keeps_answering() {
    let (echo, _) = start_echo().await;
    let edge = Edge::start(&edge_config(echo, SLOW)).await;
    let port = edge.http;
    assert_eq!(get(port, "fast.localhost", "/").await.status, 200);

    // Slow requests, one after another, while the fast endpoint is polled.
    let slow = tokio::spawn(async move {
        let mut took = Vec::new();
        for _ in 0..8 {
            let start = Instant::now();
            let r = get(port, "slow.localhost", "/slow").await;
            took.push(start.elapsed());
            assert_eq!(r.status, 500, "{:?}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_2254"));
        }
        took
    });
    let mut fast = Vec::new();
    while !slow.is_finished() && fast.len() < 500 {
        let start = Instant::now();
        let r = get(port, "fast.localhost", "/").await;
        fast.push(start.elapsed());
        assert_eq!(r.status, 200);
    }
    let took = slow.await.expect("slow requests");
    assert!(!fast.is_empty());
    let worst = fast.iter().max().copied().unwrap_or_default();
    assert!(
        worst < Duration::from_millis(100),
        "a fast request took {worst:?} while slow ones ran ({took:?})"
    );
    assert!(
        took.iter().all(|t| *t < Duration::from_secs(1)),
        "slow requests were not stopped promptly: {took:?}"
    );

    // The same endpoint serves a normal request right after.
    let r = get(port, "slow.localhost", "/fine").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/fine");

    // The request's event carries the code.
    eventually("an event with ERR_SLUICE_2254", || async {
        edge.events().into_iter().find(|e| {
            e["event_type"] == "http_request_complete.v0"
                && e.to_string().contains("ERR_SLUICE_2254")
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_binding_an_expensive_policy_is_refused() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let policy = write_file(&dir, "nested.yml", &policy_with(&nested_1000()));
    let mut args = vec!["http".to_owned(), "9".to_owned()];
    args.extend(edge.agent_flags());
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(&args)
            .arg("--traffic-policy-file")
            .arg(&policy)
            .args(["--web-addr", "false"])
            .env("XDG_CONFIG_HOME", &dir),
        Duration::from_secs(60),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("ERR_SLUICE_2270"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `curl -A <ua>` against the embedded edge: the status code.
fn curl_status(port: u16, host: &str, ua: &str) -> String {
    let out = run_bounded(
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-A", ua])
            .args(["-H", &format!("Host: {host}")])
            .arg(format!("http://127.0.0.1:{port}/")),
        Duration::from_secs(30),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ua_filter_deny_refuses_the_user_agents_it_names() {
    let (echo, _) = start_echo().await;
    let mut agent = AgentProc::spawn(&[
        "http",
        &echo.port().to_string(),
        "--edge-http",
        "127.0.0.1:0",
        "--ua-filter-deny",
        "^curl/.*",
    ]);
    let url = agent.url().await;
    let (host, port) = support::agent::host_port(&url);
    let denied = curl_status(port, &host, "curl/8.5.0");
    assert_eq!(denied, "403", "stderr: {}", agent.stderr());
    let allowed = curl_status(port, &host, "Mozilla/5.0 (X11; Linux x86_64)");
    assert_eq!(allowed, "200", "stderr: {}", agent.stderr());
}
