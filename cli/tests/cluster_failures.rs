//! The edge cluster when things fail (issue 21, `docs/cluster.md`): an edge killed, an agent
//! moving, etcd killed and back, one member of a three-member etcd killed. Real processes on
//! loopback; skipped (with a message) only when `/usr/bin/etcd` is absent.

mod support;

use std::time::{Duration, Instant};

use support::agent::{AgentProc, TOKEN, poll, try_get, write_file};
use support::etcd::{
    Etcd, TOKEN_B, agent_on, cluster_edge, cluster_edge_on, cluster_edge_with, etcd_available,
    openssl, until_status,
};
use support::{scratch_dir, start_echo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_edge_loses_its_placements_within_the_lease_ttl() {
    if !etcd_available("cluster lease") {
        return;
    }
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let mut a = cluster_edge(&etcd, "a", "3s", &ca).await;
    let b = cluster_edge(&etcd, "b", "3s", &ca).await;
    let (echo, _gate) = start_echo().await;
    let mut agent = agent_on(&a, TOKEN, &echo.to_string(), "http://app.localhost", &[]);
    agent.url().await;
    until_status(b.http, "app.localhost", 200, Duration::from_secs(10)).await;
    a.kill();
    let killed = Instant::now();
    poll(
        "the placement to vanish",
        Duration::from_secs(10),
        || async {
            let keys = etcd.keys("/sluice/").await?;
            (!keys.iter().any(|k| k.contains("app.localhost"))).then_some(())
        },
    )
    .await;
    let gone = killed.elapsed();
    eprintln!("placement of a killed edge gone after {gone:?} (lease 3s)");
    // The lease is 3 s; etcd checks expiry at its own pace, the poll every 100 ms.
    assert!(gone <= Duration::from_millis(4500), "{gone:?}");
    // B no longer routes the name anywhere.
    until_status(b.http, "app.localhost", 404, Duration::from_secs(3)).await;
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_etcd_down_known_names_flow_and_new_binds_are_refused_until_it_is_back() {
    if !etcd_available("cluster without etcd") {
        return;
    }
    let mut etcd = Etcd::start().await;
    let ca = scratch_dir();
    let a = cluster_edge(&etcd, "a", "5s", &ca).await;
    let b = cluster_edge(&etcd, "b", "5s", &ca).await;
    let (echo, _gate) = start_echo().await;
    let echo = echo.to_string();
    let mut agent = agent_on(&a, TOKEN, &echo, "http://app.localhost", &[]);
    agent.url().await;
    until_status(b.http, "app.localhost", 200, Duration::from_secs(10)).await;
    assert!(b.metrics().await.contains("sluice_cluster_etcd_up 1"));
    etcd.kill();
    // Longer than the lease: nothing the edges know is dropped while etcd is away.
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(7) {
        let r = try_get(b.http, "app.localhost", "/x")
            .await
            .expect("answer");
        assert_eq!(r.status, 200, "known name through b with etcd down");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let health = support::get(b.admin, "127.0.0.1", "/healthz").await;
    let text = String::from_utf8_lossy(&health.body).into_owned();
    assert!(text.starts_with("degraded: etcd is unreachable"), "{text}");
    assert!(b.metrics().await.contains("sluice_cluster_etcd_up 0"));
    let mut refused = agent_on(&b, TOKEN, &echo, "http://new.localhost", &[]);
    let code = refused.exited(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{}", refused.stderr());
    let err = refused.stderr();
    assert!(err.contains("ERR_SLUICE_CLUSTER_UNAVAILABLE"), "{err}");
    assert!(err.contains("etcd"), "{err}");
    etcd.restart().await;
    // Binds work again without restarting an edge (an agent retried a few times at most).
    let mut bound = None;
    for _ in 0..10 {
        let mut next = agent_on(&b, TOKEN, &echo, "http://new.localhost", &[]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if next.lines().iter().any(|l| l.starts_with("Forwarding")) {
                break;
            }
            if next.exited(Duration::from_millis(100)).await.is_some() {
                break;
            }
        }
        if next.lines().iter().any(|l| l.starts_with("Forwarding")) {
            bound = Some(next);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut bound = bound.expect("a bind succeeds once etcd is back");
    let health = support::get(b.admin, "127.0.0.1", "/healthz").await;
    assert_eq!(&health.body[..], b"ok\n");
    assert!(b.metrics().await.contains("sluice_cluster_etcd_up 1"));
    until_status(a.http, "new.localhost", 200, Duration::from_secs(10)).await;
    let r = try_get(b.http, "app.localhost", "/x")
        .await
        .expect("answer");
    assert_eq!(r.status, 200);
    bound.kill();
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_follows_its_account_to_another_edge_and_no_other_account_takes_it() {
    if !etcd_available("cluster failover") {
        return;
    }
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let mut a = cluster_edge(&etcd, "a", "3s", &ca).await;
    let b = cluster_edge(&etcd, "b", "3s", &ca).await;
    let c = cluster_edge(&etcd, "c", "3s", &ca).await;
    let (echo, _gate) = start_echo().await;
    let echo = echo.to_string();
    let mut first = agent_on(&a, TOKEN, &echo, "http://app.localhost", &[]);
    first.url().await;
    a.kill();
    // The same account binds the name on b at once: a's owner key still stands, for it.
    let mut moved = agent_on(&b, TOKEN, &echo, "http://app.localhost", &[]);
    assert_eq!(
        moved.url().await,
        format!("http://app.localhost:{}", b.http)
    );
    // a's keys go with its lease; the owner key follows the name to b.
    poll(
        "a's placement to vanish",
        Duration::from_secs(10),
        || async {
            let keys = etcd.keys("/sluice/placement/").await?;
            (!keys.iter().any(|k| k.ends_with("/app.localhost/a"))).then_some(())
        },
    )
    .await;
    poll("the owner key under b", Duration::from_secs(5), || async {
        let keys = etcd.keys("/sluice/owner/").await?;
        keys.iter()
            .any(|k| k == "/sluice/owner/app.localhost")
            .then_some(())
    })
    .await;
    for _ in 0..5 {
        until_status(c.http, "app.localhost", 200, Duration::from_secs(5)).await;
    }
    // Another account cannot take the name, through any edge.
    let mut thief = agent_on(&c, TOKEN_B, &echo, "http://app.localhost", &[]);
    assert_eq!(thief.exited(Duration::from_secs(30)).await, Some(1));
    assert!(
        thief.stderr().contains("ERR_SLUICE_334"),
        "{}",
        thief.stderr()
    );
    first.kill();
    moved.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_of_a_three_member_etcd_killed_changes_nothing_visible() {
    if !etcd_available("cluster on three etcd members") {
        return;
    }
    let mut members = Etcd::start_cluster(3).await;
    let urls: Vec<String> = members.iter().map(Etcd::url).collect();
    let ca = scratch_dir();
    let a = cluster_edge_on(&urls, "a", "3s", &ca, "").await;
    let b = cluster_edge_on(&urls, "b", "3s", &ca, "").await;
    let (echo, _gate) = start_echo().await;
    let echo = echo.to_string();
    let mut x = agent_on(&a, TOKEN, &echo, "http://app.localhost", &[]);
    x.url().await;
    until_status(b.http, "app.localhost", 200, Duration::from_secs(10)).await;
    // The member every edge asks first goes away: the edges turn to the others.
    members[0].kill();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let r = try_get(b.http, "app.localhost", "/x")
            .await
            .expect("answer");
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let health = support::get(b.admin, "127.0.0.1", "/healthz").await;
    assert_eq!(&health.body[..], b"ok\n");
    // Longer than the lease: the lease is kept alive through the other members.
    let keys = members[1]
        .keys("/sluice/placement/")
        .await
        .expect("etcd answers");
    assert!(
        keys.iter().any(|k| k.ends_with("/app.localhost/a")),
        "{keys:?}"
    );
    // New binds work, and so does the ownership rule.
    let mut y = agent_on(&b, TOKEN, &echo, "http://new.localhost", &[]);
    y.url().await;
    until_status(a.http, "new.localhost", 200, Duration::from_secs(10)).await;
    let mut thief = agent_on(&a, TOKEN_B, &echo, "http://new.localhost", &[]);
    assert_eq!(thief.exited(Duration::from_secs(30)).await, Some(1));
    assert!(
        thief.stderr().contains("ERR_SLUICE_334"),
        "{}",
        thief.stderr()
    );
    x.kill();
    y.kill();
}

/// A load balancer in front of the tunnel listeners: each connection goes to the first of
/// `ports` that accepts it.
async fn balancer(ports: Vec<u16>) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind balancer");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let ports = ports.clone();
            tokio::spawn(async move {
                for p in ports {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", p)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                        return;
                    }
                }
            });
        }
    });
    (port, task)
}

/// One tunnel certificate (for `localhost`) shared by every edge, as behind a load balancer:
/// the folder holding its CA (`ca.pem`) and the edge config's `tunnel:` section.
fn shared_tunnel_cert() -> (std::path::PathBuf, String) {
    let pki = scratch_dir();
    let ext = write_file(
        &pki,
        "ext.cnf",
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-subj",
        "/CN=test tunnel CA",
        "-days",
        "1",
        "-out",
        "ca.pem",
    ]);
    openssl(&pki, &args);
    let mut args = vec!["req", "-new"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "t.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "t.csr",
    ]);
    openssl(&pki, &args);
    let ext = ext.display().to_string();
    openssl(
        &pki,
        &[
            "x509",
            "-req",
            "-in",
            "t.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            "t.pem",
        ],
    );
    let tunnel = format!(
        "tunnel:\n  cert_file: {}\n  key_file: {}\n",
        pki.join("t.pem").display(),
        pki.join("t.key").display()
    );
    (pki, tunnel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_edge_is_killed_binds_its_name_again_through_another() {
    if !etcd_available("cluster agent failover") {
        return;
    }
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let (pki, tunnel) = shared_tunnel_cert();
    let mut a = cluster_edge_with(&etcd, "a", "3s", &ca, &tunnel).await;
    let b = cluster_edge_with(&etcd, "b", "3s", &ca, &tunnel).await;
    let (lb, _lb) = balancer(vec![a.tunnel, b.tunnel]).await;
    let (echo, _gate) = start_echo().await;
    let mut args: Vec<String> = vec!["http".into(), echo.to_string()];
    args.extend([
        "--connect-url".into(),
        format!("localhost:{lb}"),
        "--connect-ca".into(),
        pki.join("ca.pem").display().to_string(),
        "--authtoken".into(),
        TOKEN.into(),
        "--url".into(),
        "http://app.localhost".into(),
    ]);
    let mut agent = AgentProc::spawn(&args);
    assert_eq!(
        agent.url().await,
        format!("http://app.localhost:{}", a.http)
    );
    let (first, _) = agent
        .wait_line(0, Duration::from_secs(5), |l| l.starts_with("Forwarding"))
        .await;
    until_status(b.http, "app.localhost", 200, Duration::from_secs(10)).await;
    a.kill();
    let killed = Instant::now();
    // The agent comes back through b with the same name; clients at c are served again.
    agent
        .wait_line(first + 1, Duration::from_secs(30), |l| {
            l.starts_with("Session Status") && l.ends_with("online")
        })
        .await;
    let back = killed.elapsed();
    poll("the name placed on b", Duration::from_secs(5), || async {
        let keys = etcd.keys("/sluice/placement/").await?;
        keys.iter()
            .any(|k| k == "/sluice/placement/http/app.localhost/b")
            .then_some(())
    })
    .await;
    // The dead edge's placement goes with its lease; the owner key stays with the account.
    poll(
        "a's placement to vanish",
        Duration::from_secs(10),
        || async {
            let keys = etcd.keys("/sluice/").await?;
            let a_gone = !keys.iter().any(|k| k.ends_with("/app.localhost/a"));
            (a_gone && keys.iter().any(|k| k == "/sluice/owner/app.localhost")).then_some(())
        },
    )
    .await;
    let moved = killed.elapsed();
    eprintln!("edge killed: agent online through b after {back:?}, name only on b after {moved:?}");
    assert!(moved < Duration::from_secs(3 + 3), "{moved:?}");
    // b gives the name another port than a did: the agent serves it under both.
    until_status(b.http, "app.localhost", 200, Duration::from_secs(5)).await;
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_given_several_edges_moves_on_when_its_edge_dies_and_every_edge_serves_it() {
    if !etcd_available("cluster agent with several edges") {
        return;
    }
    let etcd = Etcd::start().await;
    let ca = scratch_dir();
    let (pki, tunnel) = shared_tunnel_cert();
    // A long lease: a's placement outlives the whole test, so c must route around it.
    let mut a = cluster_edge_with(&etcd, "a", "20s", &ca, &tunnel).await;
    let b = cluster_edge_with(&etcd, "b", "20s", &ca, &tunnel).await;
    let c = cluster_edge_with(&etcd, "c", "20s", &ca, &tunnel).await;
    let (echo, _gate) = start_echo().await;
    let args: Vec<String> = vec![
        "http".into(),
        echo.to_string(),
        "--connect-url".into(),
        format!("localhost:{}, localhost:{}", a.tunnel, b.tunnel),
        "--connect-ca".into(),
        pki.join("ca.pem").display().to_string(),
        "--authtoken".into(),
        TOKEN.into(),
        "--url".into(),
        "http://app.localhost".into(),
    ];
    let mut agent = AgentProc::spawn(&args);
    // The first edge of the list answers.
    assert_eq!(
        agent.url().await,
        format!("http://app.localhost:{}", a.http)
    );
    let (first, _) = agent
        .wait_line(0, Duration::from_secs(5), |l| l.starts_with("Forwarding"))
        .await;
    until_status(c.http, "app.localhost", 200, Duration::from_secs(10)).await;
    a.kill();
    let killed = Instant::now();
    agent
        .wait_line(first + 1, Duration::from_secs(30), |l| {
            l.starts_with("Session Status") && l.ends_with("online")
        })
        .await;
    let online = killed.elapsed();
    // b gives the name its own URL (another port): the agent serves it all the same.
    until_status(b.http, "app.localhost", 200, Duration::from_secs(10)).await;
    // c still has a's placement until its lease ends: after one failed dial it passes over a.
    until_status(c.http, "app.localhost", 200, Duration::from_secs(10)).await;
    let served = killed.elapsed();
    for i in 0..20 {
        for edge in [&b, &c] {
            let reply = try_get(edge.http, "app.localhost", &format!("/after/{i}"))
                .await
                .expect("an answer");
            assert_eq!(
                reply.status, 200,
                "request {i} at :{} after the agent moved",
                edge.http
            );
        }
    }
    eprintln!(
        "edge killed: agent online through b after {online:?}, served at b and c after {served:?} (lease 20s)"
    );
    // All of it inside the dead edge's lease: c did not wait for the placement to go.
    let keys = etcd.keys("/sluice/placement/").await.expect("etcd answers");
    assert!(
        keys.iter().any(|k| k.ends_with("/app.localhost/a")),
        "a's placement should still be there: {keys:?}"
    );
    agent.kill();
}
