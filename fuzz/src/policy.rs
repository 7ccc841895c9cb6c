//! Targets for the Traffic Policy loader and the CEL compiler.

use std::sync::OnceLock;

use sluice_policy::cel::{Expr, Template};
use sluice_policy::{LoadOptions, Protocol, Registry, load_policy};

/// The built-in actions, built once: loading validates each action's config with them.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(sluice_modules::builtin_registry)
}

/// YAML or JSON policy text → compiled policy or diagnostics, for an endpoint of unknown
/// protocol and for a TCP one (which allows only `on_tcp_connect`).
pub fn policy_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for protocol in [None, Some(Protocol::Tcp)] {
        match load_policy(
            "fuzz.yml",
            text,
            registry(),
            LoadOptions {
                protocol,
                ..LoadOptions::default()
            },
        ) {
            Ok(policy) => {
                for w in policy.warnings() {
                    let _ = w.to_string();
                }
            }
            Err(err) => {
                assert!(
                    err.errors().next().is_some(),
                    "a refused policy names an error"
                );
                let _ = err.to_string();
            }
        }
    }
}

/// An action config string with `${…}` interpolations → compiled template or error.
pub fn cel_template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Template::compile(text) {
        Ok(t) => {
            assert_eq!(t.source(), text);
            let _ = (t.as_static(), t.is_dynamic(), t.needs(), t.exprs().count());
        }
        Err(e) => {
            assert!(e.offset <= text.len(), "error offset inside the string");
            let _ = e.to_string();
        }
    }
}

/// A CEL expression (a rule's `expressions` entry) → compiled expression or error.
pub fn cel_expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Expr::compile(text) {
        Ok(e) => {
            let _ = e.needs();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
