//! Helpers shared by the action tests: load a policy with the built-in actions, and read an
//! action's result variables.

#![allow(dead_code)]

use sluice_policy::harness::Outcome;
use sluice_policy::{LoadOptions, Policy, load_policy};

/// Loads a policy that must be valid.
pub fn load(yaml: &str) -> Policy {
    load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("policy loads")
}

/// Loads a policy that must be invalid; returns every error, one per line.
pub fn load_err(yaml: &str) -> String {
    load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect_err("policy must not load")
    .to_string()
}

/// `actions.ngrok.<name>` after the exchange, as JSON.
pub fn result_of(out: &Outcome, name: &str) -> serde_json::Value {
    out.exchange
        .results()
        .get(name)
        .map(sluice_policy::cel::value::to_json)
        .unwrap_or_else(|| panic!("actions.ngrok.{name} is set"))
}
