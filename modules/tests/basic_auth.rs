//! `basic-auth` through the real loader and the in-process harness.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value as Json, json};
use sluice_policy::cel::value::to_json;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{LoadOptions, Policy, load_policy};

fn load(yaml: &str) -> Result<Policy, String> {
    load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .map_err(|e| e.to_string())
}

fn policy(config: &str) -> Policy {
    load(&format!(
        "on_http_request:\n  - actions:\n      - type: basic-auth\n        config: {config}\n"
    ))
    .expect("loads")
}

fn load_err(config: &str) -> String {
    load(&format!(
        "on_http_request:\n  - actions:\n      - type: basic-auth\n        config: {config}\n"
    ))
    .expect_err("must not load")
}

fn basic(user_pass: &str) -> String {
    format!("Basic {}", B64.encode(user_pass))
}

async fn send(policy: &Policy, authorization: Option<&str>) -> Outcome {
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let req = harness::request("GET", "https://app.example.com/x", &headers);
    harness::exchange(policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await
}

fn creds(out: &Outcome) -> Json {
    out.exchange
        .results()
        .get("basic_auth")
        .map(to_json)
        .expect("basic_auth result set")["credentials"]
        .clone()
}

fn assert_401(out: &Outcome, realm: &str) {
    assert_eq!(out.status, Some(StatusCode::UNAUTHORIZED));
    assert!(out.upstream.is_none());
    assert_eq!(
        out.headers["www-authenticate"],
        format!("Basic realm=\"{realm}\"")
    );
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_2801");
}

#[tokio::test]
async fn missing_credentials_get_a_challenge() {
    let p = policy(r#"{credentials: ["user:password1"]}"#);
    let out = send(&p, None).await;
    assert_401(&out, "ngrok");
    assert_eq!(
        creds(&out),
        json!({"presented": false, "username": "", "authorized": false})
    );
}

#[tokio::test]
async fn valid_credentials_are_forwarded() {
    let p = policy(r#"{credentials: ["alice:password1", "bob:hunter2hunter2"]}"#);
    for (user, pass) in [("alice", "password1"), ("bob", "hunter2hunter2")] {
        let out = send(&p, Some(&basic(&format!("{user}:{pass}")))).await;
        assert_eq!(out.status, Some(StatusCode::OK), "{user}");
        assert!(out.upstream.is_some());
        assert_eq!(
            creds(&out),
            json!({"presented": true, "username": user, "authorized": true})
        );
    }
    // Scheme is case-insensitive.
    let lower = basic("alice:password1").replacen("Basic", "basic", 1);
    assert_eq!(send(&p, Some(&lower)).await.status, Some(StatusCode::OK));
}

#[tokio::test]
async fn wrong_or_crossed_credentials_are_rejected() {
    let p = policy(r#"{credentials: ["alice:password1", "bob:hunter2hunter2"]}"#);
    for wrong in [
        "alice:password2",
        "alice:hunter2hunter2",
        "bob:password1",
        "carol:password1",
        "alice:password1x",
        "alice",
    ] {
        let out = send(&p, Some(&basic(wrong))).await;
        assert_401(&out, "ngrok");
        assert_eq!(creds(&out)["authorized"], json!(false), "{wrong}");
    }
    let out = send(&p, Some(&basic("alice:nope-nope"))).await;
    assert_eq!(
        creds(&out),
        json!({"presented": true, "username": "alice", "authorized": false})
    );
    for junk in ["Basic !!!notbase64", "Bearer abc", "Basic"] {
        let out = send(&p, Some(junk)).await;
        assert_401(&out, "ngrok");
        assert_eq!(creds(&out)["presented"], json!(false), "{junk}");
    }
}

#[tokio::test]
async fn first_colon_delimits_and_realm_is_sent() {
    let p = policy(r#"{credentials: ["user:pa:ss:word"], realm: "Staff only"}"#);
    assert_eq!(
        send(&p, Some(&basic("user:pa:ss:word"))).await.status,
        Some(StatusCode::OK)
    );
    assert_401(&send(&p, Some(&basic("user:pa"))).await, "Staff only");
}

#[tokio::test]
async fn enforce_false_continues_with_results() {
    let p = policy(r#"{credentials: ["user:password1"], enforce: false}"#);
    let out = send(&p, Some(&basic("user:wrongpass"))).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());
    assert_eq!(
        creds(&out),
        json!({"presented": true, "username": "user", "authorized": false})
    );
}

#[tokio::test]
async fn templated_credentials() {
    let yaml = r#"on_http_request:
  - actions:
      - type: set-vars
        config: {vars: [{u: carol}, {p: s3cretpass}, {whole: "dave:longpassword"}]}
      - type: basic-auth
        config:
          credentials: ["${vars.u}:${vars.p}", "${vars.whole}", "pre-${vars.u}:static-password", "${vars.u}:fixedpass1"]
"#;
    let p = load(yaml).expect("loads");
    for ok in [
        "carol:s3cretpass",
        "dave:longpassword",
        "pre-carol:static-password",
        "carol:fixedpass1",
    ] {
        let out = send(&p, Some(&basic(ok))).await;
        assert_eq!(out.status, Some(StatusCode::OK), "{ok}");
    }
    for bad in [
        "${vars.u}:${vars.p}",
        "carol:static-password",
        "dave",
        "pre-carol:s3cretpass",
    ] {
        assert_eq!(
            send(&p, Some(&basic(bad))).await.status,
            Some(StatusCode::UNAUTHORIZED),
            "{bad}"
        );
    }
}

#[test]
fn load_errors_name_the_entry() {
    let at = |i: usize| format!("on_http_request[0].actions[0].config.credentials[{i}]");
    let e = load_err(r#"{credentials: ["ok:password1", "${vars.a}pw"]}"#);
    assert!(e.contains(&at(1)) && e.contains("may not span"), "{e}");
    let e = load_err(r#"{credentials: ["pre${vars.a}pw-suf"]}"#);
    assert!(e.contains(&at(0)) && e.contains("may not span"), "{e}");
    let e = load_err(r#"{credentials: ["user:short"]}"#);
    assert!(e.contains(&at(0)) && e.contains("8 to 128"), "{e}");
    let long = "p".repeat(129);
    let e = load_err(&format!(r#"{{credentials: ["user:{long}"]}}"#));
    assert!(e.contains("8 to 128"), "{e}");
    let e = load_err(r#"{credentials: [":password1"]}"#);
    assert!(
        e.contains(&at(0)) && e.contains("username must not be empty"),
        "{e}"
    );
    let e = load_err(r#"{credentials: ["userpassword1"]}"#);
    assert!(e.contains(&at(0)) && e.contains("username:password"), "{e}");
    let e = load_err(r#"{credentials: ["us\ter:password1"]}"#);
    assert!(e.contains("control characters"), "{e}");
    let e = load_err(r#"{credentials: ["${vars.u}:short"]}"#);
    assert!(e.contains("8 to 128"), "{e}");
    let e = load_err("{credentials: []}");
    assert!(e.contains("config.credentials"), "{e}");
    let many: Vec<String> = (0..11).map(|i| format!("\"u{i}:password1\"")).collect();
    let e = load_err(&format!("{{credentials: [{}]}}", many.join(", ")));
    assert!(
        e.contains("config.credentials") && e.contains("ERR_SLUICE_2218"),
        "{e}"
    );
    let e = load_err(&format!(
        r#"{{credentials: ["u:password1"], realm: "{}"}}"#,
        "r".repeat(129)
    ));
    assert!(e.contains("config.realm"), "{e}");
    let e = load_err(r#"{credentials: ["u:password1"], realm: "réalm"}"#);
    assert!(e.contains("config.realm") && e.contains("ASCII"), "{e}");
    let e = load_err(r#"{credentials: ["u:password1"], nope: 1}"#);
    assert!(e.contains("nope"), "{e}");
    let e = load_err("{realm: x}");
    assert!(e.contains("credentials"), "{e}");
}

#[test]
fn only_one_auth_action() {
    let yaml = r#"on_http_request:
  - actions:
      - type: basic-auth
        config: {credentials: ["a:password1"]}
  - actions:
      - type: basic-auth
        config: {credentials: ["b:password1"]}
"#;
    let e = load(yaml).expect_err("must not load");
    assert!(e.contains("ERR_SLUICE_2239"), "{e}");
}

#[tokio::test]
async fn credentials_as_username_password_maps_as_ngrok_examples_write_them() {
    let p = policy(
        r#"{credentials: [{username: alice, password: password1}, "bob:hunter2hunter2", {username: "${'carol'}", password: 12345678}]}"#,
    );
    for ok in ["alice:password1", "bob:hunter2hunter2", "carol:12345678"] {
        let out = send(&p, Some(&basic(ok))).await;
        assert_eq!(out.status, Some(StatusCode::OK), "{ok}");
    }
    assert_401(&send(&p, Some(&basic("alice:password2"))).await, "ngrok");
}

#[test]
fn map_credentials_are_validated_like_strings() {
    let e = load_err("{credentials: [{username: alice, password: short}]}");
    assert!(e.contains("credentials[0]"), "{e}");
    assert!(e.contains("8 to 128 characters"), "{e}");
    let e = load_err("{credentials: [{username: 'a:b', password: password1}]}");
    assert!(e.contains("must not contain `:`"), "{e}");
    let e = load_err("{credentials: [{user: alice, password: password1}]}");
    assert!(e.contains("unknown field `user`"), "{e}");
    let e = load_err("{credentials: [{username: alice}]}");
    assert!(e.contains("password"), "{e}");
}
