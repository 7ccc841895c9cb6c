//! The local API's live parts against an in-process edge: real traffic metrics in ngrok's
//! `/api/tunnels` and `/api/endpoints` shapes, `/api/status` and `/status` (latency, account,
//! endpoints), and endpoints started and stopped with `POST`/`DELETE /api/tunnels` on the
//! running session.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_agent::config::ResolvedEndpoint;
use sluice_agent::runner::{RunEvent, Runner};
use sluice_agent::{EndpointKind, HostHeader, InspectLimits, Upstream};
use sluice_tunnel::SessionBuilder;
use support::{free_port, get, start_upstream, temp_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Starts an edge in this process with a TCP port range; returns its HTTP port, tunnel
/// address and CA.
async fn start_edge(dir: &std::path::Path) -> (u16, String, Vec<u8>) {
    let (http, tunnel, tcp) = (free_port(), free_port(), free_port());
    let text = format!(
        "version: 1\nlisteners:\n  http: 127.0.0.1:{http}\n  tunnel: 127.0.0.1:{tunnel}\nstate_dir: {state}\nevents:\n  output: {events}\nbase_domains: [localhost]\nauthtokens:\n  - token: tok\n    account: sdk\n    allow: [\"*\"]\ntcp:\n  bind: 127.0.0.1\n  host: localhost\n  ports: \"{tcp}-{tcp}\"\n",
        state = dir.join("state").display(),
        events = dir.join("events.jsonl").display(),
    );
    let registry = sluice_modules::builtin_registry();
    let config =
        sluice_proxy::config::load_str(&std::sync::Arc::from("edge.yml"), &text, dir, &registry)
            .expect("edge config loads");
    tokio::spawn(sluice_proxy::serve(
        config,
        dir.join("absent.yml"),
        registry,
    ));
    let ca = dir.join("state").join("ca.pem");
    eventually("the edge to listen", async || {
        let up = TcpStream::connect(("127.0.0.1", tunnel)).await.is_ok()
            && TcpStream::connect(("127.0.0.1", http)).await.is_ok();
        (up && ca.exists()).then_some(())
    })
    .await;
    let pem = std::fs::read(&ca).expect("read ca");
    (http, format!("127.0.0.1:{tunnel}"), pem)
}

fn endpoint(name: &str, url: &str, upstream: u16) -> ResolvedEndpoint {
    ResolvedEndpoint {
        name: name.into(),
        kind: EndpointKind::Http,
        url: Some(url.into()),
        description: None,
        metadata: None,
        pooling_enabled: false,
        bindings: Vec::new(),
        traffic_policy: Some(
            "on_http_response:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-seen: yes\n".into(),
        ),
        upstream: Upstream::parse(&format!("http://127.0.0.1:{upstream}"), EndpointKind::Http)
            .expect("upstream"),
        inspect: true,
        host_header: HostHeader::Preserve,
        agent_tls: None,
        also_http: false,
        subdomain: None,
    }
}

/// One request to the API: (status, body).
async fn api(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect api");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn api_json(port: u16, path: &str) -> Value {
    let (status, body) = api(port, "GET", path, &[], "").await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Polls `f` every 50 ms for up to 20 s.
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_and_endpoints_started_through_the_api() {
    let dir = temp_dir("status-api");
    let (http, tunnel, ca) = start_edge(&dir).await;
    let upstream = start_upstream("counted").await;
    let web = free_port();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop) = oneshot::channel::<()>();
    let runner = Runner::new(
        SessionBuilder::new("tok")
            .connect_addr(&tunnel)
            .server_name("localhost")
            .ca_pem(ca),
        vec![endpoint("web", "http://status-web.localhost", upstream)],
    )
    .web_addr(Some(([127, 0, 0, 1], web).into()))
    .inspect(Some(InspectLimits::default()))
    .on_event(move |e| {
        let _ = events_tx.send(e);
    });
    let run = tokio::spawn(runner.run(async {
        let _ = stop.await;
    }));
    let url = loop {
        match tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
            Ok(Some(RunEvent::Online { forwarding, .. })) => break forwarding[0].url.clone(),
            Ok(Some(_)) => continue,
            other => panic!("no Online event: {other:?}"),
        }
    };

    // N requests: each counted. The edge keeps idle tunnel streams for reuse, so they took
    // between one connection and N.
    const N: u64 = 7;
    for _ in 0..N {
        let answer = get(http, &url).await;
        assert!(answer.ends_with("counted"), "{answer}");
    }
    let tunnel = eventually("the metrics to count every request", async || {
        let v = api_json(web, "/api/tunnels").await;
        let t = v["tunnels"][0].clone();
        (t["metrics"]["http"]["count"] == N).then_some(t)
    })
    .await;
    let conns = tunnel["metrics"]["conns"]["count"].as_u64().unwrap_or(0);
    assert!((1..=N).contains(&conns), "{tunnel}");
    for kind in ["conns", "http"] {
        let m = &tunnel["metrics"][kind];
        let p: Vec<f64> = ["p50", "p90", "p95", "p99"]
            .iter()
            .map(|q| m[q].as_f64().unwrap_or(-1.0))
            .collect();
        assert!(
            p[0] >= 0.0 && p[0] <= p[1] && p[1] <= p[2] && p[2] <= p[3],
            "{kind}: {m}"
        );
        // Rates are per second, reported once a 5 s tick has passed: never negative.
        assert!(m["rate1"].as_f64().is_some_and(|r| r >= 0.0), "{m}");
    }
    assert!(
        tunnel["metrics"]["http"]["p50"]
            .as_f64()
            .is_some_and(|p| p > 0.0),
        "{tunnel}"
    );
    // ngrok's tunnel object, field by field.
    assert_eq!(
        keys(&tunnel),
        ["name", "uri", "public_url", "proto", "config", "metrics"]
    );
    assert_eq!(tunnel["uri"], "/api/tunnels/web");
    assert_eq!(tunnel["public_url"], url.as_str());
    assert_eq!(tunnel["proto"], "http");
    assert_eq!(keys(&tunnel["config"]), ["addr", "inspect"]);
    assert_eq!(
        tunnel["config"]["addr"],
        format!("http://127.0.0.1:{upstream}")
    );
    assert_eq!(
        keys(&tunnel["metrics"]["conns"]),
        [
            "count", "gauge", "rate1", "rate5", "rate15", "p50", "p90", "p95", "p99"
        ]
    );
    assert_eq!(
        keys(&tunnel["metrics"]["http"]),
        [
            "count", "rate1", "rate5", "rate15", "p50", "p90", "p95", "p99"
        ]
    );
    // ngrok's endpoint object, with the same numbers.
    let e = api_json(web, "/api/endpoints").await["endpoints"][0].clone();
    assert_eq!(
        keys(&e),
        [
            "name",
            "uri",
            "url",
            "upstream",
            "inspect",
            "traffic_policy",
            "pooling_enabled",
            "bindings",
            "metrics"
        ]
    );
    assert_eq!(keys(&e["upstream"]), ["url", "protocol"]);
    assert!(
        e["traffic_policy"]
            .as_str()
            .is_some_and(|p| p.contains("add-headers"))
    );
    assert_eq!(e["metrics"]["http"]["count"], N);

    // /api/status: ngrok's fields, the edge's latency and account, the endpoint's config.
    let status = eventually("a latency", async || {
        let s = api_json(web, "/api/status").await;
        s["session"]["legs"][0]["latency"].is_string().then_some(s)
    })
    .await;
    assert_eq!(status["status"], "online");
    assert_eq!(status["uri"], "/api/status");
    assert_eq!(status["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(keys(&status["session"]["legs"][0]), ["region", "latency"]);
    assert_eq!(status["edge"]["account"], "sdk");
    assert!(
        status["edge"]["latency_ns"].as_u64().is_some_and(|n| n > 0),
        "{status}"
    );
    let ep = &status["endpoints"][0];
    assert_eq!(ep["name"], "web");
    assert_eq!(ep["binding"], "public");
    assert_eq!(ep["policy"]["phases"][0]["phase"], "on_http_response");
    assert_eq!(ep["policy"]["phases"][0]["actions"][0], "add-headers");
    assert_eq!(ep["metrics"]["http"]["count"], N);
    let (code, page) = api(web, "GET", "/status", &[], "").await;
    assert_eq!(code, 200);
    assert!(
        page.contains("status-web.localhost") && page.contains("add-headers"),
        "{page}"
    );

    // POST /api/tunnels starts an endpoint on the live session.
    let body = format!(
        r#"{{"name":"added","proto":"http","addr":"{upstream}","domain":"added.localhost","schemes":["http"],"inspect":false}}"#
    );
    let (code, created) = api(web, "POST", "/api/tunnels", &[JSON], &body).await;
    assert_eq!(code, 201, "{created}");
    let created: Value = serde_json::from_str(&created).expect("tunnel json");
    let added_url = created["public_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        added_url.starts_with("http://added.localhost:"),
        "{created}"
    );
    assert_eq!(created["name"], "added");
    assert_eq!(created["config"]["inspect"], false);
    let answer = get(http, &added_url).await;
    assert!(answer.ends_with("counted"), "{answer}");
    // A second tunnel of that name is refused; so are the guarded writes.
    let (code, dup) = api(web, "POST", "/api/tunnels", &[JSON], &body).await;
    assert_eq!(code, 400, "{dup}");
    assert!(dup.contains("already running"), "{dup}");
    let (code, _) = api(web, "POST", "/api/tunnels", &[], &body).await;
    assert_eq!(code, 415);
    let (code, _) = api(
        web,
        "POST",
        "/api/tunnels",
        &[JSON, ("origin", "http://evil.example")],
        &body,
    )
    .await;
    assert_eq!(code, 403);
    let (code, bad) = api(web, "POST", "/api/tunnels", &[JSON], r#"{"addr":"1"}"#).await;
    assert_eq!(code, 400, "{bad}");
    let one = api_json(web, "/api/tunnels/added").await;
    assert_eq!(one["public_url"], added_url.as_str());
    let names: Vec<Value> = api_json(web, "/api/endpoints").await["endpoints"]
        .as_array()
        .map(|a| a.iter().map(|e| e["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["web", "added"]);
    let added_metrics = eventually("the added endpoint's request", async || {
        let m = api_json(web, "/api/tunnels/added").await["metrics"].clone();
        (m["http"]["count"] == 1).then_some(m)
    })
    .await;
    assert_eq!(added_metrics["conns"]["count"], 1);

    // A TCP endpoint started through the API: one tunnel stream per connection, so the open
    // gauge follows the clients and returns to 0.
    let (code, created) = api(
        web,
        "POST",
        "/api/tunnels",
        &[JSON],
        &format!(r#"{{"name":"raw","proto":"tcp","addr":"127.0.0.1:{upstream}"}}"#),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let created: Value = serde_json::from_str(&created).expect("tunnel json");
    assert_eq!(created["proto"], "tcp");
    let port: u16 = created["public_url"]
        .as_str()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{created}"));
    const K: u64 = 3;
    let mut clients = Vec::new();
    for _ in 0..K {
        clients.push(
            TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("tcp connect"),
        );
    }
    eventually("every TCP connection to be open", async || {
        let m = api_json(web, "/api/tunnels/raw").await["metrics"]["conns"].clone();
        (m["gauge"] == K && m["count"] == K).then_some(())
    })
    .await;
    for mut c in clients {
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await;
        assert!(
            out.ends_with(b"counted"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    let m = eventually("the TCP connections to close", async || {
        let m = api_json(web, "/api/tunnels/raw").await["metrics"].clone();
        (m["conns"]["gauge"] == 0).then_some(m)
    })
    .await;
    assert_eq!(
        (m["conns"]["count"].as_u64(), m["http"]["count"].as_u64()),
        (Some(K), Some(0))
    );
    let c = &m["conns"];
    assert!(c["p50"].as_f64().is_some_and(|p| p > 0.0), "{m}");
    assert!(c["p50"].as_f64() <= c["p99"].as_f64(), "{m}");
    let (code, _) = api(web, "DELETE", "/api/tunnels/raw", &[], "").await;
    assert_eq!(code, 204);

    // DELETE /api/tunnels/:name stops it.
    let (code, _) = api(web, "DELETE", "/api/tunnels/added", &[], "").await;
    assert_eq!(code, 204);
    let (code, _) = api(web, "GET", "/api/tunnels/added", &[], "").await;
    assert_eq!(code, 404);
    let (code, _) = api(web, "DELETE", "/api/tunnels/added", &[], "").await;
    assert_eq!(code, 404);
    eventually(
        "the edge to stop serving the deleted endpoint",
        async || {
            let after = get(http, "http://added.localhost").await;
            (!after.ends_with("counted")).then_some(())
        },
    )
    .await;
    // The first endpoint is untouched.
    assert!(get(http, &url).await.ends_with("counted"));

    let _ = stop_tx.send(());
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run stops")
        .expect("join");
    assert!(result.is_ok(), "{result:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
