//! The policy trace end to end: a real `sluice edge` runs an inspected endpoint's policy,
//! records what each rule and action did, and hands it to the real `sluice http` agent, whose
//! local API serves it with the captured request (`GET /api/requests/http/:id`, `trace`).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::agent::{TunnelEdge, host_port, poll, write_file};
use support::{get, https_get, scratch_dir, send, start_echo};

const POLICY: &str = r#"
on_http_request:
  - name: tag everything
    expressions: ["req.url.path.startsWith('/')"]
    actions:
      - type: add-headers
        config: {headers: {x-traced: "yes"}}
  - name: only posts
    expressions: ["req.method == 'POST'"]
    actions: [{type: deny, config: {status_code: 405}}]
  - name: block admin
    expressions: ["req.url.path.startsWith('/admin')"]
    actions: [{type: deny, config: {status_code: 403}}]
on_http_response:
  - name: stamp
    actions:
      - type: add-headers
        config: {headers: {x-stamped: "1"}}
"#;

/// The agent's captured requests, newest first, once there are `n`.
async fn captured(web: u16, n: usize) -> Vec<Value> {
    let own = format!("127.0.0.1:{web}");
    poll(
        "captured requests with their traces",
        Duration::from_secs(20),
        || {
            let own = own.clone();
            async move {
                let r = get(web, &own, "/api/requests/http").await;
                let list = r.json()["requests"].as_array().cloned()?;
                let traced = list.iter().filter(|e| e["trace"].is_object()).count();
                (list.len() >= n && traced >= n).then_some(list)
            }
        },
    )
    .await
}

fn rule<'a>(trace: &'a Value, phase: &str, name: &str) -> &'a Value {
    trace["phases"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["phase"] == phase))
        .and_then(|p| p["rules"].as_array())
        .and_then(|rs| rs.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no rule {name} in {phase}: {trace}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_shows_what_the_edge_policy_did() {
    let edge = TunnelEdge::start(false).await;
    let (echo, _gate) = start_echo().await;
    let dir = scratch_dir();
    let policy = write_file(&dir, "policy.yml", POLICY);
    let policy = policy.display().to_string();
    let mut agent = edge.http_agent(
        &echo.port().to_string(),
        &["--traffic-policy-file", &policy],
    );
    let url = agent.url().await;
    let (host, port) = host_port(&url);

    let ok = get(port, &host, "/hello").await;
    assert_eq!(ok.status, 200);
    let saw = ok.json();
    assert_eq!(saw["headers"]["x-traced"][0], "yes", "{saw}");
    assert!(
        saw["headers"].get("sluice-trace-id").is_none(),
        "the upstream never sees the trace id: {saw}"
    );
    // A public client cannot plant a trace id either.
    let planted = send(port, "GET", &host, "/", &[("sluice-trace-id", "1")], "").await;
    assert!(planted.json()["headers"].get("sluice-trace-id").is_none());

    let denied = get(port, &host, "/admin/panel").await;
    assert_eq!(denied.status, 403);

    let list = captured(agent.web, 3).await;
    let by_path = |p: &str| {
        list.iter()
            .find(|e| e["request"]["uri"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("no capture of {p}: {list:?}"))
    };

    // The forwarded request: the header its rule added, and the response phase.
    let hello = by_path("/hello");
    let own = format!("127.0.0.1:{}", agent.web);
    let id = hello["id"].as_str().expect("id").to_owned();
    let one = get(agent.web, &own, &format!("/api/requests/http/{id}")).await;
    assert_eq!(one.status, 200);
    let trace = one.json()["trace"].clone();
    let tag = rule(&trace, "on_http_request", "tag everything");
    assert_eq!(tag["matched"], Value::Bool(true));
    assert_eq!(
        tag["expressions"][0],
        serde_json::json!({"expr": "req.url.path.startsWith('/')", "result": true})
    );
    assert_eq!(tag["actions"][0]["type"], "add-headers");
    assert_eq!(tag["actions"][0]["effect"], "added x-traced");
    assert_eq!(tag["actions"][0]["terminated"], Value::Bool(false));
    let posts = rule(&trace, "on_http_request", "only posts");
    assert_eq!(posts["matched"], Value::Bool(false));
    assert_eq!(posts["expressions"][0]["result"], Value::Bool(false));
    assert_eq!(
        rule(&trace, "on_http_request", "block admin")["matched"],
        Value::Bool(false)
    );
    let stamp = rule(&trace, "on_http_response", "stamp");
    assert_eq!(
        stamp["actions"][0]["effect"],
        "added response header x-stamped"
    );
    let captured_headers = hello["request"]["headers"].as_object().expect("headers");
    assert!(
        !captured_headers.contains_key("Sluice-Trace-Id"),
        "the capture leaves the trace id out: {captured_headers:?}"
    );

    // The denied request never reached the agent, yet it is listed, with both rules.
    let admin = by_path("/admin/panel");
    assert_eq!(admin["response"]["status_code"], 403);
    let trace = &admin["trace"];
    let tag = rule(trace, "on_http_request", "tag everything");
    assert_eq!(tag["actions"][0]["effect"], "added x-traced");
    let block = rule(trace, "on_http_request", "block admin");
    assert_eq!(block["matched"], Value::Bool(true));
    assert_eq!(block["expressions"][0]["result"], Value::Bool(true));
    assert_eq!(block["actions"][0]["type"], "deny");
    assert_eq!(block["actions"][0]["effect"], "responded 403");
    assert_eq!(block["actions"][0]["terminated"], Value::Bool(true));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_trace_without_inspection() {
    let edge = TunnelEdge::start(false).await;
    let (echo, _gate) = start_echo().await;
    let dir = scratch_dir();
    let policy = write_file(&dir, "policy.yml", POLICY);
    let policy = policy.display().to_string();
    let mut agent = edge.http_agent(
        &echo.port().to_string(),
        &["--traffic-policy-file", &policy, "--inspect=false"],
    );
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let ok = get(port, &host, "/hello").await;
    assert_eq!(ok.status, 200);
    assert!(ok.json()["headers"].get("sluice-trace-id").is_none());
    let denied = get(port, &host, "/admin").await;
    assert_eq!(denied.status, 403);
    let own = format!("127.0.0.1:{}", agent.web);
    let r = get(agent.web, &own, "/api/requests/http").await;
    assert_eq!(
        r.json()["requests"].as_array().map(Vec::len),
        Some(0),
        "nothing is recorded: {:?}",
        r.json()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_policy_the_trace_is_empty_and_the_client_tls_still_comes() {
    let edge = TunnelEdge::start(false).await;
    let (echo, _gate) = start_echo().await;
    let upstream = echo.port().to_string();

    // Plain HTTP, no policy: nothing to report, the exchange gets an empty trace at once.
    let mut plain = edge.http_agent(&upstream, &[]);
    let (host, port) = host_port(&plain.url().await);
    let ok = get(port, &host, "/plain").await;
    assert_eq!(ok.status, 200);
    assert!(ok.json()["headers"].get("sluice-trace-id").is_none());
    let list = captured(plain.web, 1).await;
    assert_eq!(
        list[0]["trace"],
        serde_json::json!({"phases": []}),
        "{list:?}"
    );

    // HTTPS, no policy: the report still comes, for the TLS the client spoke.
    let mut tls = edge.http_agent(&upstream, &["--url", "https://bare.localhost"]);
    let (host, port) = host_port(&tls.url().await);
    let ok = https_get(port, &host, &edge.ca_path()).await;
    assert_eq!(ok.status, 200);
    assert!(ok.json()["headers"].get("sluice-trace-id").is_none());
    let own = format!("127.0.0.1:{}", tls.web);
    let detail = poll(
        "the client TLS of the request",
        Duration::from_secs(20),
        || {
            let own = own.clone();
            async move {
                let list = get(tls.web, &own, "/api/requests/http").await.json();
                let id = list["requests"][0]["id"].as_str()?.to_owned();
                let path = format!("/api/requests/http/{id}/detail");
                let detail = get(tls.web, &own, &path).await.json();
                detail["tls"]["version"].is_string().then_some(detail)
            }
        },
    )
    .await;
    assert_eq!(detail["tls"]["sni"], host.as_str(), "{detail}");
    assert_eq!(detail["tls"]["terminated_at"], "edge");
}
