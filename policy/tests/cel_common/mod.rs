//! Shared test harness: compiles with the sluice `Env` and executes exactly
//! as production does, with a fresh `Context::with_env` per evaluation.
#![allow(dead_code)]

use std::sync::{Arc, LazyLock};

use cel::{Context, Env, ExecutionError, Value};
use serde_json::json;

pub static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    Arc::new(sluice_policy::cel_fns::ngrok_env().expect("the environment builds"))
});

/// Compiles and evaluates `expr` with no variables bound.
pub fn eval(expr: &str) -> Result<Value, ExecutionError> {
    eval_with(expr, &[])
}

/// Compiles `expr`, binds `vars` (JSON values) and evaluates.
pub fn eval_with(expr: &str, vars: &[(&str, serde_json::Value)]) -> Result<Value, ExecutionError> {
    let program = ENV
        .compile(expr)
        .unwrap_or_else(|e| panic!("`{expr}` should compile: {e}"));
    let mut ctx = Context::with_env(Arc::clone(&ENV));
    for (name, value) in vars {
        ctx.add_variable_from_value(*name, cel::to_value(value).expect("JSON converts"));
    }
    program.execute(&ctx)
}

/// Asserts that `expr` evaluates to `true`.
#[track_caller]
pub fn assert_true(expr: &str) {
    assert_eq!(eval(expr), Ok(Value::Bool(true)), "{expr}");
}

/// Asserts that `expr` fails to evaluate, with a message containing `needle`.
#[track_caller]
pub fn assert_err(expr: &str, needle: &str) {
    match eval(expr) {
        Err(e) => assert!(e.to_string().contains(needle), "{expr}: {e}"),
        Ok(v) => panic!("{expr}: expected an error, got {v:?}"),
    }
}

/// A request as the engine binds it.
pub fn request() -> serde_json::Value {
    json!({
        "method": "GET",
        "url": "https://example.com/api/v1/users?id=7&id=8&q=a+b",
        "host": "example.com",
        "headers": {
            "x-request-id": ["abc"],
            "accept": ["text/html", "application/json"],
        },
        "cookies": {
            "session": [{"name": "session", "value": "s1"}, {"name": "session", "value": "s2"}],
        },
        "__url": {
            "path": "/api/v1/users",
            "query": "id=7&id=8&q=a+b",
            "query_params": {"id": ["7", "8"], "q": ["a b"]},
        },
    })
}

/// A response as the engine binds it.
pub fn response() -> serde_json::Value {
    json!({
        "status_code": 200,
        "headers": {"content-type": ["application/json"]},
        "cookies": {
            "pref": [
                {"name": "pref", "value": "root", "path": "/"},
                {"name": "pref", "value": "deep", "path": "/app/settings"},
                {"name": "pref", "value": "mid", "path": "/app"},
            ],
        },
    })
}
