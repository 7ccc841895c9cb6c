//! Named IP policies end to end: a real `sluice edge` whose config defines `ip_policies:`,
//! an endpoint of the config and a real `sluice http` agent naming them in `restrict-ips`, an
//! agent naming a missing one refused at bind with its line and column, and an edge config
//! naming a missing one refused at start with its line and column.

mod support;

use std::process::Command;
use std::time::Duration;

use support::agent::{TunnelEdge, text_upstream, try_get, write_file};
use support::scratch_dir;

/// Two named policies (the tests' client is 127.0.0.1) and a config endpoint behind the one
/// that does not allow loopback.
const EXTRA: &str = r#"ip_policies:
  - name: loopback
    allow: [127.0.0.0/8]
  - name: ipp_2nobody
    allow: [192.0.2.0/24]
endpoints:
  - url: http://cfg.localhost
    traffic_policy:
      on_http_request:
        - actions:
            - type: restrict-ips
              config: {ip_policies: [ipp_2nobody]}
            - type: custom-response
              config: {status_code: 200, body: "config endpoint"}
"#;

fn restrict(name: &str) -> String {
    format!(
        "on_http_request:\n  - actions:\n      - type: restrict-ips\n        config:\n          ip_policies: [{name}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_ip_policies_are_honoured_and_missing_ones_refused() {
    let edge = TunnelEdge::start_with_config(false, EXTRA).await;
    let (upstream, _task) = text_upstream("app").await;
    let dir = scratch_dir();

    // The config's endpoint: its named policy allows nobody on loopback (ngrok's 3203).
    let r = try_get(edge.http, "cfg.localhost", "/")
        .await
        .expect("answer");
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3203"));

    // An agent's policy names the loopback policy: served.
    let ok = write_file(&dir, "ok.yml", &restrict("loopback"));
    let mut agent = edge.http_agent(
        &upstream.to_string(),
        &[
            "--url",
            "http://ok.localhost",
            "--traffic-policy-file",
            &ok.display().to_string(),
        ],
    );
    agent.url().await;
    let r = try_get(edge.http, "ok.localhost", "/")
        .await
        .expect("answer");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(&r.body[..], b"app");

    // An agent naming a policy the edge does not define: refused at bind, located.
    let missing = write_file(&dir, "missing.yml", &restrict("ipp_missing"));
    let mut refused = edge.http_agent(
        &upstream.to_string(),
        &[
            "--url",
            "http://no.localhost",
            "--traffic-policy-file",
            &missing.display().to_string(),
        ],
    );
    let code = refused.exited(Duration::from_secs(30)).await;
    let stderr = refused.stderr();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(":5:"), "{stderr}");
    assert!(
        stderr.contains("no IP policy named \"ipp_missing\" in the edge's config"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_edge_config_naming_a_missing_ip_policy_does_not_start() {
    let dir = scratch_dir();
    let path = dir.join("edge.yml");
    let text = "version: 1\nlisteners:\n  http: 127.0.0.1:1\nip_policies:\n  - name: office\n    allow: [10.0.0.0/8, not-a-cidr]\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n    traffic_policy:\n      on_http_request:\n        - actions:\n            - type: restrict-ips\n              config: {ip_policies: [office, elsewhere]}\n";
    std::fs::write(&path, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["edge", "--config"])
        .arg(&path)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("edge.yml:6:"), "{stderr}");
    assert!(
        stderr.contains("\"not-a-cidr\" is not an IP address"),
        "{stderr}"
    );
    assert!(stderr.contains("edge.yml:15:"), "{stderr}");
    assert!(
        stderr.contains("no IP policy named \"elsewhere\""),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
