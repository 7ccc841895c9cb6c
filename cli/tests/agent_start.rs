//! `sluice start` with v3 and legacy v2 config files against a real edge, and
//! `sluice config check|add-authtoken`.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use support::agent::{
    AgentProc, TOKEN, TunnelEdge, host_port, poll, text_upstream, try_get, write_file,
};
use support::scratch_dir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_serves_every_endpoint_of_a_v3_file() {
    let edge = TunnelEdge::start(false).await;
    let (a, _ta) = text_upstream("endpoint one").await;
    let (b, _tb) = text_upstream("endpoint two").await;
    let dir = scratch_dir();
    let config = format!(
        "version: 3\nagent:\n  authtoken: {TOKEN}\n  connect_url: localhost:{tunnel}\n  connect_cas: {ca}\nendpoints:\n  - name: one\n    url: http://one.localhost\n    upstream:\n      url: {a}\n    traffic_policy:\n      on_http_response:\n        - actions:\n            - type: add-headers\n              config:\n                headers:\n                  x-endpoint: one\n  - name: two\n    upstream:\n      url: http://127.0.0.1:{b}\n",
        tunnel = edge.tunnel,
        ca = edge.ca_path().display(),
    );
    let path = write_file(&dir, "sluice.yml", &config);
    let path = path.display().to_string();
    let mut agent = AgentProc::spawn(&["start", "--all", "--config", &path]);
    let fwd = agent.forwarding(2).await;
    assert_eq!(fwd[0].0, format!("http://one.localhost:{}", edge.http));
    assert_eq!(fwd[0].1, format!("http://localhost:{a}"));
    assert_eq!(fwd[1].1, format!("http://127.0.0.1:{b}"));
    for ((url, _), body) in fwd.iter().zip(["endpoint one", "endpoint two"]) {
        let (host, port) = host_port(url);
        let r = poll("a 200", Duration::from_secs(10), || {
            try_get(port, &host, "/")
        })
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(String::from_utf8_lossy(&r.body), body);
        if body == "endpoint one" {
            assert_eq!(r.header("x-endpoint"), Some("one"));
        }
    }
    // Both endpoints' requests are in the inspector, and both endpoints on /status.
    let web = agent.web;
    let requests: Value = poll(
        "both requests in the inspector",
        Duration::from_secs(10),
        move || async move {
            let r = try_get(web, "127.0.0.1", "/api/requests/http").await?;
            let v: Value = serde_json::from_slice(&r.body).ok()?;
            (v["requests"].as_array()?.len() >= 2).then_some(v)
        },
    )
    .await;
    let mut names: Vec<&str> = requests["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["tunnel_name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["one", "two"], "{requests}");
    let tunnels = try_get(web, "127.0.0.1", "/api/tunnels")
        .await
        .expect("tunnels");
    let tunnels: Value = serde_json::from_slice(&tunnels.body).expect("json");
    let mut listed: Vec<&str> = tunnels["tunnels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, ["one", "two"], "{tunnels}");
    let page = try_get(web, "127.0.0.1", "/status")
        .await
        .expect("status page");
    assert_eq!(page.status, 200);
    let page = String::from_utf8_lossy(&page.body);
    for (url, upstream) in &fwd {
        assert!(page.contains(url.as_str()), "{url} on /status: {page}");
        assert!(page.contains(upstream.as_str()), "{upstream} on /status");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_by_name_with_a_legacy_v2_file() {
    let edge = TunnelEdge::start(false).await;
    let (a, _ta) = text_upstream("legacy tunnel").await;
    let dir = scratch_dir();
    let config = format!(
        "version: \"2\"\nauthtoken: {TOKEN}\nserver_addr: localhost:{tunnel}\nroot_cas: {ca}\ntunnels:\n  web:\n    proto: http\n    addr: {a}\n    domain: legacy.localhost\n    schemes: [http]\n    response_header:\n      add: [\"x-legacy: v2\"]\n  other:\n    proto: http\n    addr: 1\n",
        tunnel = edge.tunnel,
        ca = edge.ca_path().display(),
    );
    let path = write_file(&dir, "v2.yml", &config);
    let path = path.display().to_string();
    let mut agent = AgentProc::spawn(&["start", "web", "--config", &path]);
    let (url, _) = agent.forwarding(1).await.remove(0);
    assert_eq!(url, format!("http://legacy.localhost:{}", edge.http));
    let (host, port) = host_port(&url);
    let r = poll("a 200", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-legacy"), Some("v2"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_keys_take_effect_or_say_why_not() {
    let edge = TunnelEdge::start(false).await;
    let (a, _ta) = text_upstream("keys").await;
    let dir = scratch_dir();
    let config = format!(
        "version: 3\nagent:\n  authtoken: {TOKEN}\n  connect_url: localhost:{tunnel}\n  connect_cas: {ca}\n  connect_timeout: 5s\n  update_check: true\n  web_allow_hosts: [inspect.example]\nendpoints:\n  - name: one\n    upstream:\n      url: {a}\n",
        tunnel = edge.tunnel,
        ca = edge.ca_path().display(),
    );
    let path = write_file(&dir, "keys.yml", &config);
    let path = path.display().to_string();
    let mut agent = AgentProc::spawn(&["start", "--all", "--config", &path]);
    agent.forwarding(1).await;
    let web = agent.web;
    let stderr = agent.stderr();
    assert!(
        stderr.contains(&format!(
            "warning: {path}:7:17: agent.update_check: has no effect"
        )),
        "{stderr}"
    );
    // web_allow_hosts lets the web interface answer a name that is not loopback's.
    let allowed = poll("the API", Duration::from_secs(10), || {
        try_get(web, "inspect.example", "/api/status")
    })
    .await;
    assert_eq!(allowed.status, 200);
    let other = poll("the API", Duration::from_secs(10), || {
        try_get(web, "other.example", "/api/status")
    })
    .await;
    assert_eq!(other.status, 403);

    let proxied = write_file(
        &dir,
        "proxied.yml",
        "version: 3\nagent:\n  authtoken: x\n  proxy_url: https://127.0.0.1:3128\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["http", "8080", "--config"])
        .arg(&proxied)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4:14: agent.proxy_url:", proxied.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_on_the_embedded_edge_uses_a_kept_ca_and_says_how_to_trust_it() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let (a, _ta) = text_upstream("over https").await;
    let mut agent = AgentProc::spawn(&[
        "http",
        &a.to_string(),
        "--url",
        "https://",
        "--edge-http",
        "127.0.0.1:0",
        "--edge-https",
        "127.0.0.1:0",
    ]);
    let (url, _) = agent.forwarding(1).await.remove(0);
    assert!(url.starts_with("https://"), "{url}");
    let ca_path = agent
        .home
        .join("sluice")
        .join("embedded-edge")
        .join("ca.pem");
    let stderr = poll("the note", Duration::from_secs(10), || {
        let s = agent.stderr();
        async move { s.contains("note:").then_some(s) }
    })
    .await;
    assert!(
        stderr.contains(&format!("curl --cacert {} {url}", ca_path.display())),
        "{stderr}"
    );
    let ca = CertificateDer::from_pem_slice(
        &std::fs::read(&ca_path).expect("CA kept in the config home"),
    )
    .expect("CA cert");
    let (host, port) = host_port(&url);
    let tls = support::tls_connect(port, &host, &[ca], b"http/1.1")
        .await
        .expect("TLS with the kept CA");
    let mut sender = support::h1_over(tls).await;
    let r = support::h1_request(&mut sender, "GET", &host, "/", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body), "over https");
    agent.kill();
    assert!(ca_path.exists(), "the CA is kept for the next run");
}

#[test]
fn ngroks_default_config_is_read_when_sluices_is_absent() {
    let dir = scratch_dir();
    // A refused value (a TLS proxy, which the agent cannot dial) makes the run stop at load
    // and name the file it read.
    let text = "version: 2\nauthtoken: x\nhttp_proxy: https://127.0.0.1:3128\n";
    let v2 = write_file(&dir.join("home").join(".ngrok2"), "ngrok.yml", text);
    let v3 = write_file(&dir.join("xdg").join("ngrok"), "ngrok.yml", text);
    let run = |xdg: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(["start", "--none", "--web-addr", "false"])
            .env("HOME", dir.join("home"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("SLUICE_CONNECT_URL")
            .env_remove("SLUICE_AUTHTOKEN");
        if xdg {
            cmd.env("XDG_CONFIG_HOME", dir.join("xdg"));
        }
        let out = cmd.output().expect("run sluice");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(false);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3:13: http_proxy:", v2.display())),
        "{stderr}"
    );
    // ngrok v3's location comes first.
    let (code, stderr) = run(true);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3:13: http_proxy:", v3.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_check_reports_line_and_column() {
    let dir = scratch_dir();
    let good = write_file(
        &dir,
        "good.yml",
        "version: 3\nagent:\n  authtoken: x\nendpoints:\n  - name: a\n    upstream:\n      url: 8080\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["config", "check", "--config"])
        .arg(&good)
        .output()
        .expect("run sluice");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = write_file(
        &dir,
        "bad.yml",
        "version: 3\nagent:\n  authtoken: x\nendpoints:\n  - name: a\n    upstream:\n      url: 8080\n    traffic_policy:\n      on_http_request:\n        - actions:\n            - type: no-such-action\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["config", "check", "--config"])
        .arg(&bad)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:11:", bad.display())),
        "{stderr}"
    );

    let broken = write_file(&dir, "broken.yml", "version: 3\nagent:\n  authtokn: x\n");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["config", "check", "--config"])
        .arg(&broken)
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3:3", broken.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_add_authtoken_writes_the_token() {
    let dir = scratch_dir();
    let path = dir.join("nested").join("sluice.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["config", "add-authtoken", "tok-123", "--config"])
        .arg(&path)
        .output()
        .expect("run sluice");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("config written");
    assert!(text.contains("authtoken: \"tok-123\""), "{text}");

    // The default path is under $XDG_CONFIG_HOME.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["config", "add-authtoken", "tok-456"])
        .env("XDG_CONFIG_HOME", &dir)
        .output()
        .expect("run sluice");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text =
        std::fs::read_to_string(dir.join("sluice").join("sluice.yml")).expect("default written");
    assert!(text.contains("tok-456"), "{text}");

    // ngrok's spelling: `sluice authtoken TOKEN`.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["authtoken", "tok-789", "--config"])
        .arg(&path)
        .output()
        .expect("run sluice");
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&path).expect("config written");
    assert!(
        text.contains("authtoken: \"tok-789\"") && !text.contains("tok-123"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
