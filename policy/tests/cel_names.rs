//! The list of known functions, and detecting unknown ones at load time.

#[path = "cel_common/mod.rs"]
mod common;

use std::sync::Arc;

use sluice_policy::cel_fns::{function_names, is_known_function, unknown_functions};

fn unknown(expr: &str) -> Vec<String> {
    unknown_functions(&common::ENV.compile(expr).expect("compiles"))
}

#[test]
fn unknown_functions_are_reported() {
    assert_eq!(
        unknown("frobnicate(1) || 'a'.frob()"),
        ["frob", "frobnicate"]
    );
    assert_eq!(unknown("hash.nope('x')"), ["hash.nope"]);
    assert_eq!(unknown("req.headers.nope()"), ["nope"]);
    let program = common::ENV.compile("frobnicate(1)").expect("compiles");
    assert!(program.references().has_function("frobnicate"));
    assert!(!is_known_function("frobnicate"));
}

#[test]
fn known_functions_pass() {
    for expr in [
        "hash.sha256('x') == 'x'.sha256() && url.parse('/').path == '/'",
        "[1, 2].exists(x, x > 1) && [3, 1].sortBy(x, x) == [1, 3]",
        "math.greatest(1, 2) == 2 && optional.of(1).hasValue() && 1 in [1]",
        "getReqHeader('a').size() == 0 || rand.int(0, 2) < 2 || {'a': 1}.?a.hasValue()",
        "'a'.matches('a') && base64.decode('YQ==') == b'a' && lists.range(1) == [0]",
        "has({'a': 1}.a) && [1].map(x, x)[0] == 1 && -(1) < 0 && !false",
    ] {
        assert_eq!(unknown(expr), Vec::<String>::new(), "{expr}");
    }
}

#[test]
fn function_names_are_sorted_and_include_ours() {
    let names = function_names();
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    for name in [
        "getReqHeader",
        "hash.sha256",
        "sha256",
        "json.decode",
        "matches",
        "_==_",
    ] {
        assert!(names.contains(&name), "{name}");
    }
}

/// A function the `Env` declares can't be added to a `Context` under the
/// same name: that tells every listed name is really declared.
#[test]
fn every_listed_function_is_declared_in_the_env() {
    let mut ctx = cel::Context::with_env(Arc::clone(&common::ENV));
    for name in function_names() {
        let is_builtin =
            name.starts_with('_') || ["!_", "-_", "@in", "@not_strictly_false"].contains(name);
        if is_builtin {
            continue;
        }
        let added = ctx.add_function(name, |x: i64| x);
        assert!(added.is_err(), "{name} is listed but not declared");
    }
}
