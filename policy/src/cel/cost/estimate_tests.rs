//! Tests of the cost estimator.

use super::*;
use crate::cel::env::policy_env;

fn cost(src: &str) -> u64 {
    let mut ast = policy_env()
        .compile(src)
        .expect("compiles")
        .expression()
        .clone();
    crate::cel::subfields::rewrite_subfields(&mut ast);
    estimate_cost(&ast)
}

fn list(n: usize) -> String {
    let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(","))
}

#[test]
fn plain_expressions_cost_their_nodes() {
    assert_eq!(cost("1 + 2 == 3"), 5);
    assert_eq!(cost("true"), 1);
}

#[test]
fn literal_list_sizes_multiply_through_nesting() {
    let one = cost(&format!("{}.exists(a, a == -1)", list(1000)));
    let two = cost(&format!(
        "{}.exists(a, {}.exists(b, a + b == -1))",
        list(1000),
        list(1000)
    ));
    let three = cost(&format!(
        "{l}.exists(a, {l}.exists(b, {l}.exists(c, a + b + c == -1)))",
        l = list(1000)
    ));
    assert!((5_000..20_000).contains(&one), "{one}");
    assert!(two > 1000 * one / 2, "{two} vs {one}");
    assert!(three > 1000 * two / 2, "{three} vs {two}");
    assert!(
        three > 1_000 * super::super::limits::STATIC_COST_LIMIT,
        "{three}"
    );
}

#[test]
fn request_derived_values_are_bounded_by_input_limits() {
    // A regex over the URL path scans at most the largest request head.
    let m = cost("req.url.path.matches('^/api/')");
    assert!(
        m > REQUEST_HEAD_BYTES / 10 && m < REQUEST_HEAD_BYTES / 10 + 10,
        "{m}"
    );
    // One pass over the headers is fine; one nested in another is not.
    let one = cost("req.headers.exists(k, k.startsWith('x-'))");
    assert!(
        (HEADER_COUNT..super::super::limits::STATIC_COST_LIMIT).contains(&one),
        "{one}"
    );
    let two = cost("req.headers.exists(k, req.headers.exists(j, j == k))");
    assert!(two > super::super::limits::STATIC_COST_LIMIT, "{two}");
}

#[test]
fn the_bench_policy_is_far_below_the_limit() {
    let worst = [
        "req.url.path == '/healthz'",
        "req.url.path.startsWith('/admin')",
        "!inCidrRange(conn.client_ip, '10.0.0.0/8')",
        "req.user_agent.is_bot",
        "req.url.path.matches('^/api/v[0-9]+/')",
        "hasReqHeader('x-tenant')",
        "getReqHeader('x-tenant')[0]",
        "req.url.path.endsWith('.bin') || req.url.path.startsWith('/static/')",
        "hasResHeader('server')",
    ]
    .into_iter()
    .map(cost)
    .max()
    .unwrap_or_default();
    assert!(worst < 110_000, "{worst}");
    assert!(worst * 50 < super::super::limits::STATIC_COST_LIMIT);
}

#[test]
fn split_and_map_derive_their_sizes() {
    let split = cost("'a,b,c'.split(',').exists(x, x == 'b')");
    assert!(split < 100, "{split}");
    let header_split = cost("getReqHeader('x')[0].split(',').exists(x, x == 'b')");
    assert!(header_split > REQUEST_HEAD_BYTES, "{header_split}");
    let mapped = cost(&format!(
        "{}.map(x, x * 2).exists(y, {}.exists(z, z == y))",
        list(100),
        list(100)
    ));
    assert!(mapped > 100 * 100, "{mapped}");
}

/// ngrok's documentation examples that loop over header, query or cookie values, and more of
/// the same shape: each scan of the values is bounded by the head they all come from.
const DOCUMENTED: &[&str] = &[
    "getReqHeader('tier').exists(v, v.matches('(?i)bronze'))",
    "size(req.headers['user-agent'].filter(x, x.matches('(?i).*(bot|crawler|spider).*'))) > 0",
    "req.headers['user-agent'].exists(x, x.contains('curl'))",
    "getReqHeader('accept-language').all(v, v.contains('en'))",
    "getReqHeader('x-tags').map(v, v.lower()).exists(v, v == 'beta')",
    "req.headers.exists(k, k.matches('^x-internal-'))",
    "req.headers.all(k, !k.contains('forwarded'))",
    "size(req.headers.filter(k, k.startsWith('x-'))) < 20",
    "req.headers.map(k, k.upper()).exists(k, k.contains('X-DEBUG'))",
    "getQueryParam('q').exists(v, v.matches('(?i)<script'))",
    "getQueryParam('tag').all(v, v.matches('^[a-z]+$'))",
    "req.url.path.split('/').exists(p, p == 'admin')",
    "req.cookies.exists(k, k.startsWith('__Host-'))",
];

#[test]
fn loops_over_the_values_of_one_head_are_bounded_by_the_head() {
    let limit = super::super::limits::STATIC_COST_LIMIT;
    for src in DOCUMENTED {
        let c = cost(src);
        assert!(c <= limit, "{src}: {c}");
        // Still more than one full regex scan of the head: the bound is not free.
        assert!(c > REQUEST_HEAD_BYTES / 10, "{src}: {c}");
    }
}

#[test]
fn nested_loops_over_one_head_are_still_refused() {
    let limit = super::super::limits::STATIC_COST_LIMIT;
    for src in [
        "getReqHeader('a').exists(x, getReqHeader('a').exists(y, x == y))",
        "req.headers.exists(k, req.headers[k].exists(v, v.matches('a')))",
        "getQueryParam('q').exists(x, getQueryParam('q').all(y, x.contains(y)))",
        "req.url.path.split('/').exists(p, req.url.path.split('/').exists(q, p == q))",
        // A regex for every comma-separated part of every value: a million regex calls.
        "getReqHeader('a').exists(v, v.split(',').exists(p, p.matches('x')))",
        "lists.range(100000).exists(i, req.url.path.matches('^/api/' + string(i)))",
    ] {
        let c = cost(src);
        assert!(c > limit, "{src}: {c}");
    }
}

#[test]
fn map_results_are_bounded_by_what_the_transform_makes() {
    // Each element doubled: the mapped list may be twice the head, and is scanned as such.
    let once = cost("getReqHeader('a').map(v, v).exists(v, v.matches('x'))");
    let doubled = cost("getReqHeader('a').map(v, v + v).exists(v, v.matches('x'))");
    assert!(doubled > once, "{doubled} vs {once}");
}

#[test]
fn deeply_nested_loops_over_values_are_estimated_quickly() {
    // Each level estimated through totals walks its body about 20 times (twice for `map`);
    // past three levels the plain product takes over, so this stays a few thousand walks.
    let mut src = "v5.matches('x')".to_string();
    for i in (0..6).rev() {
        src = format!("getReqHeader('h{i}').map(v{}, {src}).exists(w, w)", i + 1);
    }
    let started = std::time::Instant::now();
    let c = cost(&src);
    assert!(c > super::super::limits::STATIC_COST_LIMIT, "{c}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
