//! `sluice policy check`: a policy with an action after a terminating one loads with a warning
//! naming that action (exit 0), and `--strict` turns the warning into an error (exit 1).

use std::path::PathBuf;
use std::process::{Command, Output};

const POLICY: &str = "on_http_request:
  - actions:
      - type: custom-response
        config: {status_code: 503, body: maintenance}
      - type: log
        config: {metadata: {reached: never}}
";

fn write_policy() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-check-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("maintenance.yml");
    std::fs::write(&path, POLICY).expect("write policy");
    path
}

fn check(args: &[&str], path: &PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["policy", "check"])
        .args(args)
        .arg(path)
        .output()
        .expect("sluice runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn unreachable_action_is_a_warning_and_strict_makes_it_an_error() {
    let path = write_policy();
    let out = check(&[], &path);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("maintenance.yml:5:9: warning: "), "{all}");
    assert!(all.contains("`log` is unreachable"), "{all}");
    assert!(all.contains("ERR_SLUICE_2207"), "{all}");
    assert!(all.contains("maintenance.yml: ok"), "{all}");

    let out = check(&["--strict"], &path);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("warning: "), "{all}");
    assert!(all.contains("`log` is unreachable"), "{all}");
    assert!(all.contains("maintenance.yml: 1 error"), "{all}");

    let out = check(&["--strict", "--format", "json"], &path);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report[0]["valid"], false, "{report}");
    assert_eq!(report[0]["diagnostics"][0]["severity"], "error", "{report}");
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}
