//! Policy trace reports for inspected endpoints (`sluice_tunnel::trace`): a request to an
//! inspected endpoint carries a trace id to the agent, and its trace follows on the control
//! stream, except when there is nothing to trace: an endpoint without policy rules, reached
//! over plain HTTP, gets the id 0 and no report (a report per request was most of what
//! inspection cost under load).

mod tunnel_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_tunnel::{
    BindRequest, ClientSession, NO_REPORT_TRACE_ID, Protocol, SessionBuilder, TraceReport,
};
use tunnel_common::{Edge, eventually, get, serve_heads, start_edge, temp_dir};

const POLICY: &str = "on_http_request:\n  - actions:\n      - type: add-headers\n        config:\n          headers: {x-a: b}\n";

/// An inspecting agent on `edge` whose trace reports land in the returned list.
async fn inspecting_agent(edge: &Edge) -> (Arc<ClientSession>, Arc<Mutex<Vec<TraceReport>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink_reports = reports.clone();
    let sink: sluice_tunnel::TraceSink = Arc::new(move |r| {
        if let Ok(mut all) = sink_reports.lock() {
            all.push(r);
        }
    });
    let client = SessionBuilder::new("tok-a")
        .connect_addr(edge.tunnel.clone())
        .server_name("localhost")
        .ca_pem(edge.ca_pem.clone())
        .client_id("inspector")
        .on_trace(sink)
        .connect()
        .await
        .expect("agent");
    (Arc::new(client), reports)
}

/// The trace id the agent received, from an answer of [`serve_heads`] (`none` without one).
fn trace_id_seen(answer: &str) -> String {
    let head = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    head.lines()
        .find_map(|l| l.strip_prefix("sluice-trace-id:"))
        .map_or("none".to_string(), |v| v.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_without_policy_gets_no_trace_reports() {
    let dir = temp_dir("trace-reports");
    let edge = start_edge(&dir).await;
    let (agent, reports) = inspecting_agent(&edge).await;
    let mut plain = BindRequest::new(Protocol::Http).with_url("http://plain.localhost");
    plain.inspect = true;
    agent.bind(plain).await.expect("bind plain");
    let mut ruled = BindRequest::new(Protocol::Http).with_url("http://ruled.localhost");
    ruled.inspect = true;
    ruled.traffic_policy = Some(POLICY.to_string());
    agent.bind(ruled).await.expect("bind ruled");
    serve_heads(agent.clone());

    for _ in 0..3 {
        let answer = get(edge.http, "plain.localhost").await;
        assert_eq!(
            trace_id_seen(&answer),
            NO_REPORT_TRACE_ID.to_string(),
            "no policy, no TLS: the id says no report follows: {answer}"
        );
    }
    let answer = get(edge.http, "ruled.localhost").await;
    let ruled_id: u64 = trace_id_seen(&answer).parse().expect("a trace id");
    assert_ne!(ruled_id, NO_REPORT_TRACE_ID);

    // The policy endpoint's report comes; by then the plain endpoint's would have, as each
    // is sent once its request is over, in order on one control stream.
    eventually("the policy endpoint's report", || {
        let reports = reports.clone();
        async move { reports.lock().is_ok_and(|r| !r.is_empty()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = reports.lock().expect("reports").clone();
    assert_eq!(got.len(), 1, "one report, for the policy endpoint: {got:?}");
    assert_eq!(got[0].trace_id, ruled_id);
    assert!(
        got[0].endpoint_url.starts_with("http://ruled.localhost"),
        "{got:?}"
    );
    assert_eq!(got[0].trace.phases.len(), 1, "{got:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
