//! End-to-end tests of `sluice edge` routing: Host to endpoint (exact beats wildcard, the most
//! specific wildcard wins), policies on the way, forwarding headers, the edge's own error
//! responses, streamed compression, request events, and invalid configs at start-up.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::{BIG, Edge, big_body, free_port, scratch_dir, send, start_echo};

/// Writes `text` to `path` and runs `sluice edge` on it, which is expected to refuse it.
fn check_config(path: &Path, text: &str) -> Output {
    std::fs::write(path, text).expect("write");
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["edge", "--config"])
        .arg(path)
        .output()
        .expect("run sluice")
}

fn config(echo: SocketAddr, down: u16) -> String {
    format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
events:
  output: {{DIR}}/events.jsonl
endpoints:
  - url: http://app.localhost:{{HTTP}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-endpoint: exact
            - type: log
              config:
                metadata:
                  marker: edge-e2e-log
  - url: http://*.localhost:{{HTTP}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-endpoint: wide
  - url: http://*.deep.localhost:{{HTTP}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-endpoint: deep
  - url: http://teapot.example:{{HTTP}}
    upstream:
      url: http://127.0.0.1:{down}
    traffic_policy:
      on_http_request:
        - actions:
            - type: custom-response
              config:
                status_code: 418
                body: short and stout
  - url: http://down.example:{{HTTP}}
    upstream:
      url: http://127.0.0.1:{down}
  - url: http://gz.example:{{HTTP}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_response:
        - actions:
            - type: compress-response
              config:
                algorithms: [gzip]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_routes_runs_policies_and_reports_errors() {
    let (echo, _) = start_echo().await;
    let down = free_port();
    let edge = Edge::start(&config(echo, down)).await;
    let port = edge.http;

    // Routing: exact beats wildcard; the most specific wildcard wins. add-headers reaches the
    // upstream, and the forwarding headers are added (X-Forwarded-For appended).
    let r = send(
        port,
        "GET",
        "app.localhost",
        "/a?b=c",
        &[("x-forwarded-for", "198.51.100.1")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["path"], "/a?b=c");
    assert_eq!(j["headers"]["x-endpoint"][0], "exact");
    assert_eq!(
        j["headers"]["x-forwarded-for"][0],
        "198.51.100.1, 127.0.0.1"
    );
    assert_eq!(j["headers"]["x-forwarded-proto"][0], "http");
    assert_eq!(j["headers"]["x-forwarded-host"][0], "app.localhost");
    // As ngrok: a proxy in front of the edge set -Proto and -Host: -Proto is appended to, the
    // client's -Host is kept.
    let r = send(
        port,
        "GET",
        "app.localhost",
        "/",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "shop.example.org"),
        ],
        "",
    )
    .await;
    let j = r.json();
    assert_eq!(j["headers"]["x-forwarded-proto"][0], "https, http");
    assert_eq!(j["headers"]["x-forwarded-host"][0], "shop.example.org");
    assert_eq!(
        j["headers"]["x-forwarded-host"].as_array().map(Vec::len),
        Some(1)
    );
    let r = send(
        port,
        "GET",
        &format!("other.localhost:{port}"),
        "/",
        &[],
        "",
    )
    .await;
    assert_eq!(r.json()["headers"]["x-endpoint"][0], "wide");
    let r = send(port, "GET", "x.deep.localhost", "/", &[], "").await;
    assert_eq!(r.json()["headers"]["x-endpoint"][0], "deep");
    let r = send(port, "GET", "deep.localhost", "/", &[], "").await;
    assert_eq!(r.json()["headers"]["x-endpoint"][0], "wide");
    assert_eq!(r.json()["headers"]["x-forwarded-for"][0], "127.0.0.1");

    // A request body goes through.
    let r = send(
        port,
        "POST",
        "app.localhost",
        "/post",
        &[],
        "hello upstream",
    )
    .await;
    assert_eq!(r.json()["method"], "POST");
    assert_eq!(r.json()["body"], "hello upstream");

    // custom-response answers at the edge; the (down) upstream is never called.
    let r = send(port, "GET", "teapot.example", "/", &[], "").await;
    assert_eq!(r.status, 418);
    assert_eq!(&r.body[..], b"short and stout");

    // Unknown host: 404 with the code header; HTML for browsers.
    let r = send(port, "GET", "nope.example", "/", &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
    assert!(String::from_utf8_lossy(&r.body).contains("ERR_SLUICE_3200"));
    // ngrok's header only when the config asks for it (`ngrok_error_code_header`).
    assert_eq!(r.header("ngrok-error-code"), None);
    let r = send(
        port,
        "GET",
        "nope.example",
        "/",
        &[("accept", "text/html")],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&r.body).contains("<html>"));

    // Upstream down: 502 with the code header.
    let r = send(port, "GET", "down.example", "/", &[], "").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3005"));

    // An upstream cannot set the edge's error header.
    let r = send(port, "GET", "app.localhost", "/error-header", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("sluice-error-code"), None);

    // compress-response streams a 5 MiB body as gzip that decodes to the original.
    let r = send(
        port,
        "GET",
        "gz.example",
        "/big",
        &[("accept-encoding", "gzip")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.header("content-length").is_none());
    assert!(r.body.len() < BIG / 10, "compressed size {}", r.body.len());
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut decoded)
        .expect("gunzip");
    assert_eq!(decoded.len(), BIG);
    assert!(decoded == big_body(), "decoded body differs");
    // Without Accept-Encoding it passes through unchanged.
    let r = send(port, "GET", "gz.example", "/big", &[], "").await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body.len(), BIG);

    // Events: one JSON line per request, with the log action's metadata.
    let mut found = false;
    for _ in 0..100 {
        let events = edge.events_text();
        if events.contains("edge-e2e-log") {
            found = true;
            for line in events.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("event is JSON");
                assert!(
                    v["event_type"] == "http_request_complete.v0"
                        || v["event_type"] == "tcp_connection_closed.v0",
                    "{v}"
                );
            }
            assert!(events.contains("ERR_SLUICE_3200"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        found,
        "no event with the log metadata: {}",
        edge.events_text()
    );
}

/// With `ngrok_error_code_header: true`, every error the edge answers (no endpoint, upstream
/// down, a policy's refusal, a malformed request head) also carries ngrok's header with the same
/// number, and an upstream's own `ngrok-error-code` never reaches the client.
#[tokio::test]
async fn ngrok_error_code_header_when_asked() {
    let (echo, _) = start_echo().await;
    let down = free_port();
    let edge = Edge::start(&format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
ngrok_error_code_header: true
endpoints:
  - url: http://app.localhost:{{HTTP}}
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - expressions: ["req.url.path == '/denied'"]
          actions:
            - type: restrict-ips
              config:
                deny: [127.0.0.0/8]
  - url: http://down.example:{{HTTP}}
    upstream:
      url: http://127.0.0.1:{down}
"#
    ))
    .await;
    let port = edge.http;
    let both = |r: &support::Reply, code: &str| {
        assert_eq!(
            r.header("sluice-error-code"),
            Some(format!("ERR_SLUICE_{code}").as_str())
        );
        assert_eq!(
            r.header("ngrok-error-code"),
            Some(format!("ERR_NGROK_{code}").as_str())
        );
    };
    let r = send(port, "GET", "nope.example", "/", &[], "").await;
    assert_eq!(r.status, 404);
    both(&r, "3200");
    let r = send(port, "GET", "down.example", "/", &[], "").await;
    assert_eq!(r.status, 502);
    both(&r, "3005");
    let r = send(port, "GET", "app.localhost", "/denied", &[], "").await;
    assert_eq!(r.status, 403);
    both(&r, "3205");
    // An upstream's own code headers are dropped, ngrok's as well as sluice's.
    let r = send(port, "GET", "app.localhost", "/error-header", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("sluice-error-code"), None);
    assert_eq!(r.header("ngrok-error-code"), None);
    // A head refused before parsing carries it too.
    let reply = support::raw(
        port,
        "GET / HTTP/1.1\r\nHost: app.localhost\r\nbad header\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("ngrok-error-code: ERR_NGROK_3907"), "{text}");
}

#[test]
fn invalid_config_exits_1_with_line_and_column() {
    let dir = scratch_dir();
    let path = dir.join("edge.yml");
    let out = check_config(
        &path,
        "version: 1\nlisteners:\n  http: 127.0.0.1:1\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n      colour: blue\n  - url: http://b.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("edge.yml:8:"), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");

    // A policy error inside the config is located too.
    let out = check_config(
        &path,
        "version: 1\nlisteners:\n  http: 127.0.0.1:1\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n    traffic_policy:\n      on_http_request:\n        - expressions: [\"req.nope == 1\"]\n          actions:\n            - type: deny\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("edge.yml:10:"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
