//! Several edges as one cluster on a real etcd (issue 21, `docs/cluster.md`): routing across
//! edges, ownership of names and TCP ports. Real `sluice edge` processes, real agents, one
//! single-node etcd started per test on loopback; skipped (with a message) only when
//! `/usr/bin/etcd` is absent. Failures (edges, agents, etcd) are in `cluster_failures.rs`.

mod support;

use std::time::{Duration, Instant};

use support::agent::{AgentProc, TOKEN, poll, try_get, write_file};
use support::etcd::{
    Etcd, TOKEN_B, agent_on, cluster_edge, cluster_edge_with, cluster_port, etcd_available,
    openssl, peer_hello, until_status,
};
use support::{scratch_dir, start_echo};

/// A policy that adds one request and one response header: run twice, each would appear
/// twice.
const POLICY: &str = "on_http_request:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-policy-ran: \"yes\"\non_http_response:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-policy-ran: \"yes\"\n";

/// The streams the agent has been given so far (its `/api/tunnels` connection count).
async fn agent_streams(agent: &AgentProc) -> u64 {
    let r = try_get(agent.web, "127.0.0.1", "/api/tunnels")
        .await
        .expect("the agent's /api/tunnels");
    r.json()["tunnels"][0]["metrics"]["conns"]["count"]
        .as_u64()
        .expect("a connection count")
}

/// One keep-alive `GET path` for `host` on `conn`; the response's status (its body, framed
/// by content-length, is read whole so the next request can follow).
async fn status_on(conn: &mut tokio::net::TcpStream, host: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .expect("a response within 10 s")
            .expect("read");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or_else(|| panic!("a content-length: {head}"));
        if buf.len() >= end + 4 + len {
            return head
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("a status: {head}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_edge_is_reached_through_every_edge_with_its_policy_run_once() {
    if !etcd_available("cluster routing") {
        return;
    }
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let a = cluster_edge(&etcd, "a", "10s", &ca).await;
    let b = cluster_edge(&etcd, "b", "10s", &ca).await;
    let c = cluster_edge(&etcd, "c", "10s", &ca).await;
    let (echo, _gate) = start_echo().await;
    // Each edge watches the placements in etcd (another edge's bind arrives at once).
    for edge in [&a, &b, &c] {
        poll("the placement watch", Duration::from_secs(10), || async {
            edge.metrics()
                .await
                .contains("sluice_cluster_watching 1")
                .then_some(())
        })
        .await;
    }
    let policy = write_file(&scratch_dir(), "policy.yml", POLICY);
    let policy = policy.display().to_string();
    let mut agent = agent_on(
        &a,
        TOKEN,
        &echo.to_string(),
        "http://app.localhost",
        &["--traffic-policy-file", &policy],
    );
    assert_eq!(
        agent.url().await,
        format!("http://app.localhost:{}", a.http)
    );
    for edge in [&a, &b, &c] {
        let r = until_status(edge.http, "app.localhost", 200, Duration::from_secs(10)).await;
        let seen = r.json();
        let ran = seen["headers"]["x-policy-ran"].as_array().map(Vec::len);
        assert_eq!(ran, Some(1), "request header via :{}: {seen}", edge.http);
        let xff = seen["headers"]["x-forwarded-for"].as_array().cloned();
        assert_eq!(xff.map(|v| v.len()), Some(1), "one hop recorded: {seen}");
        let back: Vec<_> = r.headers.get_all("x-policy-ran").iter().collect();
        assert_eq!(back.len(), 1, "response header via :{}", edge.http);
    }
    // Requests that cross edges share one connection per pair of edges.
    for i in 0..10 {
        for edge in [&b, &c] {
            let r = try_get(edge.http, "app.localhost", &format!("/again/{i}")).await;
            assert_eq!(
                r.map(|r| r.status),
                Some(200),
                "request {i} via :{}",
                edge.http
            );
        }
    }
    let to_a = connections_to(cluster_port(&a));
    assert!(
        (1..=2).contains(&to_a),
        "b and c reach a over at most one connection each, kept open: {to_a}"
    );
    // Requests on one client connection through b ride one stream to a (and one stream to
    // the agent), kept between them.
    let streams_before = agent_streams(&agent).await;
    let mut client = tokio::net::TcpStream::connect(("127.0.0.1", b.http))
        .await
        .expect("connect to b");
    for i in 0..5 {
        assert_eq!(
            status_on(&mut client, "app.localhost", &format!("/kept/{i}")).await,
            200
        );
    }
    assert_eq!(
        agent_streams(&agent).await - streams_before,
        1,
        "five requests on one connection through b took one stream to the agent"
    );
    // The inter-edge channel takes only certificates of the cluster CA.
    let port = cluster_port(&a);
    let hello = r#"{"scheme":"http","host":"app.localhost","client":"192.0.2.1:1"}"#;
    let tmp = scratch_dir();
    let ext = write_file(&tmp, "ext.cnf", "extendedKeyUsage=clientAuth\n");
    let (cacert, cakey) = (ca.join("cluster-ca.pem"), ca.join("cluster-ca-key.pem"));
    let (cacert, cakey) = (cacert.display().to_string(), cakey.display().to_string());
    openssl(
        &tmp,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-subj",
            "/CN=tester",
            "-out",
            "r.csr",
        ],
    );
    openssl(
        &tmp,
        &[
            "x509",
            "-req",
            "-in",
            "r.csr",
            "-CA",
            &cacert,
            "-CAkey",
            &cakey,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext.display().to_string(),
            "-out",
            "c.pem",
        ],
    );
    openssl(
        &tmp,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "sk.pem",
            "-subj",
            "/CN=stranger",
            "-days",
            "1",
            "-out",
            "s.pem",
        ],
    );
    let good = peer_hello(&tmp, port, Some(("c.pem", "k.pem")), hello);
    assert_eq!(
        good.first(),
        Some(&b'+'),
        "a cluster certificate is accepted"
    );
    let none = peer_hello(&tmp, port, None, hello);
    assert!(!none.contains(&b'+'), "no client certificate: refused");
    let stranger = peer_hello(&tmp, port, Some(("s.pem", "sk.pem")), hello);
    assert!(
        !stranger.contains(&b'+'),
        "another CA's certificate: refused"
    );
    // An https name too: c terminates TLS with its own certificate, then forwards.
    let mut secure = agent_on(
        &a,
        TOKEN,
        &echo.to_string(),
        "https://secure.localhost",
        &[],
    );
    assert_eq!(
        secure.url().await,
        format!("https://secure.localhost:{}", a.https)
    );
    let curl = || {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg("--cacert")
            .arg(c.ca_path())
            .arg("--resolve")
            .arg(format!("secure.localhost:{}:127.0.0.1", c.https))
            .arg(format!("https://secure.localhost:{}/x", c.https))
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    poll(
        "curl through c's https",
        Duration::from_secs(10),
        || async { (curl() == "200").then_some(()) },
    )
    .await;
    secure.kill();
    // A name nobody bound is unknown on every edge.
    let r = try_get(b.http, "nobody.localhost", "/")
        .await
        .expect("answer");
    assert_eq!(r.status, 404);
    // The agent gone, the name goes from the other edges too.
    agent.kill();
    poll(
        "the name and its placement released",
        Duration::from_secs(10),
        || async {
            let keys = etcd.keys("/sluice/").await?;
            (!keys.iter().any(|k| k.contains("app.localhost"))).then_some(())
        },
    )
    .await;
    until_status(c.http, "app.localhost", 404, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_racing_for_one_name_through_two_edges_exactly_one_wins() {
    if !etcd_available("cluster ownership race") {
        return;
    }
    const RACES: usize = 100;
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let a = cluster_edge(&etcd, "a", "10s", &ca).await;
    let c = cluster_edge(&etcd, "c", "10s", &ca).await;
    let (echo, _gate) = start_echo().await;
    let echo = echo.to_string();
    let started = Instant::now();
    let mut x_wins = 0;
    for i in 0..RACES {
        let url = format!("http://race{i}.localhost");
        let mut x = agent_on(&a, TOKEN, &echo, &url, &[]);
        let mut y = agent_on(&c, TOKEN_B, &echo, &url, &[]);
        // Each agent either serves the name or exits refused; at most 30 s for both.
        let outcome = |agent: &mut AgentProc| {
            let won = agent.lines().iter().any(|l| l.starts_with("Forwarding"));
            let lost = agent.stderr().contains("ERR_SLUICE_334");
            (won, lost)
        };
        let limit = Instant::now() + Duration::from_secs(30);
        let (ox, oy) = loop {
            let (ox, oy) = (outcome(&mut x), outcome(&mut y));
            if (ox.0 || ox.1) && (oy.0 || oy.1) {
                break (ox, oy);
            }
            assert!(
                Instant::now() < limit,
                "race {i} undecided\nx: {:?} {}\ny: {:?} {}",
                x.lines(),
                x.stderr(),
                y.lines(),
                y.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            ox.0 != oy.0 && ox.1 != oy.1,
            "race {i}: exactly one wins\nx: {ox:?} {}\ny: {oy:?} {}",
            x.stderr(),
            y.stderr()
        );
        x_wins += usize::from(ox.0);
        x.kill();
        y.kill();
    }
    eprintln!(
        "{RACES} races: the agent on a won {x_wins}, the one on c {}",
        RACES - x_wins
    );
    assert!(started.elapsed() < Duration::from_secs(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_two_edges_give_one_tcp_port_to_two_accounts() {
    if !etcd_available("cluster TCP ports") {
        return;
    }
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    // Two edges with the same two-port range on two loopback addresses, so that each could
    // open either port by itself.
    let first = support::free_ports(2);
    let range = |ip: &str| {
        format!(
            "tcp:\n  bind: {ip}\n  host: localhost\n  ports: {first}-{}\n",
            first + 1
        )
    };
    let a = cluster_edge_with(&etcd, "a", "10s", &ca, &range("127.0.0.1")).await;
    let c = cluster_edge_with(&etcd, "c", "10s", &ca, &range("127.0.0.2")).await;
    let (echo, _gate) = start_echo().await;
    let echo = echo.to_string();
    let tcp_on = |edge: &support::agent::TunnelEdge, token: &str, url: Option<String>| {
        let mut args: Vec<String> = vec!["tcp".into(), echo.clone()];
        args.extend(edge.agent_flags());
        if let Some(t) = args.iter_mut().skip_while(|a| *a != "--authtoken").nth(1) {
            *t = token.to_string();
        }
        args.extend(url.into_iter().flat_map(|u| ["--url".to_string(), u]));
        AgentProc::spawn(&args)
    };
    let port_url = format!("tcp://localhost:{first}");
    let mut x = tcp_on(&a, TOKEN, Some(port_url.clone()));
    assert_eq!(x.url().await, port_url);
    // The same port through the other edge, by another account: refused.
    let mut y = tcp_on(&c, TOKEN_B, Some(port_url.clone()));
    assert_eq!(y.exited(Duration::from_secs(30)).await, Some(1));
    let err = y.stderr();
    assert!(
        err.contains("ERR_SLUICE_334")
            && err.contains(&format!("TCP port {first} is already bound"))
            && err.contains("on the cluster"),
        "{err}"
    );
    // A random port through the other edge skips it.
    let mut z = tcp_on(&c, TOKEN_B, None);
    assert_eq!(z.url().await, format!("tcp://localhost:{}", first + 1));
    // Once x lets go, the port is free for the other account.
    x.kill();
    let mut bound = None;
    for _ in 0..20 {
        let mut w = tcp_on(&c, TOKEN_B, Some(port_url.clone()));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10)
            && !w.lines().iter().any(|l| l.starts_with("Forwarding"))
            && w.exited(Duration::from_millis(100)).await.is_none()
        {}
        if w.lines().iter().any(|l| l.starts_with("Forwarding")) {
            bound = Some(w);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        bound.is_some(),
        "the port is released once its agent is gone"
    );
    z.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_of_one_account_on_another_edge_shares_a_name_only_when_both_pool() {
    if !etcd_available("cluster pooling across edges") {
        return;
    }
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let a = cluster_edge(&etcd, "a", "10s", &ca).await;
    let b = cluster_edge(&etcd, "b", "10s", &ca).await;
    let (echo, _gate) = start_echo().await;
    let echo = echo.to_string();
    // Unpooled: the second agent (another client id, same account) is refused on b.
    let mut x = agent_on(&a, TOKEN, &echo, "http://solo.localhost", &[]);
    x.url().await;
    let mut y = agent_on(&b, TOKEN, &echo, "http://solo.localhost", &[]);
    poll("the second bind refused", Duration::from_secs(20), || {
        let refused = y.stderr().contains("ERR_SLUICE_334");
        async move { refused.then_some(()) }
    })
    .await;
    assert!(
        y.stderr().contains("another session on edge a"),
        "{}",
        y.stderr()
    );
    x.kill();
    y.kill();
    // Both pooled: both serve the name.
    let pool = ["--pooling-enabled"];
    let mut x = agent_on(&a, TOKEN, &echo, "http://shared.localhost", &pool);
    x.url().await;
    let mut y = agent_on(&b, TOKEN, &echo, "http://shared.localhost", &pool);
    y.url().await;
    assert!(!y.stderr().contains("ERR_SLUICE_334"), "{}", y.stderr());
    until_status(a.http, "shared.localhost", 200, Duration::from_secs(10)).await;
    x.kill();
    y.kill();
}

/// Established TCP connections on this machine whose far end is local port `port`.
fn connections_to(port: u16) -> usize {
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|text| {
            text.lines()
                .skip(1)
                .filter(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    cols.len() > 3 && cols[2].ends_with(&want) && cols[3] == "01"
                })
                .count()
        })
        .sum()
}
