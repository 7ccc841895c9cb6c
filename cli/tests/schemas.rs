//! The checked-in JSON Schemas must match what the code generates. Regenerate with
//! `SLUICE_BLESS=1 cargo test -p sluice --test schemas`.

use std::path::PathBuf;

fn check(name: &str, generated: serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(name);
    let text = serde_json::to_string_pretty(&generated).expect("schema serializes") + "\n";
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write schema");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{} is out of date: run `SLUICE_BLESS=1 cargo test -p sluice --test schemas`",
        path.display()
    );
}

#[test]
fn policy_schema_is_current() {
    check(
        "policy.schema.json",
        sluice_policy::schema::policy_schema(&sluice_modules::builtin_registry()),
    );
}

#[test]
fn policytest_schema_is_current() {
    check(
        "policytest.schema.json",
        sluice_conformance::format::policytest_schema(),
    );
}

#[test]
fn edge_config_schema_is_current() {
    check(
        "edge-config.schema.json",
        sluice_proxy::config::edge_config_schema(),
    );
}

#[test]
fn example_policies_validate_against_the_schema() {
    let schema = sluice_policy::schema::policy_schema(&sluice_modules::builtin_registry());
    let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("policies folder") {
        let path = entry.expect("entry").path();
        let name = path.to_string_lossy().to_string();
        if !name.ends_with(".yml") || name.ends_with(".policytest.yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let node = sluice_source::parse(&text).expect("parses");
        let errors: Vec<String> = validator
            .iter_errors(&node.to_json())
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        seen += 1;
    }
    assert!(seen >= 2);
}
