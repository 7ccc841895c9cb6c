//! Policies written the way ngrok's documentation writes them load unchanged with the built-in
//! registry; those that use an action sluice does not implement fail with exactly one
//! "unknown action type" error (ERR_SLUICE_2201) and nothing else. Examples that rely on
//! ngrok's managed OAuth apps load once a client id and secret are supplied, and say so
//! without them.

use std::path::{Path, PathBuf};

use sluice_policy::{Code, LoadOptions, Policy, PolicyError, load_policy};

/// Examples whose only problem is an action sluice lacks: file name → that action type.
const LACKING: &[(&str, &str)] = &[("owasp-crs-request.yml", "owasp-crs-request")];

/// Examples that use ngrok's managed OAuth apps: file name → the line after which a client id
/// and secret are inserted (a self-hosted edge has no managed apps).
const NEEDS_CLIENT: &[(&str, &str)] = &[
    ("oauth-google.yml", "          provider: google\n"),
    (
        "oauth-github-session-options.yml",
        "          provider: github\n",
    ),
];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ngrok_examples")
}

/// Every example file (`.yml` and `.json`), sorted by name.
fn examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).expect("examples dir") {
        let path = entry.expect("dir entry").path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "yml" && ext != "json" {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("readable example");
        out.push((name, text));
    }
    out.sort();
    out
}

fn load(name: &str, text: &str) -> Result<Policy, PolicyError> {
    load_policy(
        name,
        text,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
}

#[test]
fn there_are_enough_examples_and_every_lacking_one_exists() {
    let all = examples();
    assert!(all.len() >= 15, "only {} examples", all.len());
    for (file, _) in LACKING {
        assert!(
            all.iter().any(|(n, _)| n == file),
            "{file} is listed in LACKING but missing"
        );
    }
}

#[test]
fn the_lacking_actions_are_really_not_registered() {
    let registry = sluice_modules::builtin_registry();
    for (file, action) in LACKING {
        assert!(
            registry.get(action).is_none(),
            "sluice now implements `{action}`: move {file} out of LACKING"
        );
    }
}

#[test]
fn examples_for_implemented_actions_load_unchanged() {
    let mut failures = Vec::new();
    for (name, text) in examples() {
        if LACKING.iter().any(|(f, _)| *f == name) || NEEDS_CLIENT.iter().any(|(f, _)| *f == name) {
            continue;
        }
        if let Err(e) = load(&name, &text) {
            failures.push(format!("{name}:\n{e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "examples that should load failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn examples_with_a_missing_action_fail_with_one_unknown_type_error() {
    for (file, action) in LACKING {
        let text = std::fs::read_to_string(examples_dir().join(file)).expect("example");
        let err = match load(file, &text) {
            Ok(_) => panic!("{file} loaded, but sluice has no `{action}` action"),
            Err(e) => e,
        };
        let errors: Vec<_> = err.errors().collect();
        assert_eq!(
            errors.len(),
            1,
            "{file}: expected exactly one error, got:\n{err}"
        );
        let only = errors[0];
        assert_eq!(only.code, Code::UnknownActionType, "{file}: {only}");
        let text = only.to_string();
        assert!(text.contains("unknown action type"), "{file}: {text}");
        assert!(text.contains(&format!("`{action}`")), "{file}: {text}");
        assert!(text.contains("ERR_SLUICE_2201"), "{file}: {text}");
        assert!(only.path.ends_with("actions[0].type"), "{file}: {text}");
    }
}

#[test]
fn managed_app_examples_load_with_a_client_and_say_what_is_missing_without() {
    for (file, after) in NEEDS_CLIENT {
        let text = std::fs::read_to_string(examples_dir().join(file)).expect("example");
        let Err(err) = load(file, &text) else {
            panic!("{file} loads without a client id");
        };
        let message = err.to_string();
        assert!(message.contains("missing `client_id`"), "{file}: {message}");
        assert!(
            message.contains("missing `client_secret`"),
            "{file}: {message}"
        );
        assert!(message.contains("ERR_SLUICE_2203"), "{file}: {message}");
        let supplied = text.replacen(
            after,
            &format!("{after}          client_id: my-app\n          client_secret: my-secret\n"),
            1,
        );
        assert_ne!(supplied, text, "{file}: `{after}` not found");
        if let Err(e) = load(file, &supplied) {
            panic!("{file} with a client id:\n{e}");
        }
    }
}
