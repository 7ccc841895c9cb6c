//! Request and response helpers, reading `req` / `res` from the context.

#[path = "cel_common/mod.rs"]
mod common;

use cel::Value;
use common::{eval_with, request, response};
use serde_json::json;

fn on_request(expr: &str) -> Result<Value, cel::ExecutionError> {
    eval_with(expr, &[("req", request())])
}

fn on_response(expr: &str) -> Result<Value, cel::ExecutionError> {
    eval_with(expr, &[("req", request()), ("res", response())])
}

#[track_caller]
fn req_true(expr: &str) {
    assert_eq!(on_request(expr), Ok(Value::Bool(true)), "{expr}");
}

#[track_caller]
fn res_true(expr: &str) {
    assert_eq!(on_response(expr), Ok(Value::Bool(true)), "{expr}");
}

#[test]
fn request_headers_are_case_insensitive() {
    req_true("getReqHeader('X-Request-Id') == ['abc']");
    req_true("getReqHeader('accept') == ['text/html', 'application/json']");
    req_true("getReqHeader('missing') == []");
    req_true("hasReqHeader('ACCEPT') && !hasReqHeader('missing')");
}

#[test]
fn query_params() {
    req_true("getQueryParam('id') == ['7', '8'] && getQueryParam('q') == ['a b']");
    req_true("getQueryParam('ID') == [] && getQueryParam('nope') == []");
    req_true("hasQueryParam('id') && !hasQueryParam('nope')");
}

#[test]
fn request_cookies() {
    req_true("getReqCookie('session').value == 's1' && getReqCookie('session').name == 'session'");
    req_true("hasReqCookie('session') && !hasReqCookie('other')");
    let err = on_request("getReqCookie('other')").expect_err("no such cookie");
    assert!(err.to_string().contains("no such cookie"), "{err}");
}

#[test]
fn response_headers_and_cookies() {
    res_true("getResHeader('Content-Type') == ['application/json'] && getResHeader('x') == []");
    res_true("hasResHeader('content-type') && !hasResHeader('x')");
    res_true(
        "getResCookie('pref').value == 'deep' && getResCookie('pref').path == '/app/settings'",
    );
    res_true("hasResCookie('pref') && !hasResCookie('nope')");
    let err = on_response("getResCookie('nope')").expect_err("no such cookie");
    assert!(err.to_string().contains("no such cookie"), "{err}");
}

#[test]
fn helpers_read_the_context_of_each_evaluation() {
    let program = common::ENV
        .compile("getReqHeader('x-a')")
        .expect("compiles");
    for value in ["one", "two"] {
        let mut ctx = cel::Context::with_env(common::ENV.clone());
        let req = json!({"headers": {"x-a": [value]}});
        ctx.add_variable_from_value("req", cel::to_value(req).expect("converts"));
        assert_eq!(
            program.execute(&ctx),
            Ok(Value::List(vec![Value::from(value)].into()))
        );
    }
}

#[test]
fn helpers_are_not_shadowed_by_comprehension_variables() {
    req_true("[1].all(req, getReqHeader('x-request-id') == ['abc'])");
}

#[test]
fn missing_parts_read_as_absent() {
    let empty = [("req", json!({})), ("res", json!({}))];
    assert_eq!(
        eval_with("getReqHeader('a') == [] && !hasQueryParam('q')", &empty),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        eval_with("hasReqCookie('c') || hasResCookie('c')", &empty),
        Ok(Value::Bool(false))
    );
}

#[test]
fn missing_variable_is_an_error() {
    let err = eval_with("hasResHeader('x')", &[("req", request())]).expect_err("res unbound");
    assert!(err.to_string().contains("res"), "{err}");
}

#[test]
fn helpers_keep_their_name_in_references() {
    let program = common::ENV.compile("hasReqHeader('a')").expect("compiles");
    assert!(program.references().has_function("hasReqHeader"));
    assert!(sluice_policy::cel_fns::unknown_functions(&program).is_empty());
}
