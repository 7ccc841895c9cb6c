use std::sync::Arc;
use sluice_policy::{load_policy, LoadOptions, harness::{self, ManualClock, TestConn, UpstreamReply}};

fn policy_text(path: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("policy:") { inside = true; continue; }
        if inside && !line.starts_with(' ') && !line.is_empty() { break; }
        if inside { out.push_str(line.get(2..).unwrap_or("")); out.push('\n'); }
    }
    out
}

#[tokio::test]
async fn all_load() {
    for dir in ["verify-webhook", "basic-auth", "restrict-ips"] {
        let d = format!("{}/../conformance/suite/{dir}", env!("CARGO_MANIFEST_DIR"));
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for f in rd {
            let p = f.unwrap().path();
            let t = policy_text(p.to_str().unwrap());
            load_policy("t.yml", &t, &sluice_modules::builtin_registry(), LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            println!("ok {}", p.display());
        }
    }
    let t = policy_text(&format!("{}/../conformance/suite/verify-webhook/enforce-false.policytest.yml", env!("CARGO_MANIFEST_DIR")));
    let p = load_policy("t.yml", &t, &sluice_modules::builtin_registry(), LoadOptions::default()).unwrap();
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(&TestConn::default(), harness::endpoint("https://app.example.com"), clock.clone());
    let out = harness::exchange(&p, &conn, harness::request("POST", "/hooks", &[]), bytes::Bytes::from("{}"), &UpstreamReply::default()).await;
    println!("{:?} {:?}", out.upstream.as_ref().map(|u| u.headers.clone()), out.exchange.fired);
    let t = policy_text(&format!("{}/../conformance/suite/verify-webhook/twitter-crc.policytest.yml", env!("CARGO_MANIFEST_DIR")));
    let p = load_policy("t.yml", &t, &sluice_modules::builtin_registry(), LoadOptions::default()).unwrap();
    let out = harness::exchange(&p, &conn, harness::request("GET", "/twitter?crc_token=abc", &[]), bytes::Bytes::new(), &UpstreamReply::default()).await;
    println!("{:?} {:?} {:?}", out.status, out.headers, out.body);
}
