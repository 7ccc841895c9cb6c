//! The agent reaching its edge through real forward proxies started on loopback: Debian's
//! `tinyproxy` (HTTP CONNECT with basic credentials, from the config's `proxy_url`) and
//! `microsocks` (SOCKS5 with user/password, from `ALL_PROXY`). Each proxy's own log shows the
//! tunnel went through it; wrong credentials end the agent with a clear error, and a proxy that
//! is down is named in the reconnecting status; a proxy that refuses the destination, or needs
//! credentials the URL lacks, ends the agent saying so. The SDK (`sluice_agent::Agent` with
//! `SessionBuilder::proxy`) goes through the proxy the same way. Skipped, saying so, when a
//! proxy binary is missing (`apt-get install tinyproxy microsocks`).

mod support;

use std::time::Duration;

use support::agent::{
    AgentProc, TOKEN, TunnelEdge, host_port, poll, text_upstream, try_get, write_file,
};
use support::proxies::ProxyProc;
use support::{free_port, scratch_dir};

/// `sluice http PORT` to `edge` by address (a proxy resolving `localhost` may pick `::1`).
fn agent_args(edge: &TunnelEdge, upstream: u16, extra: &[String]) -> Vec<String> {
    let mut args = vec!["http".to_owned(), upstream.to_string()];
    let mut flags = edge.agent_flags();
    flags[1] = format!("127.0.0.1:{}", edge.tunnel);
    args.extend(flags);
    args.extend(extra.iter().cloned());
    args
}

/// `--config FILE` with `agent.proxy_url: url`.
fn proxy_config(url: &str) -> (std::path::PathBuf, Vec<String>) {
    let dir = scratch_dir();
    let path = write_file(
        &dir,
        "sluice.yml",
        &format!("version: 3\nagent:\n  proxy_url: {url}\n"),
    );
    (dir, vec!["--config".into(), path.display().to_string()])
}

async fn served_through(agent: &mut AgentProc, body: &[u8]) {
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let reply = poll("a 200 through the tunnel", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(&reply.body[..], body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connect_proxy_with_basic_credentials() {
    let Some(proxy) = ProxyProc::tinyproxy("alice", "s3cret").await else {
        eprintln!("SKIPPED: tinyproxy is not installed (apt-get install tinyproxy)");
        return;
    };
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("via tinyproxy").await;
    let (dir, flags) = proxy_config(&format!("http://alice:s3cret@127.0.0.1:{}", proxy.port));
    let mut agent = AgentProc::spawn(&agent_args(&edge, up, &flags));
    served_through(&mut agent, b"via tinyproxy").await;
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{} HTTP/1.1", edge.tunnel)),
        "tinyproxy saw no CONNECT to the tunnel port:\n{log}"
    );
    drop(agent);

    // Wrong credentials: the proxy refuses, and retrying cannot help.
    let (dir2, flags) = proxy_config(&format!("http://alice:wrong@127.0.0.1:{}", proxy.port));
    let mut agent = AgentProc::spawn(&agent_args(&edge, up, &flags));
    let code = agent.exited(Duration::from_secs(20)).await;
    let err = agent.stderr();
    assert_eq!(code, Some(1), "{err}\n{:?}", agent.lines());
    assert!(
        err.contains(&format!("proxy http://127.0.0.1:{}", proxy.port))
            && err.contains("needs credentials it did not accept"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "the password leaked: {err}");
    for d in [dir, dir2] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5_proxy_from_the_environment() {
    let Some(proxy) = ProxyProc::microsocks("bob", "pw").await else {
        eprintln!("SKIPPED: microsocks is not installed (apt-get install microsocks)");
        return;
    };
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("via microsocks").await;
    let url = format!("socks5h://bob:pw@127.0.0.1:{}", proxy.port);
    let mut agent = AgentProc::spawn_with_env(&agent_args(&edge, up, &[]), &[("ALL_PROXY", &url)]);
    served_through(&mut agent, b"via microsocks").await;
    let log = proxy.log();
    assert!(
        log.contains(&format!("connected to 127.0.0.1:{}", edge.tunnel)),
        "microsocks saw no connection to the tunnel port:\n{log}"
    );
    drop(agent);

    // NO_PROXY exempts the edge: the agent connects directly.
    let before = proxy.log().matches("connected to").count();
    let mut agent = AgentProc::spawn_with_env(
        &agent_args(&edge, up, &[]),
        &[("ALL_PROXY", &url), ("NO_PROXY", "localhost,127.0.0.0/8")],
    );
    served_through(&mut agent, b"via microsocks").await;
    assert_eq!(proxy.log().matches("connected to").count(), before);
    drop(agent);

    let bad = format!("socks5h://bob:nope@127.0.0.1:{}", proxy.port);
    let mut agent = AgentProc::spawn_with_env(&agent_args(&edge, up, &[]), &[("ALL_PROXY", &bad)]);
    let code = agent.exited(Duration::from_secs(20)).await;
    let err = agent.stderr();
    assert_eq!(code, Some(1), "{err}\n{:?}", agent.lines());
    assert!(err.contains("refused the user name and password"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_proxy_is_named_while_the_agent_retries() {
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("never").await;
    let dead = free_port();
    let (dir, flags) = proxy_config(&format!("http://127.0.0.1:{dead}"));
    let mut agent = AgentProc::spawn(&agent_args(&edge, up, &flags));
    let (_, line) = agent
        .wait_line(0, Duration::from_secs(20), |l| l.contains("reconnecting"))
        .await;
    assert!(
        line.contains(&format!(
            "proxy http://127.0.0.1:{dead}: cannot reach the proxy"
        )),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The agent's stderr once it exited (it must, within 20 s, with status 1).
async fn fails(agent: &mut AgentProc) -> String {
    let code = agent.exited(Duration::from_secs(20)).await;
    let err = agent.stderr();
    assert_eq!(code, Some(1), "{err}\n{:?}", agent.lines());
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_proxy_and_missing_credentials_are_clear_errors() {
    let (Some(refusing), Some(needs_auth), Some(socks)) = (
        ProxyProc::tinyproxy_with("ConnectPort 9\n").await,
        ProxyProc::tinyproxy("alice", "s3cret").await,
        ProxyProc::microsocks("bob", "pw").await,
    ) else {
        eprintln!("SKIPPED: tinyproxy or microsocks is not installed");
        return;
    };
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("never").await;

    // The proxy refuses CONNECT to the edge's port (tinyproxy's ConnectPort): 403, no retry.
    let (d1, flags) = proxy_config(&format!("http://127.0.0.1:{}", refusing.port));
    let err = fails(&mut AgentProc::spawn(&agent_args(&edge, up, &flags))).await;
    assert!(
        err.contains(&format!("refused to CONNECT to 127.0.0.1:{}", edge.tunnel))
            && err.contains("403"),
        "{err}"
    );

    // A proxy needing credentials, none in the URL.
    let (d2, flags) = proxy_config(&format!("http://127.0.0.1:{}", needs_auth.port));
    let err = fails(&mut AgentProc::spawn(&agent_args(&edge, up, &flags))).await;
    assert!(
        err.contains("needs credentials") && err.contains("user:pass@"),
        "{err}"
    );

    // A SOCKS5 proxy needing a user and password, none in the URL.
    let url = format!("socks5://127.0.0.1:{}", socks.port);
    let err = fails(&mut AgentProc::spawn_with_env(
        &agent_args(&edge, up, &[]),
        &[("ALL_PROXY", &url)],
    ))
    .await;
    assert!(
        err.contains("accepts none of the offered authentication methods"),
        "{err}"
    );
    for d in [d1, d2] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The SDK reaches the edge through a proxy given to its `SessionBuilder`, and a proxy that
/// refuses the credentials fails `Agent::connect` with the same clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_dials_through_a_proxy() {
    use sluice_agent::Agent;
    use sluice_tunnel::{BindRequest, EdgeProxy, Protocol, SessionBuilder};
    let Some(proxy) = ProxyProc::tinyproxy("carol", "pw").await else {
        eprintln!("SKIPPED: tinyproxy is not installed (apt-get install tinyproxy)");
        return;
    };
    let edge = TunnelEdge::start(false).await;
    let (up, _task) = text_upstream("sdk via tinyproxy").await;
    let ca = std::fs::read(edge.ca_path()).expect("edge CA");
    let builder = |url: String| {
        let proxy = EdgeProxy::parse(&url).expect("proxy URL");
        SessionBuilder::new(TOKEN)
            .connect_addr(format!("127.0.0.1:{}", edge.tunnel))
            .ca_pem(ca.clone())
            .proxy(proxy)
    };
    let good = builder(format!("http://carol:pw@127.0.0.1:{}", proxy.port));
    let agent = Agent::connect(good)
        .await
        .expect("connect through the proxy");
    let endpoint = agent
        .bind(BindRequest::new(Protocol::Http))
        .await
        .expect("bind");
    let url = endpoint.url().to_owned();
    let upstream = format!("http://127.0.0.1:{up}");
    tokio::spawn(async move { endpoint.forward_to(&upstream).await });
    let (host, port) = host_port(&url);
    let reply = poll("a 200 through the tunnel", Duration::from_secs(10), || {
        try_get(port, &host, "/")
    })
    .await;
    assert_eq!(&reply.body[..], b"sdk via tinyproxy");
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{} HTTP/1.1", edge.tunnel)),
        "tinyproxy saw no CONNECT to the tunnel port:\n{log}"
    );
    agent.close();

    let bad = builder(format!("http://carol:nope@127.0.0.1:{}", proxy.port));
    let err = tokio::time::timeout(Duration::from_secs(20), Agent::connect(bad))
        .await
        .expect("Agent::connect gives up on a proxy refusing the credentials")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("needs credentials it did not accept"), "{err}");
    assert!(!err.contains("nope"), "the password leaked: {err}");
}
