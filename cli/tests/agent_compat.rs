//! ngrok's agent flags against a real edge: both schemes give both URLs (`--scheme http,https`,
//! `--bind-tls both`, v2 `bind_tls: both`), `--subdomain` names the endpoint under the edge's
//! base domain, and the embedded edge also serves its only endpoint at `http://127.0.0.1:PORT`
//! (which a multi-tenant edge does not).

mod support;

use std::time::Duration;

use support::agent::{AgentProc, TOKEN, TunnelEdge, host_port, text_upstream, try_get, write_file};
use support::{https_get, scratch_dir};

/// The `(name, proto, public_url)` of each entry of the agent's `/api/tunnels`.
async fn api_tunnels(agent: &AgentProc) -> Vec<(String, String, String)> {
    let r = support::get(agent.web, "127.0.0.1", "/api/tunnels").await;
    let v = r.json();
    let mut out: Vec<(String, String, String)> = v["tunnels"]
        .as_array()
        .expect("tunnels list")
        .iter()
        .map(|t| {
            let field = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
            (field("name"), field("proto"), field("public_url"))
        })
        .collect();
    out.sort();
    out
}

/// Both URLs of a both-schemes agent: HTTPS first, then HTTP, on the same name.
async fn both_urls(agent: &mut AgentProc) -> (String, String) {
    let lines = agent.forwarding(2).await;
    let (https, http) = (lines[0].0.clone(), lines[1].0.clone());
    assert!(https.starts_with("https://"), "{lines:?}");
    assert!(http.starts_with("http://"), "{lines:?}");
    assert_eq!(host_port(&https).0, host_port(&http).0, "{lines:?}");
    (https, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_schemes_bind_one_name_under_http_and_https() {
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("one upstream").await;
    for flags in [&["--scheme", "http,https"][..], &["--bind-tls", "both"][..]] {
        let mut agent = edge.http_agent(&up.to_string(), flags);
        let (https, http) = both_urls(&mut agent).await;
        let (host, http_port) = host_port(&http);
        assert_eq!(http_port, edge.http);
        assert_eq!(host_port(&https).1, edge.https);
        let plain = try_get(edge.http, &host, "/").await.expect("http answer");
        assert_eq!((plain.status, &plain.body[..]), (200, &b"one upstream"[..]));
        let tls = https_get(edge.https, &host, &edge.ca_path()).await;
        assert_eq!((tls.status, &tls.body[..]), (200, &b"one upstream"[..]));
        assert_eq!(
            api_tunnels(&agent).await,
            vec![
                ("command_line".into(), "https".into(), https.clone()),
                ("command_line (http)".into(), "http".into(), http.clone()),
            ]
        );
        let endpoints = support::get(agent.web, "127.0.0.1", "/api/endpoints")
            .await
            .json();
        assert_eq!(endpoints["endpoints"].as_array().map(Vec::len), Some(2));
        agent.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_tunnel_with_bind_tls_both_serves_both_urls() {
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("from v2").await;
    let dir = scratch_dir();
    let config = write_file(
        &dir,
        "ngrok.yml",
        &format!(
            "version: \"2\"\nauthtoken: {TOKEN}\nserver_addr: localhost:{}\nroot_cas: {}\ntunnels:\n  web:\n    proto: http\n    addr: {up}\n    subdomain: legacy-both\n    bind_tls: both\n",
            edge.tunnel,
            edge.ca_path().display()
        ),
    );
    let mut agent = AgentProc::spawn(&[
        "start".as_ref(),
        "web".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    let (https, http) = both_urls(&mut agent).await;
    assert_eq!(host_port(&http).0, "legacy-both.localhost", "{http}");
    let plain = try_get(edge.http, "legacy-both.localhost", "/")
        .await
        .expect("http answer");
    assert_eq!(&plain.body[..], b"from v2");
    let tls = https_get(edge.https, "legacy-both.localhost", &edge.ca_path()).await;
    assert_eq!(&tls.body[..], b"from v2");
    assert_eq!(api_tunnels(&agent).await.len(), 2, "{https}");
    agent.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subdomain_names_the_endpoint_under_the_base_domain_and_is_owned() {
    let edge = TunnelEdge::start_with_config(
        false,
        "  - token: other\n    account: b\n    allow: [\"*\"]\n",
    )
    .await;
    let (up, _task) = text_upstream("by subdomain").await;
    let mut agent = edge.http_agent(&up.to_string(), &["--subdomain", "My-App"]);
    let url = agent.url().await;
    assert_eq!(url, format!("http://my-app.localhost:{}", edge.http));
    let r = try_get(edge.http, "my-app.localhost", "/")
        .await
        .expect("answer");
    assert_eq!((r.status, &r.body[..]), (200, &b"by subdomain"[..]));
    // Another account may not take the name.
    let mut thief = AgentProc::spawn(&[
        "http",
        &up.to_string(),
        "--connect-url",
        &format!("localhost:{}", edge.tunnel),
        "--connect-ca",
        &edge.ca_path().display().to_string(),
        "--authtoken",
        "other",
        "--subdomain",
        "my-app",
    ]);
    let code = thief.exited(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{}", thief.stderr());
    assert!(
        thief.stderr().contains("ERR_SLUICE_334"),
        "{}",
        thief.stderr()
    );
    // The owner still has it; TCP endpoints have no subdomain.
    let r = try_get(edge.http, "my-app.localhost", "/")
        .await
        .expect("answer");
    assert_eq!(r.status, 200);
    let mut tcp = AgentProc::spawn(&["tcp", "22", "--subdomain", "x"]);
    let code = tcp.exited(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{}", tcp.stderr());
    assert!(tcp.stderr().contains("--subdomain"), "{}", tcp.stderr());
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_edge_serves_its_only_endpoint_at_its_ip() {
    let (up, _task) = text_upstream("at the ip").await;
    let mut agent = AgentProc::spawn(&["http", &up.to_string(), "--edge-http", "127.0.0.1:0"]);
    let url = agent.url().await;
    let (_, port) = host_port(&url);
    let (i, line) = agent
        .wait_line(0, Duration::from_secs(10), |l| l.starts_with("Also at"))
        .await;
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}")),
        "{i}: {line}"
    );
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".into(),
        "localhost".into(),
    ] {
        let r = try_get(port, &host, "/").await.expect("answer");
        assert_eq!((r.status, &r.body[..]), (200, &b"at the ip"[..]), "{host}");
    }
    // Another name is still not found.
    let r = try_get(port, "other.localhost", "/").await.expect("answer");
    assert_eq!(r.status, 404);
    agent.kill();

    // A multi-tenant edge never guesses whose endpoint an IP host meant.
    let edge = TunnelEdge::start(false).await;
    let mut agent = edge.http_agent(&up.to_string(), &[]);
    let _ = agent.url().await;
    let r = try_get(edge.http, &format!("127.0.0.1:{}", edge.http), "/")
        .await
        .expect("answer");
    assert_eq!(r.status, 404);
    assert!(!agent.lines().iter().any(|l| l.starts_with("Also at")));
    agent.kill();
}
