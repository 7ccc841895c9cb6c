//! SSH sessions over time and names, with the real OpenSSH client: a client that stops
//! answering without closing its connection (frozen with `SIGSTOP`) is dropped by the edge's
//! keepalives (`ssh.keepalive_interval`) and its endpoint unbound (`ERR_SLUICE_3200`), also when
//! the edge's writes to it wait on full buffers, while a live one stays; and a wildcard name
//! (`ssh -R '*.wild.localhost:443:…' … http`) serves every name under it, with an exact name
//! bound by an agent or another session winning over it.
//! Skipped, saying so, without OpenSSH (`apt-get install openssh-client`).

mod support;

use std::time::{Duration, Instant};

use support::agent::{TunnelEdge, host_port, text_upstream};
use support::scratch_dir;
use support::ssh::{SshProc, curl, keygen, skip_without_openssh as skip};

/// A client that stops answering is dropped after 3 unanswered keepalives (1 s apart here;
/// with the default 15 s it would take a minute, over this test's bound), its endpoint unbound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_client_is_dropped_by_keepalives() {
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_frozen");
    let extra =
        format!("    authorized_keys:\n      - \"{public}\"\nssh:\n  keepalive_interval: 1s\n");
    let edge = TunnelEdge::start_full(false, true, &extra).await;
    let (up, _task) = text_upstream("alive").await;
    let forward = format!("frozen.localhost:80:localhost:{up}");
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "http", &dir);
    let url = ssh.url().await;
    assert!(curl(&edge, &url, &[]).ends_with("alive"));

    // A live client answers the keepalives: after more intervals than it takes to drop a
    // silent one, it is still there.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        ssh.exited(Duration::ZERO).await.is_none(),
        "{}",
        ssh.stderr()
    );
    let text = curl(&edge, &url, &[]);
    assert!(text.ends_with("alive"), "a live client was dropped: {text}");

    ssh.freeze(true);
    let frozen = Instant::now();
    let mut last = String::new();
    while frozen.elapsed() < Duration::from_secs(30) {
        last = curl(&edge, &url, &[]);
        if last.contains("ERR_SLUICE_3200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = frozen.elapsed();
    ssh.freeze(false);
    assert!(
        last.contains("ERR_SLUICE_3200"),
        "still bound after {took:?}: {last}"
    );
    // Three keepalives go unanswered first (1 s apart, from the last answer).
    assert!(
        took >= Duration::from_secs(2),
        "dropped after only {took:?}"
    );
    // Thawed, the client finds its connection closed by the edge.
    let code = ssh.exited(Duration::from_secs(20)).await;
    assert!(code.is_some_and(|c| c != 0), "{code:?}: {}", ssh.stderr());
    let _ = std::fs::remove_dir_all(dir);
}

/// `-R '*.wild.localhost:443:…'` binds the wildcard: two names under it reach the local server;
/// an exact name bound by an agent, or by another SSH session, takes its own traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_serves_names_under_it_and_exact_names_win() {
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_wild");
    let extra = format!("    authorized_keys:\n      - \"{public}\"\n");
    let edge = TunnelEdge::start_full(false, true, &extra).await;
    let port = edge.ssh.expect("ssh port");
    let (wild_up, _w) = text_upstream("from the wildcard").await;
    let forward = format!("*.wild.localhost:443:localhost:{wild_up}");
    let mut wild = SshProc::spawn(port, &key, &forward, "http", &dir);
    let url = wild.url().await;
    assert_eq!(url, format!("https://*.wild.localhost:{}", edge.https));
    for name in ["a", "b.c"] {
        let text = curl(
            &edge,
            &format!("https://{name}.wild.localhost:{}/", edge.https),
            &[],
        );
        assert!(text.starts_with("HTTP/1.1 200"), "{name}: {text}");
        assert!(text.ends_with("from the wildcard"), "{name}: {text}");
    }

    let (agent_up, _a) = text_upstream("from the agent").await;
    let agent_url = "https://exact.wild.localhost";
    let mut agent = edge.http_agent(&agent_up.to_string(), &["--url", agent_url]);
    let exact = agent.url().await;
    let (exact2_up, _e) = text_upstream("from the exact session").await;
    let forward = format!("exact2.wild.localhost:443:localhost:{exact2_up}");
    let mut exact2 = SshProc::spawn(port, &key, &forward, "http", &dir);
    let exact2_url = exact2.url().await;
    assert_eq!(
        exact2_url,
        format!("https://exact2.wild.localhost:{}", edge.https)
    );
    assert!(curl(&edge, &exact, &[]).ends_with("from the agent"));
    assert!(curl(&edge, &exact2_url, &[]).ends_with("from the exact session"));
    let other = format!("https://other.wild.localhost:{}/", edge.https);
    assert!(curl(&edge, &other, &[]).ends_with("from the wildcard"));
    // The wildcard's session printed a line per request it served.
    wild.wait_line(Duration::from_secs(10), |l| l.contains(" 200 OK "))
        .await;
    drop(exact2);
    let _ = std::fs::remove_dir_all(dir);
}

/// A frozen client the edge is still sending to (its connection's buffers full, so the edge's
/// writes wait) is dropped all the same, and its TCP port closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_client_with_writes_pending_is_dropped() {
    use tokio::io::AsyncWriteExt;
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_stuck");
    let extra =
        format!("    authorized_keys:\n      - \"{public}\"\nssh:\n  keepalive_interval: 1s\n");
    let edge = TunnelEdge::start_full(true, true, &extra).await;
    // A local service that takes connections and never reads them.
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sink_port = sink.local_addr().expect("addr").port();
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let _sink = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = sink.accept().await {
            held.push(s);
            let _ = accepted_tx.send(());
        }
    });
    let forward = format!("0:localhost:{sink_port}");
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "tcp", &dir);
    let url = ssh.url().await;
    let (_, port) = host_port(&url);
    const CONNECTIONS: usize = 24;
    let mut public = Vec::new();
    for _ in 0..CONNECTIONS {
        let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the public port");
        public.push(s);
    }
    for _ in 0..CONNECTIONS {
        tokio::time::timeout(Duration::from_secs(20), accepted.recv())
            .await
            .expect("the local service gets every connection");
    }
    ssh.freeze(true);
    let frozen = Instant::now();
    // Each channel's window (2 MiB in OpenSSH) lets the edge write far more than the
    // connection's socket buffers hold.
    let writers: Vec<_> = public
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let chunk = vec![7u8; 64 * 1024];
                for _ in 0..64 {
                    if s.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                s
            })
        })
        .collect();
    let mut closed = false;
    while frozen.elapsed() < Duration::from_secs(40) {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = frozen.elapsed();
    ssh.freeze(false);
    for w in writers {
        w.abort();
    }
    assert!(
        closed,
        "the public port still takes connections after {took:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
