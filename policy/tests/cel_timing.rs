//! Micro-timing sanity print; run with
//! `cargo test --release --test timing -- --ignored --nocapture`.

#[path = "cel_common/mod.rs"]
mod common;

use std::time::Instant;

use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use serde_json::json;

/// Binds `req` to a value built once, borrowed by every evaluation: what
/// the engine's per-request resolver does.
struct Request(Box<dyn Val>);

impl VariableResolver for Request {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        (variable == "req").then(|| CowVal::Borrowed(self.0.as_ref()))
    }
}

#[test]
#[ignore = "timing print, not a correctness test"]
fn matches_timing() {
    const N: u32 = 100_000;
    let req = cel::to_value(json!({
        "url": {"path": "/api/v2/users/42"},
        "headers": {"x-request-id": ["abc"]},
    }))
    .expect("converts");
    let resolver = Request(req.try_into().expect("converts to a Val"));
    for expr in [
        "true",
        "req.url.path == '/api/v2/users/42'",
        "req.url.path.matches('^/api/v[0-9]+/')",
        "matches(req.url.path, '^/api/v[0-9]+/(users|groups)/[0-9]+$')",
        "getReqHeader('X-Request-Id') == ['abc']",
        "!hasReqHeader('authorization')",
        "req.url.path.startsWith('/api/')",
        "inCidrRange('10.1.2.3', '10.0.0.0/8')",
        "'/api/v2/x'.startsWith('/api/')",
        "'/api/v2/x'.matches('^/api/v[0-9]+/')",
    ] {
        let program = common::ENV.compile(expr).expect("compiles");
        let run = || {
            let mut ctx = cel::Context::with_env(common::ENV.clone());
            ctx.set_variable_resolver(&resolver);
            assert_eq!(program.execute(&ctx), Ok(cel::Value::Bool(true)), "{expr}");
        };
        (0..N / 10).for_each(|_| run());
        let start = Instant::now();
        (0..N).for_each(|_| run());
        let elapsed = start.elapsed();
        println!(
            "{expr:<70} {:>6.0} ns/eval",
            elapsed.as_nanos() as f64 / f64::from(N)
        );
    }
}
