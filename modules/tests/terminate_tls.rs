//! `terminate-tls` through the real loader and the in-process harness: what it loads, what it
//! refuses at load, and the options it hands the listener.

use std::sync::Arc;

use sluice_policy::harness::{self, ManualClock, TestConn};
use sluice_policy::{ClientAuth, LoadOptions, Policy, TlsVersion, load_policy};

fn load(yaml: &str) -> Result<Policy, String> {
    load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

/// A policy whose one `on_tcp_connect` action is `terminate-tls` with `config` (JSON).
fn with_config(config: &serde_json::Value) -> Result<Policy, String> {
    let doc = serde_json::json!({
        "on_tcp_connect": [{"actions": [{"type": "terminate-tls", "config": config}]}]
    });
    load_policy(
        "t.json",
        &doc.to_string(),
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

fn pair(name: &str) -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// Runs `on_tcp_connect` for `url`; whether it closed, and the options it set.
async fn connect(p: &Policy, url: &str) -> (bool, Option<Arc<sluice_policy::TlsTermination>>) {
    let clock = Arc::new(ManualClock::new());
    let test = TestConn {
        sni: Some("app.example.com".into()),
        ..TestConn::default()
    };
    let mut conn = harness::connection(&test, harness::endpoint(url), clock);
    let closed = harness::tcp_connect(p, &mut conn).await;
    (closed, conn.tls_termination.clone())
}

#[tokio::test]
async fn the_quickstart_terminates_with_the_edge_certificate_and_defaults() {
    let p = load("on_tcp_connect:\n  - actions:\n      - type: terminate-tls\n").expect("loads");
    let (closed, options) = connect(&p, "tls://app.example.com").await;
    assert!(!closed);
    let options = options.expect("termination requested");
    assert!(options.certificate.is_none());
    assert_eq!(options.min_version, TlsVersion::V1_2);
    assert_eq!(options.max_version, TlsVersion::V1_3);
    assert_eq!(options.client_auth, ClientAuth::None);
    // https endpoints terminate anyway: nothing to do, nothing refused.
    let (closed, _) = connect(&p, "https://app.example.com").await;
    assert!(!closed);
    // tcp endpoints have no TLS to terminate: a clear runtime refusal.
    let (closed, options) = connect(&p, "tcp://1.tcp.example.com:20000").await;
    assert!(closed);
    assert!(options.is_none());
}

#[tokio::test]
async fn full_options_reach_the_listener() {
    let (cert, key) = pair("app.example.com");
    let (ca, _) = pair("ca.example.com");
    let p = with_config(&serde_json::json!({
        "server_certificate": cert,
        "server_private_key": key,
        "min_version": "1.3",
        "max_version": 1.3,
        "mutual_tls_certificate_authorities": [ca],
        "mutual_tls_verification_strategy": "verify-if-given",
    }))
    .expect("loads");
    let (closed, options) = connect(&p, "tls://app.example.com").await;
    assert!(!closed);
    let options = options.expect("termination requested");
    let pair = options.certificate.as_ref().expect("certificate");
    assert_eq!(pair.certificate_pem, cert);
    assert_eq!(options.min_version, TlsVersion::V1_3);
    assert_eq!(options.client_cas, vec![ca]);
    assert_eq!(options.client_auth, ClientAuth::VerifyIfGiven);
    // On an https endpoint the options shape the edge's own handshake: the same options.
    let (closed, https) = connect(&p, "https://app.example.com").await;
    assert!(!closed);
    assert_eq!(https.as_deref(), Some(&*options));
}

#[tokio::test]
async fn interpolated_pems_are_rendered_and_checked_per_connection() {
    let (cert, key) = pair("app.example.com");
    // The PEMs come from vars that set-vars fills in the same phase.
    let doc = serde_json::json!({
        "on_tcp_connect": [{"actions": [
            {"type": "set-vars", "config": {"vars": [{"cert": cert}, {"key": key}]}},
            {"type": "terminate-tls", "config": {
                "server_certificate": "${vars.cert}",
                "server_private_key": "${vars.key}"
            }}
        ]}]
    });
    let p = load(&doc.to_string()).expect("loads");
    let (closed, options) = connect(&p, "tls://app.example.com").await;
    assert!(!closed);
    let options = options.expect("termination requested");
    assert_eq!(
        options
            .certificate
            .as_ref()
            .map(|c| c.certificate_pem.clone()),
        Some(cert)
    );
    // A rendered value that is no PEM closes the connection.
    let bad = serde_json::json!({
        "on_tcp_connect": [{"actions": [
            {"type": "set-vars", "config": {"vars": [{"cert": "junk"}, {"key": "junk"}]}},
            {"type": "terminate-tls", "config": {
                "server_certificate": "${vars.cert}",
                "server_private_key": "${vars.key}"
            }}
        ]}]
    });
    let p = load(&bad.to_string()).expect("loads");
    let (closed, options) = connect(&p, "tls://app.example.com").await;
    assert!(closed);
    assert!(options.is_none());
}

#[test]
fn bad_configs_are_load_errors_that_say_why() {
    let (cert, key) = pair("a.example.com");
    let (_, other_key) = pair("b.example.com");
    let cases = [
        (
            serde_json::json!({"min_version": "1.0"}),
            "TLS 1.2 and 1.3 only",
        ),
        (
            serde_json::json!({"max_version": "1.1"}),
            "TLS 1.2 and 1.3 only",
        ),
        (serde_json::json!({"min_version": "2.0"}), "must be one of"),
        (
            serde_json::json!({"min_version": "1.3", "max_version": "1.2"}),
            "above max_version",
        ),
        (
            serde_json::json!({"server_certificate": cert}),
            "must be given together",
        ),
        (
            serde_json::json!({"server_certificate": cert, "server_private_key": other_key}),
            "does not fit",
        ),
        (
            serde_json::json!({"server_certificate": "junk", "server_private_key": key}),
            "no usable certificate",
        ),
        (
            serde_json::json!({"mutual_tls_certificate_authorities": ["junk"]}),
            "no usable certificate",
        ),
        (
            serde_json::json!({"mutual_tls_verification_strategy": "require-and-verify"}),
            "must name at least one authority",
        ),
        (
            serde_json::json!({"mutual_tls_certificate_authorities": [cert],
                "mutual_tls_verification_strategy": "request"}),
            "would not be checked",
        ),
        (
            serde_json::json!({"mutual_tls_verification_strategy": "sometimes"}),
            "must be require-and-verify",
        ),
        (serde_json::json!({"alpn": ["h2"]}), "alpn"),
    ];
    for (config, want) in cases {
        let err = with_config(&config).expect_err(&format!("{config} must not load"));
        assert!(err.contains(want), "{config}: {err}");
    }
    // Strategies that accept any certificate need no authorities.
    for s in ["request", "require-any"] {
        with_config(&serde_json::json!({"mutual_tls_verification_strategy": s}))
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

#[test]
fn it_runs_in_on_tcp_connect_only() {
    let err = load("on_http_request:\n  - actions:\n      - type: terminate-tls\n")
        .expect_err("not an http action");
    assert!(err.contains("ERR_SLUICE_2202"), "{err}");
}
