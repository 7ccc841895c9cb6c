//! The `matches` cache. Alone in its test binary so that no other test
//! compiles patterns while it counts.

#[path = "cel_common/mod.rs"]
mod common;

use cel::Value;
use common::eval_with;
use serde_json::json;

#[test]
fn a_pattern_is_compiled_once() {
    let before = sluice_policy::cel_fns::regex_compilations();
    // A literal pattern is compiled with the program...
    let program = common::ENV
        .compile("s.matches('^cache-test-[0-9]+$')")
        .expect("compiles");
    assert_eq!(sluice_policy::cel_fns::regex_compilations(), before + 1);
    // ...and every evaluation hits the cache.
    for i in 0..10 {
        let mut ctx = cel::Context::with_env(common::ENV.clone());
        ctx.add_variable_from_value("s", format!("cache-test-{i}"));
        assert_eq!(program.execute(&ctx), Ok(Value::Bool(true)));
    }
    assert_eq!(sluice_policy::cel_fns::regex_compilations(), before + 1);

    // A computed pattern compiles on first use only.
    let vars = [("p", json!("^dyn-[a-z]+$")), ("s", json!("dyn-abc"))];
    assert_eq!(eval_with("matches(s, p)", &vars), Ok(Value::Bool(true)));
    assert_eq!(eval_with("s.matches(p)", &vars), Ok(Value::Bool(true)));
    assert_eq!(sluice_policy::cel_fns::regex_compilations(), before + 2);
}
