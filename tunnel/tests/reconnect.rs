//! Reconnect: the edge restarts; the agent comes back with the same client id and URL.

mod common;

use std::time::Duration;

use common::{Edge, TOKEN, builder, edge, pki, soon, try_edge_at};
use sluice_tunnel::{
    Backoff, BindRequest, ConnectionState, Protocol, ReconnectingSession, ServerSettings,
    StreamHeader,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(100),
        multiplier: 2.0,
        jitter: 0.5,
    }
}

async fn restart_at(pki: &common::Pki, addr: &str) -> Edge {
    // The old listener closes asynchronously; retry the bind a bounded number of times.
    for _ in 0..400 {
        if let Ok(edge) = try_edge_at(pki, addr, ServerSettings::default()).await {
            return edge;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("could not listen on {addr} again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_after_edge_restart_rebinds_same_url() {
    let pki = pki();
    let first = edge(&pki).await;
    let addr = first.addr.clone();
    let rs = ReconnectingSession::start(builder(&pki, &first, TOKEN), fast_backoff());
    let sid1 = soon("first connect", rs.wait_connected())
        .await
        .expect("connected");
    let url = rs
        .bind(BindRequest::new(Protocol::Https))
        .await
        .expect("bind")
        .url;
    let s1 = soon("first session", first.server.accept())
        .await
        .expect("session");
    let client_id = s1.client_id().to_owned();

    let mut state = rs.state();
    first.server.shutdown();
    drop(first);
    soon(
        "agent notices",
        state.wait_for(|s| !matches!(s, ConnectionState::Connected { .. })),
    )
    .await
    .expect("state");

    let second = restart_at(&pki, &addr).await;
    let s2 = soon("second session", second.server.accept())
        .await
        .expect("session");
    assert_eq!(s2.client_id(), client_id);
    assert_ne!(s2.id(), sid1);
    let connected = soon(
        "reconnected",
        state.wait_for(|s| matches!(s, ConnectionState::Connected { session_id, .. } if *session_id == s2.id())),
    )
    .await
    .expect("state")
    .clone();
    assert_eq!(
        connected,
        ConnectionState::Connected {
            session_id: s2.id().to_owned(),
            rebind_errors: vec![]
        }
    );
    let seen = second.handler.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].url.as_deref(), Some(url.as_str()));
    assert_eq!(s2.binds().borrow()[0].url, url);

    // Traffic flows over the new session through the same accept().
    let header = StreamHeader {
        endpoint_url: url.clone(),
        client_addr: "192.0.2.10:1234".parse().expect("addr"),
        protocol: Protocol::Https,
        tls_terminated: false,
    };
    let mut e = s2.open_stream(&header).await.expect("open");
    e.write_all(b"ping").await.expect("write");
    e.shutdown().await.expect("shutdown");
    let (h, mut a) = soon("accept", rs.accept()).await.expect("stream");
    assert_eq!(h.endpoint_url, url);
    let mut got = Vec::new();
    soon("read", a.read_to_end(&mut got)).await.expect("read");
    assert_eq!(got, b"ping");
    rs.close();
    soon("closed", state.wait_for(|s| *s == ConnectionState::Closed))
        .await
        .expect("closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_stops_reconnecting() {
    let pki = pki();
    let edge = edge(&pki).await;
    let rs = ReconnectingSession::start(builder(&pki, &edge, "nope"), fast_backoff());
    let err = soon("give up", rs.wait_connected())
        .await
        .expect_err("fails");
    assert!(err.to_string().contains("unknown authtoken"), "{err}");
    assert!(matches!(*rs.state().borrow(), ConnectionState::Failed(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_edges_are_tried_in_turn_and_a_dead_one_is_passed_over() {
    let pki = pki();
    let live = edge(&pki).await;
    // A port nothing listens on: bound, then released.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let b = builder(&pki, &live, TOKEN).connect_addrs([dead.clone(), live.addr.clone()]);
    let rs = ReconnectingSession::start(b, fast_backoff());
    soon("connect through the second edge", rs.wait_connected())
        .await
        .expect("connected");
    soon("session", live.server.accept())
        .await
        .expect("a session on the live edge");
    rs.close();
}
