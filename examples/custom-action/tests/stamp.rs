//! The custom action loads, runs, and its binary checks policies that use it.

use std::process::Command;
use std::sync::Arc;

use sluice_policy::harness::{self, ManualClock, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, load_policy};

const POLICY: &str = "on_http_request:\n  - actions:\n      - type: stamp-request\n        config: {label: checkout}\n";

#[tokio::test]
async fn stamps_requests_going_upstream() {
    let policy = load_policy(
        "p.yml",
        POLICY,
        &sluice_custom_action_example::registry(),
        LoadOptions::default(),
    )
    .expect("policy loads with the custom registry");
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://shop.example.com"),
        clock,
    );
    let out = harness::exchange(
        &policy,
        &conn,
        harness::request("POST", "https://shop.example.com/cart", &[]),
        bytes::Bytes::new(),
        &UpstreamReply::default(),
    )
    .await;
    let saw = out.upstream.expect("forwarded");
    assert_eq!(
        saw.headers.get("x-stamp").map(|v| v.to_str().unwrap_or("")),
        Some("checkout:POST")
    );
}

#[test]
fn built_in_registry_does_not_know_it() {
    let err = load_policy(
        "p.yml",
        POLICY,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect_err("unknown without the custom registry");
    assert!(
        err.to_string()
            .contains("unknown action type `stamp-request`"),
        "{err}"
    );
}

#[test]
fn the_custom_binary_checks_policies_using_it() {
    let dir = std::env::temp_dir().join(format!("sluice-stamp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good.yml");
    std::fs::write(&good, POLICY).expect("write");
    let bad = dir.join("bad.yml");
    std::fs::write(&bad, POLICY.replace("checkout", "\"\"")).expect("write");
    let bin = env!("CARGO_BIN_EXE_sluice-with-stamp");
    let ok = Command::new(bin)
        .args(["policy", "check"])
        .arg(&good)
        .output()
        .expect("runs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let fail = Command::new(bin)
        .args(["policy", "check"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(fail.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&fail.stderr);
    assert!(
        stderr.contains(
            "bad.yml:4:25: on_http_request[0].actions[0].config.label: must be 1 to 64 characters"
        ),
        "{stderr}"
    );
}
