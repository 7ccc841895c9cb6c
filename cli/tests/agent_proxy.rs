//! The agent reaching its edge through real forward proxies started on loopback: Debian's
//! `tinyproxy` (HTTP CONNECT with basic credentials, from the config's `proxy_url`) and
//! `microsocks` (SOCKS5 with user/password, from `ALL_PROXY`). Each proxy's own log shows the
//! tunnel went through it; wrong credentials end the agent with a clear error, and a proxy that
//! is down is named in the reconnecting status. Skipped, saying so, when a proxy binary is
//! missing (`apt-get install tinyproxy microsocks`).

mod support;

use std::time::Duration;

use support::agent::{AgentProc, TunnelEdge, host_port, poll, text_upstream, try_get, write_file};
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
