//! `forward-internal` through the real loader and the engine: config checks at load, the
//! hand-off it records for the host, and its failures (offline, loop, hop limit, protocol)
//! answered with `halt` or recorded for later rules with `continue`.

use std::sync::Arc;

use bytes::Bytes;
use sluice_policy::harness::{self, ManualClock, TestConn, UpstreamReply};
use sluice_policy::{
    BufferedBody, Exchange, InternalEndpoints, InternalRouting, MAX_FORWARD_ENDPOINTS,
    RequestVerdict,
};

mod common;
use common::{load, load_err, result_of};

/// Internal endpoints that are online: exactly these URLs.
struct Online(Vec<&'static str>);

impl InternalEndpoints for Online {
    fn is_online(&self, url: &str) -> bool {
        self.0.contains(&url)
    }
}

fn forward(url: &str, on_error: &str) -> String {
    format!(
        "on_http_request:\n  - actions:\n      - type: forward-internal\n        config: {{url: \"{url}\", on_error: {on_error}}}\n      - type: custom-response\n        config: {{status_code: 503, body: \"fallback ${{actions.ngrok.forward_internal.error.code}}\"}}\n"
    )
}

/// Runs the request phase of `yaml` for `path` on `https://app.example.com` with the given
/// routing; returns the verdict and the exchange.
async fn request_phase(
    yaml: &str,
    path: &str,
    routing: Option<InternalRouting>,
) -> (RequestVerdict, Exchange) {
    let policy = load(yaml);
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let req = harness::request("GET", &format!("https://app.example.com{path}"), &[]);
    let mut ex = Exchange::new(req, Box::new(BufferedBody(Bytes::new())));
    ex.internal = routing;
    let verdict = policy.on_http_request(&conn, &mut ex).await;
    (verdict, ex)
}

fn routing(online: Vec<&'static str>, visited: &[&str]) -> InternalRouting {
    InternalRouting {
        endpoints: Arc::new(Online(online)),
        visited: visited.iter().map(|s| s.to_string()).collect(),
    }
}

fn error_code(ex: &Exchange) -> Option<String> {
    ex.response
        .as_ref()?
        .headers
        .get("sluice-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn an_online_target_gets_the_request_and_ends_the_phase() {
    let yaml = "on_http_request:\n  - actions:\n      - type: forward-internal\n        config: {url: \"https://${req.url.path.split('/')[1]}.INTERNAL:443/\"}\n  - actions:\n      - type: deny\n";
    let online = routing(vec!["https://api.internal"], &["https://app.example.com"]);
    let (verdict, ex) = request_phase(yaml, "/api/users", Some(online)).await;
    assert_eq!(verdict, RequestVerdict::Forward);
    assert_eq!(ex.forward_target(), Some("https://api.internal"));
    assert!(ex.response.is_none(), "the later deny must not run");
    assert_eq!(ex.fired.len(), 1);
}

#[tokio::test]
async fn an_offline_target_halts_with_3200_or_falls_back_with_continue() {
    let policy = load(&forward("https://api.internal", "halt").replace(
        "      - type: custom-response\n        config: {status_code: 503, body: \"fallback ${actions.ngrok.forward_internal.error.code}\"}\n",
        "",
    ));
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    let req = harness::request("GET", "https://app.example.com/", &[]);
    let out = harness::exchange(&policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await;
    assert_eq!(out.status.map(|s| s.as_u16()), Some(404));
    assert_eq!(
        out.headers
            .get("sluice-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("ERR_SLUICE_3200")
    );
    assert!(out.upstream.is_none());

    let policy = load(&forward("https://api.internal", "continue"));
    let req = harness::request("GET", "https://app.example.com/", &[]);
    let out = harness::exchange(&policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await;
    assert_eq!(out.status.map(|s| s.as_u16()), Some(503));
    assert_eq!(out.body, Bytes::from_static(b"fallback ERR_SLUICE_3200"));
    let result = result_of(&out, "forward_internal");
    assert_eq!(result["url"], "https://api.internal");
    assert_eq!(result["error"]["code"], "ERR_SLUICE_3200");
    assert_eq!(
        result["error"]["message"],
        "The endpoint https://api.internal is offline."
    );
}

#[tokio::test]
async fn loops_and_hop_limits_have_their_codes() {
    let yaml = forward("https://a.internal", "halt");
    let looped = routing(
        vec!["https://a.internal"],
        &[
            "https://app.example.com",
            "https://a.internal",
            "https://b.internal",
        ],
    );
    let (verdict, ex) = request_phase(&yaml, "/", Some(looped)).await;
    assert_eq!(verdict, RequestVerdict::Responded);
    assert_eq!(ex.response.as_ref().map(|r| r.status.as_u16()), Some(508));
    assert_eq!(error_code(&ex).as_deref(), Some("ERR_SLUICE_3603"));

    let long: Vec<String> = (0..MAX_FORWARD_ENDPOINTS)
        .map(|i| format!("https://hop{i}.internal"))
        .collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    let (verdict, ex) =
        request_phase(&yaml, "/", Some(routing(vec!["https://a.internal"], &long))).await;
    assert_eq!(verdict, RequestVerdict::Responded);
    assert_eq!(error_code(&ex).as_deref(), Some("ERR_SLUICE_3501"));

    // With `continue`, a loop is recorded and the fallback answers.
    let yaml = forward("https://a.internal", "continue");
    let looped = routing(
        vec!["https://a.internal"],
        &["https://app.example.com", "https://a.internal"],
    );
    let (_, ex) = request_phase(&yaml, "/", Some(looped)).await;
    assert_eq!(ex.response.as_ref().map(|r| r.status.as_u16()), Some(503));
    assert_eq!(
        ex.response_body,
        Some(Bytes::from_static(b"fallback ERR_SLUICE_3603"))
    );
}

#[tokio::test]
async fn a_target_of_another_protocol_or_not_internal_is_an_error_at_request_time() {
    let online = || {
        Some(routing(
            vec!["tcp://db.internal:5432"],
            &["https://app.example.com"],
        ))
    };
    let (_, ex) = request_phase(&forward("tcp://db.internal:5432", "halt"), "/", online()).await;
    assert_eq!(ex.response.as_ref().map(|r| r.status.as_u16()), Some(500));
    assert_eq!(error_code(&ex).as_deref(), Some("ERR_SLUICE_2300"));

    let yaml = forward("https://${req.url.path.split('/')[1]}.example.com", "halt");
    let (_, ex) = request_phase(&yaml, "/api", online()).await;
    assert_eq!(error_code(&ex).as_deref(), Some("ERR_SLUICE_2300"));
}

#[test]
fn config_is_checked_at_load() {
    let e = load_err(
        "on_http_request:\n  - actions:\n      - type: forward-internal\n        config: {url: \"https://api.example.com\"}\n",
    );
    assert!(e.contains("t.yml:4:"), "{e}");
    assert!(e.contains("must end in .internal"), "{e}");
    let e = load_err(
        "on_http_request:\n  - actions:\n      - type: forward-internal\n        config: {url: \"https://api.internal\", binding: internal}\n",
    );
    assert!(e.contains("binding"), "{e}");
    let e = load_err(
        "on_http_request:\n  - actions:\n      - type: forward-internal\n        config: {url: \"https://api.internal\", on_error: retry}\n",
    );
    assert!(e.contains("on_error") || e.contains("retry"), "{e}");
    let e = load_err(
        "on_http_response:\n  - actions:\n      - type: forward-internal\n        config: {url: \"https://api.internal\"}\n",
    );
    assert!(e.contains("on_http_response"), "{e}");
}

/// Runs `on_tcp_connect` of a `tcp://` endpoint forwarding to `url`; whether it closed, the
/// connection's hand-off target and the recorded error code.
async fn tcp_phase(
    url: &str,
    on_error: &str,
    routing: Option<InternalRouting>,
) -> (bool, Option<String>, Option<String>) {
    let yaml = format!(
        "on_tcp_connect:\n  - actions:\n      - type: forward-internal\n        config: {{url: \"{url}\", on_error: {on_error}}}\n"
    );
    let policy = load(&yaml);
    let mut conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("tcp://1.tcp.example.com:20000"),
        Arc::new(ManualClock::new()),
    );
    conn.internal = routing;
    let closed = harness::tcp_connect(&policy, &mut conn).await;
    let code = conn.results.get("forward_internal").and_then(|v| {
        sluice_policy::cel::value::to_json(v)["error"]["code"]
            .as_str()
            .map(str::to_owned)
    });
    (closed, conn.forward_to.clone(), code)
}

#[tokio::test]
async fn tcp_connections_are_handed_off_to_the_same_protocol_only() {
    let here = "tcp://1.tcp.example.com:20000";
    let online = || Some(routing(vec!["tcp://db.internal:5432"], &[here]));
    let (closed, to, code) = tcp_phase("tcp://db.internal:5432", "halt", online()).await;
    assert!(!closed);
    assert_eq!(to.as_deref(), Some("tcp://db.internal:5432"));
    assert_eq!(code, None);
    // Offline, halting: closed, the code recorded.
    let (closed, to, code) = tcp_phase("tcp://gone.internal:1", "halt", online()).await;
    assert!(closed);
    assert_eq!(to, None);
    assert_eq!(code.as_deref(), Some("ERR_SLUICE_3200"));
    // Another protocol: 2300; with `continue` the connection goes on where it was.
    let (closed, to, code) = tcp_phase("tls://db.internal", "continue", online()).await;
    assert!(!closed);
    assert_eq!(to, None);
    assert_eq!(code.as_deref(), Some("ERR_SLUICE_2300"));
    // A loop: 3603.
    let looped = Some(routing(
        vec!["tcp://db.internal:5432"],
        &[here, "tcp://db.internal:5432"],
    ));
    let (closed, _, code) = tcp_phase("tcp://db.internal:5432", "halt", looped).await;
    assert!(closed);
    assert_eq!(code.as_deref(), Some("ERR_SLUICE_3603"));
}
