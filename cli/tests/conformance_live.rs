//! The live mode of `sluice policy test`: cases sent as real HTTP through a real `sluice edge`
//! to the runner's echo upstream; what a real edge cannot reproduce is skipped with a reason.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-conformance-live-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn sluice(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const POLICY: &str = r#"
on_http_request:
  - name: local only
    expressions: ["!(conn.client_ip in ['127.0.0.1', '127.0.0.2'])"]
    actions: [{type: custom-response, config: {status_code: 403, body: "not you"}}]
  - name: hang up
    expressions: ["req.url.path == '/hangup'"]
    actions: [{type: close-connection}]
  - name: canned
    expressions: ["req.url.path == '/canned'"]
    actions: [{type: custom-response, config: {status_code: 418, body: "teapot ${req.method}"}}]
  - name: tag
    actions: [{type: add-headers, config: {headers: {x-tag: "${req.url.path}"}}}]
on_http_response:
  - name: mark
    actions: [{type: add-headers, config: {headers: {x-mark: "yes"}}}]
"#;

fn test_file(dir: &std::path::Path, extra_cases: &str) -> PathBuf {
    let text = format!(
        "policy:{}\ncases:\n{extra_cases}",
        POLICY.replace('\n', "\n  ")
    );
    let path = dir.join("live.policytest.yml");
    std::fs::write(&path, text).expect("write test file");
    path
}

const CASES: &str = r#"
  - name: forwarded with the request transformed and the reply as asked
    conn: {client_ip: 127.0.0.2}
    request: {method: POST, url: /a?b=1, headers: {x-in: v}, body: hello}
    upstream: {status: 201, headers: {x-up: u}, body: made}
    expect:
      status: 201
      headers: {x-up: u, x-mark: "yes"}
      body: made
      upstream: {method: POST, path: /a?b=1, headers: {x-tag: /a, x-in: v}, body: hello}
      fired: [tag]
  - name: answered at the edge
    conn: {client_ip: 127.0.0.1}
    request: {url: /canned}
    expect: {status: 418, body: teapot GET, upstream_called: false}
  - name: another loopback client is refused
    conn: {client_ip: 127.0.0.3}
    expect: {status: 403, upstream_called: false}
  - name: closed without a response
    conn: {client_ip: 127.0.0.1}
    request: {url: /hangup}
    expect: {closed: true, upstream_called: false}
  - name: several sends on one case
    conn: {client_ip: 127.0.0.1}
    steps:
      - request: {url: /one}
        expect: {status: 200, upstream: {headers: {x-tag: /one}}}
      - request: {url: /two}
        repeat: 2
        expect: {status: 200, body: upstream ok, upstream: {headers: {x-tag: /two}}}
  - name: virtual time is skipped
    conn: {client_ip: 127.0.0.1}
    advance: 10s
    expect: {status: 200}
  - name: outside addresses are skipped
    conn: {client_ip: 198.51.100.7}
    expect: {status: 403}
"#;

#[test]
fn live_cases_pass_skip_and_report() {
    let dir = scratch_dir();
    let file = test_file(&dir, CASES);
    let junit = dir.join("junit.xml");
    let (code, out, err) = sluice(&[
        "policy",
        "test",
        "--live",
        file.to_str().unwrap_or_default(),
        "--junit",
        junit.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("5 passed, 0 failed, 2 skipped"), "{out}");
    assert!(
        out.contains("skip virtual time is skipped (advance: virtual time"),
        "{out}"
    );
    assert!(out.contains("not in 127.0.0.0/8"), "{out}");
    assert!(out.contains("note: not checked live: fired"), "{out}");
    assert!(out.contains("rule coverage: not measured live"), "{out}");
    assert!(err.contains("echo upstream on http://127.0.0.1:"), "{err}");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.contains("skipped=\"2\""), "{xml}");
    assert!(xml.contains("<skipped message="), "{xml}");

    let (code, out, _) = sluice(&[
        "policy",
        "test",
        "--live",
        "--format",
        "json",
        file.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(json["skipped"], 2);
    assert_eq!(json["passed"], 5);
    assert!(json["rule_coverage"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_mismatches_fail_with_expected_and_actual() {
    let dir = scratch_dir();
    let file = test_file(
        &dir,
        r#"
  - name: wrong expectations
    conn: {client_ip: 127.0.0.1}
    request: {url: /x}
    expect:
      status: 202
      upstream: {headers: {x-tag: /y}}
  - name: not closed
    conn: {client_ip: 127.0.0.1}
    expect: {closed: true}
"#,
    );
    let (code, out, err) = sluice(&[
        "policy",
        "test",
        "--live",
        file.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("status: expected 202, got 200"), "{out}");
    assert!(
        out.contains("upstream header `x-tag`: expected \"/y\", got Some(\"/x\")"),
        "{out}"
    );
    assert!(out.contains("closed: expected true, got false"), "{out}");
    assert!(out.contains("0 passed, 2 failed"), "{out}");
    let (code, _, err) = sluice(&[
        "policy",
        "test",
        "--live",
        "--fail-under",
        "50",
        file.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 2, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--target`: the user runs the edge, routed to the echo address given with `--echo-addr`.
#[test]
fn live_target_sends_to_a_running_edge() {
    let dir = scratch_dir();
    let file = test_file(&dir, CASES);
    let echo = free_port();
    let port = free_port();
    let policy = dir.join("policy.yml");
    std::fs::write(&policy, POLICY).expect("policy");
    let config = dir.join("edge.yml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nlisteners:\n  http: 127.0.0.1:{port}\nstate_dir: {d}/state\nevents:\n  output: {d}/events.jsonl\nendpoints:\n  - url: http://app.localhost:{port}\n    upstream:\n      url: http://127.0.0.1:{echo}\n    traffic_policy_file: {p}\n",
            d = dir.display(),
            p = policy.display()
        ),
    )
    .expect("config");
    let mut edge = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["edge", "--config", config.to_str().unwrap_or_default()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn edge");
    let mut ready = false;
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let target = format!("http://app.localhost:{port}");
    let echo_addr = format!("127.0.0.1:{echo}");
    let result = ready.then(|| {
        sluice(&[
            "policy",
            "test",
            "--target",
            &target,
            "--echo-addr",
            &echo_addr,
            file.to_str().unwrap_or_default(),
        ])
    });
    let _ = edge.kill();
    let _ = edge.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = result.expect("the edge did not start");
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("5 passed, 0 failed, 2 skipped"), "{out}");
    assert!(
        err.contains(&format!("route it to the echo upstream http://{echo_addr}")),
        "{err}"
    );
}
