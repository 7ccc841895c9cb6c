//! `policy_eval`: a realistic 10-rule policy run against one request (both HTTP phases),
//! with and without the policy trace, plus the hot actions on their own. With the allocator
//! the `sluice` binary ships with, so the figures are the ones the edge gets.

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use sluice_policy::harness::{self, ManualClock, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, Policy, load_policy};

const TEN_RULES: &str = r#"
on_http_request:
  - name: health
    expressions: ["req.url.path == '/healthz'"]
    actions: [{type: custom-response, config: {status_code: 200, body: ok}}]
  - name: block admin from outside
    expressions: ["req.url.path.startsWith('/admin')", "!inCidrRange(conn.client_ip, '10.0.0.0/8')"]
    actions: [{type: deny}]
  - name: bots
    expressions: ["req.user_agent.is_bot"]
    actions: [{type: deny, config: {status_code: 403}}]
  - name: legacy redirect
    expressions: ["req.url.path.startsWith('/old/')"]
    actions: [{type: custom-response, config: {status_code: 301, headers: {location: /new}}}]
  - name: api version
    expressions: ["req.url.path.matches('^/api/v[0-9]+/')"]
    actions: [{type: add-headers, config: {headers: {x-api: "1"}}}]
  - name: tenant
    expressions: ["hasReqHeader('x-tenant')"]
    actions: [{type: set-vars, config: {vars: [{tenant: "${getReqHeader('x-tenant')[0]}"}]}}]
  - name: rate limit
    expressions: ["req.method == 'POST'"]
    actions: [{type: rate-limit, config: {name: w, algorithm: sliding_window, capacity: 1000000000, rate: 60s, bucket_key: [conn.client_ip]}}]
  - name: strip cookies to static
    expressions: ["req.url.path.startsWith('/static/')"]
    actions: [{type: remove-headers, config: {headers: [cookie]}}]
on_http_response:
  - name: security headers
    actions: [{type: add-headers, config: {headers: {x-frame-options: DENY, x-content-type-options: nosniff}}}]
  - name: hide server
    expressions: ["hasResHeader('server')"]
    actions: [{type: remove-headers, config: {headers: [server]}}]
"#;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load(yaml: &str) -> Policy {
    load_policy(
        "bench.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("bench policy loads")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let reply = UpstreamReply::default();
    let request = harness::request(
        "GET",
        "https://app.example.com/api/v2/users?page=3",
        &[
            ("user-agent", "Mozilla/5.0"),
            ("x-tenant", "acme"),
            ("accept", "*/*"),
            // bob:battery-staple
            ("authorization", "Basic Ym9iOmJhdHRlcnktc3RhcGxl"),
        ],
    );
    let policy = load(TEN_RULES);
    c.bench_function("policy_eval/10_rules", |b| {
        b.iter(|| {
            rt.block_on(harness::exchange(
                &policy,
                &conn,
                request.clone(),
                Bytes::new(),
                &reply,
            ))
        })
    });
    // The same run with the policy trace recorded, as the edge does for inspected endpoints.
    c.bench_function("policy_eval/10_rules_traced", |b| {
        b.iter(|| {
            rt.block_on(harness::exchange_traced(
                &policy,
                &conn,
                request.clone(),
                Bytes::new(),
                &reply,
            ))
        })
    });
    let empty = Policy::empty();
    c.bench_function("policy_eval/empty_policy_baseline", |b| {
        b.iter(|| {
            rt.block_on(harness::exchange(
                &empty,
                &conn,
                request.clone(),
                Bytes::new(),
                &reply,
            ))
        })
    });
    for (name, yaml) in [
        (
            "add_headers",
            "on_http_request:\n  - actions: [{type: add-headers, config: {headers: {x-a: \"${conn.client_ip}\"}}}]\n",
        ),
        (
            "rate_limit",
            "on_http_request:\n  - actions: [{type: rate-limit, config: {name: r, algorithm: sliding_window, capacity: 1000000000, rate: 60s, bucket_key: [conn.client_ip]}}]\n",
        ),
        (
            "restrict_ips",
            "on_http_request:\n  - actions: [{type: restrict-ips, config: {allow: [203.0.113.0/24, 10.0.0.0/8, '2001:db8::/32'], deny: [203.0.113.99/32]}}]\n",
        ),
        (
            "basic_auth",
            "on_http_request:\n  - actions: [{type: basic-auth, config: {credentials: ['alice:correct-horse', 'bob:battery-staple']}}]\n",
        ),
    ] {
        let p = load(yaml);
        c.bench_function(&format!("action/{name}"), |b| {
            b.iter(|| {
                rt.block_on(harness::exchange(
                    &p,
                    &conn,
                    request.clone(),
                    Bytes::new(),
                    &reply,
                ))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
