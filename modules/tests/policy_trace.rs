//! The policy trace the engine records when asked (rules, expression results, actions and what
//! they changed), through the real loader, the built-in actions and the in-process harness.

use std::sync::Arc;

use bytes::Bytes;
use sluice_policy::harness::{self, ManualClock, TestConn, UpstreamReply};
use sluice_policy::trace::{Change, ExprResult, PolicyTrace, Side};
use sluice_policy::{LoadOptions, Policy, load_policy};

const POLICY: &str = r#"
on_tcp_connect:
  - name: note
    actions: [{type: set-vars, config: {vars: [{seen: "yes"}]}}]
on_http_request:
  - name: tag
    expressions: ["req.url.path.startsWith('/')"]
    actions:
      - type: add-headers
        config: {headers: {x-tagged: "1"}}
  - name: strip
    actions: [{type: remove-headers, config: {headers: [x-secret]}}]
  - name: only posts
    expressions: ["req.method == 'POST'", "true"]
    actions: [{type: deny}]
  - name: admin
    expressions: ["req.url.path.startsWith('/admin')"]
    actions: [{type: deny, config: {status_code: 403}}]
  - name: never reached
    actions: [{type: add-headers, config: {headers: {x-late: "1"}}}]
on_http_response:
  - expressions: ["res.status_code == 200"]
    actions: [{type: add-headers, config: {headers: {x-served: "yes"}}}]
"#;

fn load(yaml: &str) -> Policy {
    load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("loads")
}

async fn traced(policy: &Policy, path: &str) -> (PolicyTrace, PolicyTrace) {
    let mut conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    conn.trace = Some(Box::default());
    harness::tcp_connect(policy, &mut conn).await;
    let request = harness::request(
        "GET",
        &format!("https://app.example.com{path}"),
        &[("x-secret", "s")],
    );
    let out = harness::exchange_traced(
        policy,
        &conn,
        request,
        Bytes::new(),
        &UpstreamReply::default(),
    )
    .await;
    let http = out.exchange.trace.map(|t| *t).unwrap_or_default();
    let tcp = conn.trace.map(|t| *t).unwrap_or_default();
    (tcp, http)
}

#[tokio::test]
async fn a_denied_request_shows_the_header_it_got_and_the_deny() {
    let policy = load(POLICY);
    let (tcp, http) = traced(&policy, "/admin/x").await;

    assert_eq!(tcp.phases.len(), 1);
    assert_eq!(tcp.phases[0].phase, "on_tcp_connect");
    let note = &tcp.phases[0].rules[0].actions[0];
    assert_eq!(note.action_type, "set-vars");
    assert_eq!(
        note.changes,
        [Change::VarSet {
            name: "seen".into(),
            value: "\"yes\"".into()
        }]
    );

    let phases: Vec<_> = http.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["on_http_request", "on_http_response"]);
    let rules = &http.phases[0].rules;
    let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["tag", "strip", "only posts", "admin"],
        "rules after the deny are not evaluated"
    );

    let tag = &rules[0];
    assert!(tag.matched);
    assert_eq!(tag.expressions[0].expr, "req.url.path.startsWith('/')");
    assert_eq!(tag.expressions[0].result, ExprResult::Bool(true));
    assert_eq!(tag.actions[0].action_type, "add-headers");
    assert_eq!(tag.actions[0].effect, "added x-tagged");
    assert!(!tag.actions[0].terminated);
    assert_eq!(
        tag.actions[0].changes,
        [Change::HeaderAdded {
            side: Side::Request,
            name: "x-tagged".into(),
            value: "1".into()
        }]
    );

    let strip = &rules[1];
    assert!(strip.matched && strip.expressions.is_empty());
    assert_eq!(
        strip.actions[0].changes,
        [Change::HeaderRemoved {
            side: Side::Request,
            name: "x-secret".into()
        }]
    );

    let posts = &rules[2];
    assert!(!posts.matched);
    assert!(posts.actions.is_empty());
    assert_eq!(
        posts.expressions.len(),
        1,
        "evaluation stops at the first false expression"
    );
    assert_eq!(posts.expressions[0].result, ExprResult::Bool(false));

    let admin = &rules[3];
    assert!(admin.matched);
    assert_eq!(admin.actions[0].action_type, "deny");
    assert!(admin.actions[0].terminated);
    assert_eq!(admin.actions[0].effect, "responded 403");
    assert_eq!(
        admin.actions[0].changes,
        [Change::Responded { status: 403 }]
    );

    // The denied response still runs on_http_response; its rule does not match a 403.
    let resp = &http.phases[1].rules[0];
    assert_eq!(resp.name, "rule #0");
    assert!(!resp.matched);
    assert!(!http.truncated);
}

#[tokio::test]
async fn a_forwarded_request_shows_the_response_phase_changes() {
    let policy = load(POLICY);
    let (_, http) = traced(&policy, "/ok").await;
    let rules = &http.phases[0].rules;
    assert_eq!(rules.len(), 5, "every rule ran");
    assert_eq!(rules[3].expressions[0].result, ExprResult::Bool(false));
    let resp = &http.phases[1].rules[0];
    assert!(resp.matched);
    assert_eq!(
        resp.actions[0].changes,
        [Change::HeaderAdded {
            side: Side::Response,
            name: "x-served".into(),
            value: "yes".into()
        }]
    );
}

#[tokio::test]
async fn an_expression_error_is_its_result() {
    let policy = load(
        "on_http_request:\n  - name: bad\n    expressions: [\"req.headers['x-missing'][0] == 'a'\"]\n    actions: [{type: deny}]\n",
    );
    let (_, http) = traced(&policy, "/").await;
    let rule = &http.phases[0].rules[0];
    assert!(!rule.matched);
    match &rule.expressions[0].result {
        ExprResult::Error(message) => assert!(!message.is_empty()),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn url_rewrites_show_from_and_to() {
    let policy = load(
        "on_http_request:\n  - actions: [{type: url-rewrite, config: {from: '/old', to: '/new'}}]\n",
    );
    let (_, http) = traced(&policy, "/old?q=1").await;
    let changes = &http.phases[0].rules[0].actions[0].changes;
    assert_eq!(
        changes,
        &[Change::UrlRewritten {
            from: "/old?q=1".into(),
            to: "/new?q=1".into()
        }]
    );
}

#[tokio::test]
async fn tracing_off_records_nothing() {
    let policy = load(POLICY);
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    let request = harness::request("GET", "https://app.example.com/admin", &[]);
    let out = harness::exchange(
        &policy,
        &conn,
        request,
        Bytes::new(),
        &UpstreamReply::default(),
    )
    .await;
    assert!(out.exchange.trace.is_none());
    assert!(conn.trace.is_none());
    assert_eq!(out.status.map(|s| s.as_u16()), Some(403));
}

#[tokio::test]
async fn a_long_policy_is_cut_at_the_bound_and_says_so() {
    let mut yaml = String::from("on_http_request:\n");
    for i in 0..200 {
        yaml.push_str(&format!(
            "  - name: r{i}\n    expressions: [\"true\", \"true\"]\n    actions: [{{type: set-vars, config: {{vars: [{{v{i}: \"x\"}}]}}}}]\n"
        ));
    }
    let policy = load(&yaml);
    let (_, http) = traced(&policy, "/").await;
    assert!(http.truncated);
    let entries: usize = http
        .phases
        .iter()
        .flat_map(|p| &p.rules)
        .map(|r| {
            1 + r.expressions.len() + r.actions.iter().map(|a| 1 + a.changes.len()).sum::<usize>()
        })
        .sum();
    assert!(
        entries <= sluice_policy::trace::MAX_TRACE_ENTRIES,
        "{entries}"
    );
}
