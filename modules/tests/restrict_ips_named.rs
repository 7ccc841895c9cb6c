//! `restrict-ips` with `ip_policies: [name]`: the names resolve against the edge config's named
//! IP policies (here handed to the loader as the edge does), a missing name is a load error at
//! its line and column, and loads without an edge config say what they do with names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{IpPolicy, IpPolicyNames, LoadOptions, Policy, load_policy, parse_net};

mod common;

const POLICY: &str = "on_http_request:
  - actions:
      - type: restrict-ips
        config:
          ip_policies: [office, ipp_2abc]
          deny: [10.9.0.0/16]
";

fn known() -> IpPolicyNames {
    let nets = |list: &[&str]| list.iter().filter_map(|t| parse_net(t)).collect();
    let mut all = BTreeMap::new();
    all.insert(
        "office".to_string(),
        IpPolicy {
            allow: nets(&["10.0.0.0/8"]),
            deny: nets(&["10.0.0.66"]),
        },
    );
    all.insert(
        "ipp_2abc".to_string(),
        IpPolicy {
            allow: nets(&["2001:db8::/32"]),
            deny: Vec::new(),
        },
    );
    IpPolicyNames::Known(Arc::new(all))
}

fn load(text: &str, names: IpPolicyNames) -> Result<Policy, sluice_policy::PolicyError> {
    load_policy(
        "p.yml",
        text,
        &sluice_modules::builtin_registry(),
        LoadOptions {
            ip_policies: names,
            ..LoadOptions::default()
        },
    )
}

async fn send(policy: &Policy, client: &str) -> Outcome {
    let ip: std::net::IpAddr = client.parse().expect("test IP");
    let conn = harness::connection(
        &TestConn {
            client: SocketAddr::new(ip, 40000),
            ..TestConn::default()
        },
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    let req = harness::request("GET", "https://app.example.com/", &[]);
    harness::exchange(policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await
}

#[tokio::test]
async fn named_policies_join_allow_and_deny() {
    let p = load(POLICY, known()).expect("loads");
    let out = send(&p, "10.1.2.3").await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert_eq!(
        common::result_of(&out, "restrict_ips")["matched_cidr"],
        json!("10.0.0.0/8")
    );
    assert_eq!(send(&p, "2001:db8::1").await.status, Some(StatusCode::OK));

    // Denied by a named policy's deny entry: ngrok's "blocked by IP Policy" code.
    let out = send(&p, "10.0.0.66").await;
    assert_eq!(out.status, Some(StatusCode::FORBIDDEN));
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3203");
    let r = common::result_of(&out, "restrict_ips");
    assert_eq!(r["matched_cidr"], json!("10.0.0.66/32"));
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("of IP policy \"office\"")),
        "{r}"
    );
    // Outside every allowed range, all of which come from named policies: 3203 too.
    let out = send(&p, "203.0.113.7").await;
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3203");
    // Denied by the action's own list: 3205, as before.
    let out = send(&p, "10.9.1.1").await;
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3205");
}

#[test]
fn a_missing_name_is_a_load_error_at_its_line_and_column() {
    let text = POLICY.replace("ipp_2abc", "ipp_missing");
    let e = load(&text, known()).expect_err("must not load").to_string();
    assert!(e.contains("p.yml:5:"), "{e}");
    assert!(e.contains("config.ip_policies[1]"), "{e}");
    assert!(
        e.contains(
            "no IP policy named \"ipp_missing\" in the edge's config (defined: ipp_2abc, office)"
        ),
        "{e}"
    );
}

#[test]
fn without_an_edge_config_a_name_cannot_load() {
    let e = load(POLICY, IpPolicyNames::Unavailable)
        .expect_err("must not load")
        .to_string();
    assert!(e.contains("config.ip_policies"), "{e}");
    assert!(e.contains("loaded without one"), "{e}");
}

#[tokio::test]
async fn a_deferred_load_warns_and_refuses_if_ever_run() {
    let p = load(POLICY, IpPolicyNames::Deferred).expect("loads");
    let warnings: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("\"office\" is looked up in the edge's config"),
        "{warnings:?}"
    );
    let out = send(&p, "10.1.2.3").await;
    assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(out.upstream.is_none());
}
