//! The runner against an in-process edge: it reports `Online` with the assigned URLs, serves
//! them, unbinds them when stopped, and ends with the edge's code when a bind is refused.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_agent::config::ResolvedEndpoint;
use sluice_agent::runner::{RunError, RunEvent, Runner};
use sluice_agent::{EndpointKind, HostHeader, Upstream};
use sluice_tunnel::SessionBuilder;
use support::{get, start_edge, start_upstream, temp_dir};
use tokio::sync::{mpsc, oneshot};

fn endpoint(name: &str, url: &str, upstream: u16) -> ResolvedEndpoint {
    ResolvedEndpoint {
        name: name.into(),
        kind: EndpointKind::Http,
        url: Some(url.into()),
        description: None,
        metadata: None,
        pooling_enabled: false,
        bindings: Vec::new(),
        traffic_policy: None,
        upstream: Upstream::parse(&format!("http://127.0.0.1:{upstream}"), EndpointKind::Http)
            .expect("upstream"),
        inspect: false,
        host_header: HostHeader::Preserve,
        agent_tls: None,
        also_http: false,
        subdomain: None,
    }
}

fn session(tunnel: &str, ca: &[u8]) -> SessionBuilder {
    SessionBuilder::new("tok")
        .connect_addr(tunnel)
        .server_name("localhost")
        .ca_pem(ca.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_reports_serves_and_unbinds_on_stop() {
    let dir = temp_dir("runner");
    let (http, tunnel, ca) = start_edge(&dir).await;
    let upstream = start_upstream("through the runner").await;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop) = oneshot::channel::<()>();
    let runner = Runner::new(
        session(&tunnel, &ca),
        vec![
            endpoint("a", "http://run-a.localhost", upstream),
            endpoint("b", "http://run-b.localhost", upstream),
        ],
    )
    .on_event(move |e| {
        let _ = events_tx.send(e);
    });
    let run = tokio::spawn(runner.run(async {
        let _ = stop.await;
    }));

    let forwarding = loop {
        match tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
            Ok(Some(RunEvent::Online { forwarding, web })) => {
                assert_eq!(web, None);
                break forwarding;
            }
            Ok(Some(_)) => continue,
            other => panic!("no Online event: {other:?}"),
        }
    };
    let urls: Vec<_> = forwarding.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(urls.len(), 2);
    assert!(urls[0].starts_with("http://run-a.localhost:"), "{urls:?}");
    assert!(urls[1].starts_with("http://run-b.localhost:"), "{urls:?}");
    assert_eq!(
        forwarding[0].upstream,
        format!("http://127.0.0.1:{upstream}")
    );
    for url in urls {
        let answer = get(http, url).await;
        assert!(answer.ends_with("through the runner"), "{answer}");
    }

    let _ = stop_tx.send(());
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run stops")
        .expect("join");
    assert!(result.is_ok(), "{result:?}");
    let after = get(http, "http://run-a.localhost").await;
    assert!(!after.starts_with("HTTP/1.1 200"), "still served: {after}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bind_ends_the_run_with_the_edges_code() {
    let dir = temp_dir("runner-refused");
    let (_http, tunnel, ca) = start_edge(&dir).await;
    let upstream = start_upstream("unused").await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        Runner::new(
            session(&tunnel, &ca),
            vec![endpoint("first", "http://first.localhost", upstream), {
                let mut bad = endpoint("second", "http://second.localhost", upstream);
                bad.traffic_policy = Some("on_http_request: [{actions: [{type: nope}]}]".into());
                bad
            }],
        )
        .on_event(move |e| seen.lock().expect("lock").push(e))
        .run(std::future::pending()),
    )
    .await
    .expect("the run ends by itself");
    match result {
        Err(RunError::BindRefused { endpoint, code, .. }) => {
            assert_eq!(endpoint, "second");
            assert_eq!(code, "ERR_SLUICE_POLICY_INVALID");
        }
        other => panic!("expected a refused bind, got {other:?}"),
    }
    let online = events
        .lock()
        .expect("lock")
        .iter()
        .any(|e| matches!(e, RunEvent::Online { .. }));
    assert!(!online, "reported online although a bind failed");
    let _ = std::fs::remove_dir_all(&dir);
}
