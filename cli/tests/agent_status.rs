//! `/api/status` and `/status` of a real `sluice start`: each setting with where it came from
//! (a flag, the config file, the default), the edge's address, account and latency, and the
//! endpoint's traffic metrics counting real requests.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::agent::{
    AgentProc, TOKEN, TunnelEdge, host_port, poll, text_upstream, try_get, write_file,
};
use support::scratch_dir;

fn setting<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["settings"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no setting {name}: {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_settings_sources_edge_and_metrics() {
    let edge = TunnelEdge::start(false).await;
    let (upstream, _task) = text_upstream("status").await;
    let dir = scratch_dir();
    let config = format!(
        "version: 3\nagent:\n  authtoken: {TOKEN}\n  connect_url: localhost:{tunnel}\n  connect_cas: {ca}\n  connect_timeout: 5s\n  heartbeat_interval: 3s\nendpoints:\n  - name: site\n    url: http://status.localhost\n    upstream:\n      url: {upstream}\n",
        tunnel = edge.tunnel,
        ca = edge.ca_path().display(),
    );
    let path = write_file(&dir, "status.yml", &config);
    let path = path.display().to_string();
    let mut agent = AgentProc::spawn(&["start", "--all", "--config", &path]);
    let (url, _) = agent.forwarding(1).await.remove(0);
    let (host, port) = host_port(&url);
    const N: u64 = 4;
    for i in 0..N {
        let path = format!("/s/{i}");
        let r = poll("a 200", Duration::from_secs(10), || {
            try_get(port, &host, &path)
        })
        .await;
        assert_eq!(r.status, 200);
    }
    let web = agent.web;
    let status: Value = poll(
        "the status with a latency and every request",
        Duration::from_secs(20),
        move || async move {
            let r = try_get(web, "127.0.0.1", "/api/status").await?;
            let v: Value = serde_json::from_slice(&r.body).ok()?;
            let counted = v["endpoints"][0]["metrics"]["http"]["count"] == N;
            (counted && v["edge"]["latency_ns"].is_u64()).then_some(v)
        },
    )
    .await;
    assert_eq!(status["status"], "online");
    assert_eq!(
        status["edge"]["address"],
        format!("localhost:{}", edge.tunnel)
    );
    assert_eq!(status["edge"]["account"], "tests");
    assert_eq!(
        status["session"]["legs"][0]["region"],
        format!("localhost:{}", edge.tunnel)
    );
    let from_file = format!("config file {path}");
    let web_addr = setting(&status, "web_addr");
    assert_eq!(web_addr["value"], format!("127.0.0.1:{web}"));
    assert_eq!(web_addr["source"], "flag --web-addr");
    assert_eq!(setting(&status, "connect_timeout")["value"], "5s");
    assert_eq!(
        setting(&status, "connect_timeout")["source"],
        from_file.as_str()
    );
    assert_eq!(setting(&status, "heartbeat_interval")["value"], "3s");
    assert_eq!(setting(&status, "heartbeat_tolerance")["source"], "default");
    let token = setting(&status, "authtoken");
    assert_eq!(token["value"], "set (hidden)");
    assert_eq!(token["source"], from_file.as_str());
    assert!(
        !status.to_string().contains(TOKEN),
        "the authtoken leaked: {status}"
    );
    let ep = &status["endpoints"][0];
    assert_eq!(ep["name"], "site");
    assert_eq!(ep["url"], url.as_str());
    assert_eq!(
        ep["upstream"]["url"],
        format!("http://localhost:{upstream}")
    );
    // The same numbers as /api/tunnels.
    let tunnels = try_get(web, "127.0.0.1", "/api/tunnels")
        .await
        .expect("tunnels");
    let tunnels: Value = serde_json::from_slice(&tunnels.body).expect("json");
    assert_eq!(tunnels["tunnels"][0]["metrics"]["http"]["count"], N);
    let page = try_get(web, "127.0.0.1", "/status")
        .await
        .expect("status page");
    assert_eq!(page.status, 200);
    let page = String::from_utf8_lossy(&page.body);
    assert!(
        page.contains(&path) && page.contains("status.localhost"),
        "{page}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
