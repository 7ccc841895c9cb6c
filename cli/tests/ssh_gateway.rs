//! The SSH gateway with the real OpenSSH client (`ssh -R … edge http|tcp`), keys made by
//! `ssh-keygen`: the public URL reaches the local server (random https and http names, a named
//! one, a TCP port), basic auth is enforced, a bad policy comes back on stderr with line:col and
//! a non-zero exit, a key not authorized is refused, and the endpoint goes when the connection
//! does. Skipped, saying so, without OpenSSH (`apt-get install openssh-client`).

mod support;

use std::path::Path;
use std::time::Duration;

use support::agent::{TunnelEdge, host_port, text_upstream};
use support::ssh::{SshProc, curl, edge_with_key, keygen, skip_without_openssh as skip};
use support::{scratch_dir, start_tls_upstream};

fn dir_and_key() -> (std::path::PathBuf, std::path::PathBuf, String) {
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_test");
    (dir, key, public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_forms_reach_the_local_server() {
    if skip() {
        return;
    }
    let (dir, key, public) = dir_and_key();
    let edge = edge_with_key(&public).await;
    let ssh_port = edge.ssh.expect("ssh port");
    let (up, _task) = text_upstream("via ssh").await;

    // `-R 443:localhost:PORT … http`: a random https name.
    let mut ssh = SshProc::spawn(ssh_port, &key, &format!("443:localhost:{up}"), "http", &dir);
    let url = ssh.url().await;
    assert!(
        url.starts_with("https://") && url.contains(".localhost"),
        "{url}"
    );
    let text = curl(&edge, &url, &[]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("via ssh"), "{text}");
    drop(ssh);

    // A named http endpoint with basic auth.
    let forward = format!("app.localhost:80:localhost:{up}");
    let mut ssh = SshProc::spawn(
        ssh_port,
        &key,
        &forward,
        "http --basic-auth 'u:open-sesame'",
        &dir,
    );
    let url = ssh.url().await;
    assert_eq!(url, format!("http://app.localhost:{}", edge.http));
    let text = curl(&edge, &url, &[]);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    let text = curl(&edge, &url, &["-u", "u:open-sesame"]);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("via ssh"),
        "{text}"
    );

    // The connection drops: the endpoint is gone.
    ssh.kill();
    let mut last = String::new();
    for _ in 0..100 {
        last = curl(&edge, &url, &["-u", "u:open-sesame"]);
        if last.contains("ERR_SLUICE_3200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last.contains("ERR_SLUICE_3200"), "{last}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_form_gets_a_public_port() {
    if skip() {
        return;
    }
    let (dir, key, public) = dir_and_key();
    let edge = edge_with_key(&public).await;
    let (up, _task) = text_upstream("tcp via ssh").await;
    let forward = format!("0:localhost:{up}");
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "tcp", &dir);
    let url = ssh.url().await;
    assert!(url.starts_with("tcp://localhost:"), "{url}");
    let (_, port) = host_port(&url);
    let text = curl(&edge, &format!("http://127.0.0.1:{port}/"), &[]);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("tcp via ssh"),
        "{text}"
    );
    drop(ssh);

    // `-R PORT:…`: that public port.
    let wanted = edge.tcp.expect("tcp ports") + 7;
    let forward = format!("{wanted}:localhost:{up}");
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "tcp", &dir);
    assert_eq!(ssh.url().await, format!("tcp://localhost:{wanted}"));
    let text = curl(&edge, &format!("http://127.0.0.1:{wanted}/"), &[]);
    assert!(text.ends_with("tcp via ssh"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_form_passes_tls_through_by_sni() {
    if skip() {
        return;
    }
    let (dir, key, public) = dir_and_key();
    let edge = edge_with_key(&public).await;
    let (upstream, _cert) = start_tls_upstream().await;
    let forward = format!("secure.localhost:443:127.0.0.1:{}", upstream.port());
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "tls", &dir);
    let url = ssh.url().await;
    assert_eq!(url, format!("tls://secure.localhost:{}", edge.https));
    // The local server's own certificate answers (self-signed for localhost: -k), so TLS ends
    // there, not at the edge.
    let https = format!("https://secure.localhost:{}/sni", edge.https);
    let text = curl(&edge, &https, &["-k"]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("tls upstream: /sni host=secure.localhost"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn assert_line_col(err: &str) {
    let found = err.lines().any(|l| {
        l.split(':').collect::<Vec<_>>().windows(2).any(|w| {
            w.iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
    });
    assert!(found, "no line:col in {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policies_flags_and_keys_are_refused() {
    if skip() {
        return;
    }
    let (dir, key, public) = dir_and_key();
    let edge = edge_with_key(&public).await;
    let port = edge.ssh.expect("ssh port");
    let (up, _task) = text_upstream("never").await;
    let forward = format!("443:localhost:{up}");

    let policy =
        "http --traffic-policy 'on_http_request:\n  - actions:\n      - type: no-such-action\n'";
    let mut ssh = SshProc::spawn(port, &key, &forward, policy, &dir);
    let code = ssh.exited(Duration::from_secs(20)).await;
    let err = ssh.stderr();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("ERR_SLUICE_POLICY_INVALID"), "{err}");
    assert!(err.contains("no-such-action"), "{err}");
    assert_line_col(&err);

    let mut ssh = SshProc::spawn(port, &key, &forward, "http --no-such-flag", &dir);
    let code = ssh.exited(Duration::from_secs(20)).await;
    let err = ssh.stderr();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");

    // A key no authtoken lists: OpenSSH is refused before any command runs.
    let (other, _) = keygen(&dir, "id_other");
    let mut ssh = SshProc::spawn(port, &other, &forward, "http", &dir);
    let code = ssh.exited(Duration::from_secs(20)).await;
    let err = ssh.stderr();
    assert_eq!(code, Some(255), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_name_is_refused() {
    if skip() {
        return;
    }
    let (dir, key, public) = dir_and_key();
    let (other_key, other_public) = keygen(&dir, "id_other_account");
    let extra = format!(
        "    authorized_keys:\n      - \"{public}\"\n  - token: other-token\n    account: other\n    allow: [\"*\"]\n    authorized_keys:\n      - \"{other_public}\"\n"
    );
    let edge = TunnelEdge::start_full(false, true, &extra).await;
    let port = edge.ssh.expect("ssh port");
    let (up, _task) = text_upstream("first").await;
    let forward = format!("taken.localhost:80:localhost:{up}");
    let mut first = SshProc::spawn(port, &key, &forward, "http", &dir);
    let url = first.url().await;
    let mut second = SshProc::spawn(port, &other_key, &forward, "http", &dir);
    let code = second.exited(Duration::from_secs(20)).await;
    let err = second.stderr();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("ERR_SLUICE_334"), "{err}");
    let text = curl(&edge, &url, &[]);
    assert!(text.ends_with("first"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Wrong keys count toward the tunnel listener's limits: once blocked, even the right key is
/// refused from that address, and the refusals show in the auth failure metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_limited_like_wrong_tokens() {
    if skip() {
        return;
    }
    let (dir, key, public) = dir_and_key();
    let (wrong, _) = keygen(&dir, "id_wrong");
    let extra = format!(
        "    authorized_keys:\n      - \"{public}\"\ntunnel:\n  auth_limits:\n    free_failures: 1\n    base_delay: 1m\n    max_delay: 1m\n"
    );
    let edge = TunnelEdge::start_full(false, true, &extra).await;
    let port = edge.ssh.expect("ssh port");
    let (up, _task) = text_upstream("never").await;
    let forward = format!("80:localhost:{up}");
    for _ in 0..2 {
        let mut ssh = SshProc::spawn(port, &wrong, &forward, "http", &dir);
        assert_eq!(ssh.exited(Duration::from_secs(20)).await, Some(255));
    }
    // The server counts a failure when the refused connection has ended on its side.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = edge.metrics().await;
        if metrics.contains("sluice_tunnel_auth_failures_total{reason=\"invalid_token\"} 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains("sluice_tunnel_auth_failures_total{reason=\"invalid_token\"} 2"),
        "{metrics}"
    );
    let mut ssh = SshProc::spawn(port, &key, &forward, "http", &dir);
    let code = ssh.exited(Duration::from_secs(20)).await;
    let err = ssh.stderr();
    assert_eq!(code, Some(255), "the right key got in while blocked: {err}");
    let metrics = edge.metrics().await;
    assert!(
        !metrics.contains("sluice_tunnel_auth_failures_total{reason=\"throttled\"} 0"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// An SSH session and an agent of the same account share a URL with pooling, as two agents do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooling_spans_ssh_and_agents() {
    if skip() {
        return;
    }
    let (dir, key, public) = dir_and_key();
    let edge = edge_with_key(&public).await;
    let (from_agent, _a) = text_upstream("from the agent").await;
    let (from_ssh, _s) = text_upstream("from ssh").await;
    let url_flag = "http://pool.localhost";
    let mut agent = edge.http_agent(
        &from_agent.to_string(),
        &["--url", url_flag, "--pooling-enabled"],
    );
    let url = agent.url().await;
    let command = format!("http --url {url_flag} --pooling-enabled");
    let forward = format!("80:localhost:{from_ssh}");
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, &command, &dir);
    assert_eq!(ssh.url().await, url);
    let (mut agent_seen, mut ssh_seen) = (false, false);
    for _ in 0..60 {
        let text = curl(&edge, &url, &[]);
        agent_seen |= text.ends_with("from the agent");
        ssh_seen |= text.ends_with("from ssh");
        if agent_seen && ssh_seen {
            break;
        }
    }
    assert!(agent_seen && ssh_seen, "agent {agent_seen}, ssh {ssh_seen}");
    let _ = std::fs::remove_dir_all(dir);
}
