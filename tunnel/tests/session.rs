//! Loopback tests over real TLS: auth, bind, proxy streams, half-close, reaping, heartbeats.

mod common;

use std::time::Duration;

use common::{TOKEN, builder, edge, edge_at, pki, soon};
use sluice_tunnel::{
    BindRequest, CloseReason, Protocol, ServerSettings, StreamHeader, StreamTimeouts, TunnelError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn header(url: &str, port: u16) -> StreamHeader {
    StreamHeader {
        endpoint_url: url.to_owned(),
        client_addr: format!("198.51.100.7:{port}").parse().expect("addr"),
        protocol: Protocol::Https,
        tls_terminated: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_ok_and_bad_token() {
    let pki = pki();
    let edge = edge(&pki).await;
    let b = builder(&pki, &edge, TOKEN).client_id("agent-1");
    let client = soon("connect", b.connect()).await.expect("auth ok");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");
    assert_eq!(session.client_id(), "agent-1");
    assert_eq!(client.client_id(), "agent-1");
    assert_eq!(session.id(), client.session_id());
    assert_eq!(session.account(), "acct-1");

    let bad = builder(&pki, &edge, "wrong");
    match soon("bad connect", bad.connect()).await {
        Err(TunnelError::AuthRejected(e)) => {
            assert_eq!(e.code, "ERR_SLUICE_AUTH_FAILED");
            assert_eq!(e.message, "unknown authtoken");
        }
        other => panic!("expected AuthRejected, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_is_refused() {
    let pki = pki();
    let other = common::pki();
    let edge = edge(&pki).await;
    let b = builder(&other, &edge, TOKEN);
    let err = soon("connect", b.connect())
        .await
        .expect_err("untrusted edge");
    // Retrying cannot fix an untrusted certificate: the reconnect loop must give up on it.
    assert!(err.is_fatal(), "{err}");
    assert!(
        err.to_string().contains("not trusted for localhost"),
        "{err}"
    );

    // A name the certificate does not cover is refused the same way.
    let wrong_name = builder(&pki, &edge, TOKEN).server_name("elsewhere.test");
    let err = soon("connect", wrong_name.connect())
        .await
        .expect_err("wrong name");
    assert!(err.is_fatal(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_edge_is_retryable() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr").to_string();
    drop(free);
    let b = sluice_tunnel::SessionBuilder::new(TOKEN).connect_addr(addr);
    let err = soon("connect", b.connect())
        .await
        .expect_err("nothing listens");
    assert!(!err.is_fatal(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_ok_refused_and_forbidden() {
    let pki = pki();
    let edge = edge(&pki).await;
    let client = soon("connect", builder(&pki, &edge, TOKEN).connect())
        .await
        .expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");
    let mut binds = session.binds();

    let ok = client
        .bind(BindRequest::new(Protocol::Https))
        .await
        .expect("bind");
    assert_eq!(ok.url, "https://r1.tunnel.test");
    soon("binds update", binds.wait_for(|b| b.len() == 1))
        .await
        .expect("watch");

    let named = BindRequest::new(Protocol::Http).with_url("http://app.tunnel.test");
    assert_eq!(
        client.bind(named).await.expect("named").url,
        "http://app.tunnel.test"
    );

    let bad = BindRequest::new(Protocol::Https).with_traffic_policy("bad policy");
    let err = client.bind(bad).await.expect_err("refused");
    let refusal = err.as_bind_refusal().expect("bind refusal");
    assert_eq!(refusal.code, "ERR_SLUICE_POLICY_INVALID");
    assert_eq!(refusal.message, common::POLICY_ERROR);
    assert_eq!(refusal.message.lines().count(), 2);

    let foreign = BindRequest::new(Protocol::Https).with_url("https://bank.example.com");
    let err = client.bind(foreign).await.expect_err("forbidden");
    assert_eq!(
        err.as_bind_refusal().map(|e| e.code.as_str()),
        Some("ERR_SLUICE_BIND_FORBIDDEN")
    );

    client
        .unbind("https://r1.tunnel.test")
        .await
        .expect("unbind");
    let now = soon(
        "unbind",
        binds.wait_for(|b| b.len() == 1 && b[0].url.starts_with("http://")),
    )
    .await
    .expect("watch")
    .clone();
    assert_eq!(now[0].url, "http://app.tunnel.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_stream_carries_header_and_bytes_both_ways() {
    let pki = pki();
    let edge = edge(&pki).await;
    let client = soon("connect", builder(&pki, &edge, TOKEN).connect())
        .await
        .expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");

    let h = header("https://r1.tunnel.test", 40000);
    let mut edge_side = session.open_stream(&h).await.expect("open");
    edge_side
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let (got, mut agent_side) = soon("accept", client.accept()).await.expect("stream");
    assert_eq!(got, h);
    let mut buf = [0u8; 18];
    soon("read", agent_side.read_exact(&mut buf))
        .await
        .expect("read");
    assert_eq!(&buf, b"GET / HTTP/1.1\r\n\r\n");
    agent_side
        .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
        .await
        .expect("write back");
    let mut back = [0u8; 27];
    soon("read back", edge_side.read_exact(&mut back))
        .await
        .expect("read back");
    assert_eq!(&back, b"HTTP/1.1 204 No Content\r\n\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_streams() {
    let pki = pki();
    let edge = edge(&pki).await;
    let client = soon("connect", builder(&pki, &edge, TOKEN).connect())
        .await
        .expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");

    // Agent: echo every stream, prefixed by its header's client port.
    let agent = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (h, mut s) = client.accept().await.expect("accept");
            tasks.push(tokio::spawn(async move {
                let mut data = Vec::new();
                s.read_to_end(&mut data).await.expect("read");
                s.write_all(&h.client_addr.port().to_be_bytes())
                    .await
                    .expect("port");
                s.write_all(&data).await.expect("echo");
                s.shutdown().await.expect("shutdown");
            }));
        }
        for t in tasks {
            t.await.expect("agent task");
        }
    });

    let mut tasks = Vec::new();
    for i in 0..100u16 {
        let session = session.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = session
                .open_stream(&header("https://r.tunnel.test", 30000 + i))
                .await?;
            let payload = vec![i as u8; 10_000 + usize::from(i) * 100];
            s.write_all(&payload).await?;
            s.shutdown().await?;
            let mut back = Vec::new();
            s.read_to_end(&mut back).await?;
            assert_eq!(&back[..2], &(30000 + i).to_be_bytes());
            assert_eq!(&back[2..], &payload[..]);
            Ok::<_, TunnelError>(())
        }));
    }
    for t in tasks {
        soon("stream", t).await.expect("join").expect("stream ok");
    }
    soon("agent", agent).await.expect("agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_propagates_both_ways() {
    let pki = pki();
    let edge = edge(&pki).await;
    let client = soon("connect", builder(&pki, &edge, TOKEN).connect())
        .await
        .expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");

    let mut e = session
        .open_stream(&header("tcp://edge:20001", 1))
        .await
        .expect("open");
    e.write_all(b"request").await.expect("write");
    e.shutdown().await.expect("half-close");
    let (_, mut a) = soon("accept", client.accept()).await.expect("stream");
    let mut req = Vec::new();
    soon("agent reads to EOF", a.read_to_end(&mut req))
        .await
        .expect("read");
    assert_eq!(req, b"request");
    // The agent can still answer after the edge half-closed.
    a.write_all(b"response").await.expect("answer");
    a.shutdown().await.expect("agent half-close");
    let mut resp = Vec::new();
    soon("edge reads to EOF", e.read_to_end(&mut resp))
        .await
        .expect("read");
    assert_eq!(resp, b"response");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_stream_is_reaped() {
    let pki = pki();
    let settings = ServerSettings {
        stream_timeouts: StreamTimeouts {
            idle: None,
            half_open: Some(Duration::from_millis(200)),
        },
        ..ServerSettings::default()
    };
    let edge = edge_at(&pki, "127.0.0.1:0", settings).await;
    let client = soon("connect", builder(&pki, &edge, TOKEN).connect())
        .await
        .expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");

    let mut e = session
        .open_stream(&header("tcp://edge:20001", 1))
        .await
        .expect("open");
    let (_, _agent_keeps_it_open) = soon("accept", client.accept()).await.expect("stream");
    e.shutdown().await.expect("half-close");
    // The agent never answers nor closes: the edge's read must fail with TimedOut.
    let mut buf = [0u8; 1];
    let err = soon("reap", e.read(&mut buf)).await.expect_err("reaped");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timer_follows_activity_and_half_close_shortens_it() {
    let pki = pki();
    let idle = Duration::from_millis(900);
    let settings = ServerSettings {
        stream_timeouts: StreamTimeouts {
            idle: Some(idle),
            half_open: Some(Duration::from_millis(100)),
        },
        ..ServerSettings::default()
    };
    let edge = edge_at(&pki, "127.0.0.1:0", settings).await;
    let client = soon("connect", builder(&pki, &edge, TOKEN).connect())
        .await
        .expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");
    let mut e = session
        .open_stream(&header("tcp://edge:20002", 1))
        .await
        .expect("open");
    let (_, mut a) = soon("accept", client.accept()).await.expect("stream");
    // A byte every 300 ms for over 2 idle periods: each read waits (arming the timer) and must
    // never be reaped, although the first deadline passes while the stream is in use.
    let begun = std::time::Instant::now();
    let mut buf = [0u8; 1];
    for i in 0..7u8 {
        let reader = tokio::spawn(async move {
            let r = e.read_exact(&mut buf).await.map(|_| buf[0]);
            (e, r)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.write_all(&[i]).await.expect("agent writes");
        let (back, got) = soon("edge reads", reader).await.expect("reader task");
        e = back;
        assert_eq!(got.expect("a used stream is not reaped"), i);
    }
    assert!(begun.elapsed() >= idle * 2);
    // Now quiet and half-closed: the 100 ms half-open limit reaps it; a timer left at the
    // idle deadline armed by the last wait would fire about 600 ms from here.
    e.shutdown().await.expect("half-close");
    let quiet = std::time::Instant::now();
    let err = soon("reap", e.read(&mut buf)).await.expect_err("reaped");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(
        quiet.elapsed() < Duration::from_millis(400),
        "half-open limit applies: {:?}",
        quiet.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_session_is_closed_after_tolerance() {
    let pki = pki();
    let edge = edge(&pki).await;
    // The agent promises heartbeats every hour but the edge tolerates 150 ms of silence.
    let b = builder(&pki, &edge, TOKEN)
        .heartbeat(Duration::from_secs(3600), Duration::from_millis(150));
    let client = soon("connect", b.connect()).await.expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");
    assert_eq!(
        soon("edge closes", session.closed()).await,
        CloseReason::HeartbeatTimeout
    );
    let reason = soon("agent notices", client.closed()).await;
    assert!(
        matches!(reason, CloseReason::PeerClosed | CloseReason::Error(_)),
        "{reason:?}"
    );
    assert!(
        session
            .open_stream(&header("https://x.tunnel.test", 1))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_session_alive() {
    let pki = pki();
    let edge = edge(&pki).await;
    let b =
        builder(&pki, &edge, TOKEN).heartbeat(Duration::from_millis(50), Duration::from_secs(1));
    let client = soon("connect", b.connect()).await.expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");
    // Many tolerance periods pass; the session must survive them all.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(session.close_reason(), None);
    assert_eq!(client.close_reason(), None);
    session.close("ERR_SLUICE_SESSION_REPLACED", "a newer session took over");
    match soon("agent sees GoAway", client.closed()).await {
        CloseReason::GoAway { code, .. } => assert_eq!(code, "ERR_SLUICE_SESSION_REPLACED"),
        other => panic!("unexpected close reason {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_trace_sink_that_blocks_does_not_stop_the_heartbeats() {
    let pki = pki();
    let edge = edge(&pki).await;
    // The sink blocks its thread until the test ends, as a sink far slower than the edge's
    // traces would; the heartbeat acks behind those traces must still be read.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let wait = std::sync::Mutex::new(wait);
    let sink: sluice_tunnel::TraceSink = std::sync::Arc::new(move |_report| {
        let _released = wait.lock().map(|w| w.recv());
    });
    let b = builder(&pki, &edge, TOKEN)
        .heartbeat(Duration::from_millis(50), Duration::from_millis(400))
        .on_trace(sink);
    let client = soon("connect", b.connect()).await.expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");
    let report = sluice_tunnel::TraceReport {
        endpoint_url: "http://app.localhost".into(),
        trace_id: 1,
        answered: None,
        trace: Default::default(),
        tls: None,
    };
    for _ in 0..10 {
        session.send_trace(report.clone());
    }
    // Several tolerance periods pass while the sink is stuck on the first report.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(client.close_reason(), None, "the agent kept its session");
    assert_eq!(session.close_reason(), None);
    drop(release);
}
