//! The fast path against the interpreter: every expression below, on every request below,
//! must give the interpreter's answer whenever the fast path answers at all.

use std::sync::Arc;

use crate::cel::{Expr, FieldSet, Scope, ScopeVar};
use crate::exchange::{BufferedBody, Exchange};
use crate::harness::{self, ManualClock, TestConn};
use crate::values;

use super::View;

/// Expressions the fast path must take (they have a fast form).
const FAST: &[&str] = &[
    "true",
    "req.url.path == '/healthz'",
    "'/healthz' == req.url.path",
    "req.url.path != '/healthz'",
    "req.url.raw_path.startsWith('/admin')",
    "req.url.path.endsWith('.png')",
    "req.url.path.contains('v2')",
    "req.url.query.contains('page=3')",
    "req.url.path.matches('^/api/v[0-9]+/')",
    "matches(req.url.path, 'USERS$')",
    "req.method == 'POST'",
    "req.method in ['GET', 'HEAD']",
    "req.user_agent.contains('curl')",
    "req.user_agent == ''",
    "req.user_agent.is_bot",
    "!req.user_agent.is_mobile && !req.user_agent.is_tablet || req.user_agent.is_desktop",
    "inCidrRange(conn.client_ip, '10.0.0.0/8')",
    "!inCidrRange(conn.client_ip, '192.0.2.0/24')",
    "inCidrRange(conn.client_ip, 'not a network')",
    "inCidrRange(conn.client_ip, '2001:db8::/32')",
    "conn.client_ip == '10.1.2.3'",
    "conn.client_ip.startsWith('::ffff:')",
    "hasReqHeader('x-tenant')",
    "hasReqHeader('X-Tenant')",
    "hasReqHeader('not a header')",
    "hasResHeader('server')",
    "res.status_code == 200",
    "res.status_code >= 500",
    "404 > res.status_code",
    "res.status_code != 304 && hasResHeader('content-type')",
    "req.url.path.startsWith('/static/') || req.method == 'DELETE'",
    "getReqHeader('X-Tenant')[0] == 'acme'",
    // String-valued, as `${…}` templates use them.
    "getReqHeader('x-tenant')[0]",
    "getReqHeader('user-agent')[0]",
    "conn.client_ip",
    "req.url.path",
    "req.url.query",
    "req.method",
    "req.user_agent",
];

/// Expressions that stay with the interpreter.
const SLOW: &[&str] = &[
    "req.url.path.size() > 3",
    "req.headers['x-tenant'][0] == 'acme'",
    "getReqHeader('x-tenant').exists(v, v == 'acme')",
    "req.method == 1",
    "req.method in ['GET', 1]",
    "req.url.path.matches(req.method)",
    "inCidrRange(req.host, '10.0.0.0/8')",
    "res.status_code == 200u",
    "getReqHeader('x-tenant')[1]",
    "getReqHeader('not a header')[0]",
    "'literal'",
];

fn requests() -> Vec<http::request::Parts> {
    vec![
        harness::request("GET", "https://app.example.com/healthz", &[]),
        harness::request(
            "GET",
            "https://app.example.com/api/v2/users?page=3",
            &[
                (
                    "user-agent",
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                ),
                ("x-tenant", "acme"),
            ],
        ),
        harness::request(
            "POST",
            "https://app.example.com/admin/USERS",
            &[(
                "user-agent",
                "Googlebot/2.1 (+http://www.google.com/bot.html)",
            )],
        ),
        harness::request(
            "HEAD",
            "https://app.example.com/static/logo.png",
            &[("user-agent", "curl/8.5.0"), ("X-TENANT", "")],
        ),
        {
            // A User-Agent that is not UTF-8: the fast path defers to the interpreter.
            let mut r = harness::request("DELETE", "https://app.example.com/", &[]);
            r.headers.insert(
                http::header::USER_AGENT,
                http::HeaderValue::from_bytes(b"caf\xe9").expect("opaque value"),
            );
            r
        },
    ]
}

fn responses() -> Vec<Option<http::response::Parts>> {
    let make = |status: u16, headers: &[(&str, &str)]| {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Some(b.body(()).expect("response").into_parts().0)
    };
    vec![
        None,
        make(200, &[("server", "nginx"), ("content-type", "text/plain")]),
        make(304, &[]),
        make(404, &[("content-type", "text/html")]),
        make(503, &[("Server", "x")]),
    ]
}

const CLIENTS: &[&str] = &[
    "10.1.2.3:5000",
    "192.0.2.7:1",
    "[::ffff:10.9.9.9]:2",
    "[2001:db8::1]:3",
];

fn interpreted(
    expr: &Expr,
    conn: &crate::exchange::Connection,
    ex: &Exchange,
) -> Option<cel::Value> {
    let mut scope = Scope::new();
    scope.set_shared(ScopeVar::Conn, conn.conn_value.clone());
    scope.set_val(
        ScopeVar::Req,
        values::request_val(ex, &conn.endpoint, FieldSet::all(), conn.now()),
    );
    if let Some(res) = &ex.response {
        scope.set_val(
            ScopeVar::Res,
            values::response_val(res, &ex.response_trailers, FieldSet::all()),
        );
    }
    expr.eval(&scope).ok()
}

#[test]
fn the_fast_path_gives_the_interpreters_answers() {
    let mut answered = 0;
    for src in FAST.iter().chain(SLOW) {
        let expr = Expr::compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(
            expr.fast_form().is_some(),
            FAST.contains(src),
            "`{src}`: fast form expected: {}",
            FAST.contains(src)
        );
        for client in CLIENTS {
            let conn = harness::connection(
                &TestConn {
                    client: client.parse().expect("address"),
                    ..TestConn::default()
                },
                harness::endpoint("https://app.example.com"),
                Arc::new(ManualClock::new()),
            );
            for req in requests() {
                for res in responses() {
                    let mut ex = Exchange::new(req.clone(), Box::new(BufferedBody::default()));
                    ex.response = res;
                    let view = View {
                        req: &ex.request,
                        res: ex.response.as_ref(),
                        conn: &conn.info,
                    };
                    let Some(fast) = expr.fast_form().and_then(|f| f.eval(&view)) else {
                        continue;
                    };
                    answered += 1;
                    assert_eq!(
                        Some(fast),
                        interpreted(&expr, &conn, &ex),
                        "`{src}` on {} {} from {client}, response {:?}",
                        ex.request.method,
                        ex.request.uri,
                        ex.response.as_ref().map(|r| r.status)
                    );
                }
            }
        }
    }
    assert!(
        answered > 1000,
        "the fast path answered only {answered} times"
    );
}

#[test]
fn fast_expressions_need_nothing_bound() {
    let fast = Expr::compile("hasReqHeader('x') && req.url.path == '/'").expect("compiles");
    assert!(!fast.needs().req.is_empty());
    assert!(fast.interpreted_needs().req.is_empty());
    let slow = Expr::compile("req.headers.size() > 0").expect("compiles");
    assert_eq!(slow.interpreted_needs(), slow.needs());
}
