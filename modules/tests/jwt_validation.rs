//! `jwt-validation` through the real loader and the in-process harness, against a loopback
//! JWKS server started by each test. Tokens are signed here with `rsa` / `p256`.

mod jwt_validation_support;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use jwt_validation_support::{
    JwksServer, TestKey, jwks, p256_key, rsa_key, token, token_with_header,
};
use serde_json::{Value as Json, json};
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{Clock, LoadOptions, Policy, load_policy};

mod common;

const ISSUER: &str = "https://issuer.example.com/";
const AUDIENCE: &str = "api://default";
const BEARER: &str = "[{type: jwt, method: header, name: Authorization, prefix: 'Bearer '}]";

fn yaml(config: &str) -> String {
    format!(
        "on_http_request:\n  - actions:\n      - type: jwt-validation\n        config: {config}\n"
    )
}

/// A config with the test issuer and audience, `tokens`, `algs` and one JWKS URL.
fn config(url: &str, tokens: &str, algs: &str) -> String {
    format!(
        "{{issuer: {{allow_list: [{{value: '{ISSUER}'}}]}}, audience: {{allow_list: [{{value: '{AUDIENCE}'}}]}}, \
         http: {{tokens: {tokens}}}, jws: {{allowed_algorithms: {algs}, \
         keys: {{sources: {{additional_jkus: ['{url}']}}}}}}}}"
    )
}

fn policy(config: &str) -> Policy {
    load_policy(
        "t.yml",
        &yaml(config),
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect("loads")
}

fn load_err(config: &str) -> String {
    load_policy(
        "t.yml",
        &yaml(config),
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
    .expect_err("must not load")
    .to_string()
}

fn unix(clock: &ManualClock) -> i64 {
    let secs = clock
        .now()
        .duration_since(UNIX_EPOCH)
        .expect("after epoch")
        .as_secs();
    i64::try_from(secs).expect("fits")
}

fn claims(clock: &ManualClock) -> Json {
    let now = unix(clock);
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300})
}

async fn send(
    policy: &Policy,
    clock: &Arc<ManualClock>,
    method: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Outcome {
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock.clone(),
    );
    let req = harness::request(method, "https://app.example.com/api", headers);
    harness::exchange(
        policy,
        &conn,
        req,
        Bytes::from(body.to_owned()),
        &UpstreamReply::default(),
    )
    .await
}

async fn bearer(policy: &Policy, clock: &Arc<ManualClock>, token: &str) -> Outcome {
    send(
        policy,
        clock,
        "GET",
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await
}

fn result(out: &Outcome) -> serde_json::Value {
    common::result_of(out, "jwt_validation")
}

fn assert_rejected(out: &Outcome, status: StatusCode, code: u16) {
    assert_eq!(out.status, Some(status), "{:?}", out.body);
    assert!(out.upstream.is_none(), "upstream must not be called");
    let id = format!("ERR_SLUICE_{code}");
    assert_eq!(out.headers["sluice-error-code"], id.as_str());
    let r = result(out);
    assert_eq!(r["error"]["code"], json!(id), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// A server holding an RSA key (`rsa`) and a P-256 key (`ec`), and a policy for RS256+ES256.
async fn setup() -> (JwksServer, Policy, Arc<ManualClock>, TestKey, TestKey) {
    let (rsa, ec) = (rsa_key(), p256_key());
    let server = JwksServer::start(&jwks(&[("rsa", &rsa), ("ec", &ec)])).await;
    let policy = policy(&config(&server.url, BEARER, "[RS256, ES256]"));
    (server, policy, Arc::new(ManualClock::new()), rsa, ec)
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_pass() {
    let (server, policy, clock, rsa, ec) = setup().await;
    let out = bearer(
        &policy,
        &clock,
        &token("RS256", "rsa", &rsa, &claims(&clock)),
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::OK), "{:?}", out.body);
    assert!(out.upstream.is_some(), "upstream must be called");
    let r = result(&out);
    let t = &r["tokens"][0];
    assert_eq!(t["verified"], json!(true));
    assert_eq!(t["payload"]["sub"], json!("alice"));
    assert_eq!(t["header"]["kid"], json!("rsa"));
    assert_eq!(t["location"], json!("header"));
    assert_eq!(t["location_property"], json!("Authorization"));
    assert!(t["signature"].as_str().is_some_and(|s| s.len() > 100));
    assert!(r.get("error").is_none(), "{r}");

    let out = bearer(&policy, &clock, &token("ES256", "ec", &ec, &claims(&clock))).await;
    assert_eq!(out.status, Some(StatusCode::OK), "{:?}", out.body);
    assert!(out.upstream.is_some());
    assert_eq!(server.hits(), 1, "keys are fetched once and cached");
}

#[tokio::test]
async fn issuer_audience_and_signature_are_checked() {
    let (_server, policy, clock, rsa, ec) = setup().await;
    let mut c = claims(&clock);
    c["iss"] = json!("https://issuer.example.com"); // no trailing slash: exact match only
    assert_rejected(
        &bearer(&policy, &clock, &token("RS256", "rsa", &rsa, &c)).await,
        StatusCode::FORBIDDEN,
        3403,
    );
    let mut c = claims(&clock);
    c["aud"] = json!(["api://other"]);
    assert_rejected(
        &bearer(&policy, &clock, &token("ES256", "ec", &ec, &c)).await,
        StatusCode::FORBIDDEN,
        3403,
    );
    // Signed by a key that is not in the JWKS, under a known kid.
    let forged = token("ES256", "ec", &p256_key(), &claims(&clock));
    assert_rejected(
        &bearer(&policy, &clock, &forged).await,
        StatusCode::UNAUTHORIZED,
        3401,
    );
}

#[tokio::test]
async fn expiry_follows_the_policy_clock() {
    let (_server, policy, clock, rsa, _) = setup().await;
    let good = token("RS256", "rsa", &rsa, &claims(&clock));
    assert_eq!(
        bearer(&policy, &clock, &good).await.status,
        Some(StatusCode::OK)
    );
    clock.advance(Duration::from_secs(600)); // exp was now+300, leeway 60
    assert_rejected(
        &bearer(&policy, &clock, &good).await,
        StatusCode::UNAUTHORIZED,
        3401,
    );
    let mut c = claims(&clock);
    c["exp"] = json!(unix(&clock) - 3600);
    assert_rejected(
        &bearer(&policy, &clock, &token("RS256", "rsa", &rsa, &c)).await,
        StatusCode::UNAUTHORIZED,
        3401,
    );
}

#[tokio::test]
async fn carrier_problems_fail_before_any_key_fetch() {
    let (server, policy, clock, rsa, _) = setup().await;
    assert_rejected(
        &send(&policy, &clock, "GET", &[], "").await,
        StatusCode::UNAUTHORIZED,
        3408,
    );
    let t = token("RS256", "rsa", &rsa, &claims(&clock));
    let no_prefix = send(&policy, &clock, "GET", &[("authorization", &t)], "").await;
    assert_rejected(&no_prefix, StatusCode::UNAUTHORIZED, 3413);
    assert_rejected(
        &bearer(&policy, &clock, "not-a-jwt").await,
        StatusCode::UNAUTHORIZED,
        3416,
    );
    // `alg: none` with an empty signature.
    let none = token_with_header(&json!({"alg": "none", "typ": "JWT"}), &claims(&clock), &rsa);
    let unsigned = format!("{}.", none.rsplit_once('.').expect("three parts").0);
    assert_rejected(
        &bearer(&policy, &clock, &unsigned).await,
        StatusCode::UNAUTHORIZED,
        3401,
    );
    // An algorithm not in the allow-list (HS256 forged with a public value).
    let hs = token_with_header(
        &json!({"alg": "HS256", "kid": "rsa"}),
        &claims(&clock),
        &rsa,
    );
    assert_rejected(
        &bearer(&policy, &clock, &hs).await,
        StatusCode::UNAUTHORIZED,
        3401,
    );
    assert_eq!(server.hits(), 0, "no fetch for tokens rejected up front");
}

#[tokio::test]
async fn body_token_via_post_json() {
    let (_server, _, clock, rsa, _) = setup().await;
    let server = JwksServer::start(&jwks(&[("rsa", &rsa)])).await;
    let policy = policy(&config(
        &server.url,
        "[{type: access_token, method: body, name: access_token}]",
        "[RS256]",
    ));
    let body = json!({"access_token": token("RS256", "rsa", &rsa, &claims(&clock))}).to_string();
    let json_ct = [("content-type", "application/json")];
    let out = send(&policy, &clock, "POST", &json_ct, &body).await;
    assert_eq!(out.status, Some(StatusCode::OK), "{:?}", out.body);
    let upstream = out.upstream.as_ref().expect("forwarded");
    assert_eq!(
        upstream.body,
        Bytes::from(body.clone()),
        "body still forwarded"
    );
    assert_eq!(result(&out)["tokens"][0]["location"], json!("body"));
    assert_rejected(
        &send(&policy, &clock, "GET", &json_ct, &body).await,
        StatusCode::UNAUTHORIZED,
        3415,
    );
    assert_rejected(
        &send(&policy, &clock, "POST", &json_ct, "{").await,
        StatusCode::UNAUTHORIZED,
        3411,
    );
    assert_rejected(
        &send(&policy, &clock, "POST", &json_ct, "{}").await,
        StatusCode::UNAUTHORIZED,
        3406,
    );
}

#[tokio::test]
async fn every_configured_token_is_required() {
    let (rsa, ec) = (rsa_key(), p256_key());
    let server = JwksServer::start(&jwks(&[("rsa", &rsa), ("ec", &ec)])).await;
    let tokens = "[{type: access_token, method: header, name: Authorization, prefix: 'Bearer '}, \
                  {type: id_token, method: header, name: X-Id-Token}]";
    let policy = policy(&config(&server.url, tokens, "[RS256, ES256]"));
    let clock = Arc::new(ManualClock::new());
    let access = format!("Bearer {}", token("RS256", "rsa", &rsa, &claims(&clock)));
    let id = token("ES256", "ec", &ec, &claims(&clock));
    let only_access = send(&policy, &clock, "GET", &[("authorization", &access)], "").await;
    assert_rejected(&only_access, StatusCode::UNAUTHORIZED, 3408);
    let only_id = send(&policy, &clock, "GET", &[("x-id-token", &id)], "").await;
    assert_rejected(&only_id, StatusCode::UNAUTHORIZED, 3408);
    let both = send(
        &policy,
        &clock,
        "GET",
        &[("authorization", &access), ("x-id-token", &id)],
        "",
    )
    .await;
    assert_eq!(both.status, Some(StatusCode::OK), "{:?}", both.body);
    let r = result(&both);
    assert_eq!(r["tokens"][1]["verified"], json!(true));
    assert_eq!(r["tokens"][1]["header"]["alg"], json!("ES256"));
    assert_eq!(r["tokens"][1]["location_property"], json!("X-Id-Token"));
}

#[tokio::test]
async fn unreachable_jwks_is_3422() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    drop(listener);
    let policy = policy(&config(&url, BEARER, "[RS256]"));
    let clock = Arc::new(ManualClock::new());
    let t = token("RS256", "rsa", &rsa_key(), &claims(&clock));
    let out = bearer(&policy, &clock, &t).await;
    assert_rejected(&out, StatusCode::UNAUTHORIZED, 3422);
    assert!(
        result(&out)["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&url))
    );
}

#[tokio::test]
async fn kid_identification_and_array_form() {
    let rsa = rsa_key();
    let server = JwksServer::start(&jwks(&[("rsa", &rsa)])).await;
    let cfg = format!(
        "{{issuer: {{allow_list: [{{value: '{ISSUER}'}}]}}, http: {{tokens: {BEARER}}}, \
         jws: {{allowed_algorithms: [RS256], keys: [{{sources: [{{additional_jkus: ['{}']}}], \
         identification: {{token_claims: [kid]}}}}]}}}}",
        server.url
    );
    let policy = policy(&cfg);
    let clock = Arc::new(ManualClock::new());
    let with_kid = token("RS256", "rsa", &rsa, &claims(&clock));
    assert_eq!(
        bearer(&policy, &clock, &with_kid).await.status,
        Some(StatusCode::OK)
    );
    let no_kid = token_with_header(&json!({"alg": "RS256"}), &claims(&clock), &rsa);
    assert_rejected(
        &bearer(&policy, &clock, &no_kid).await,
        StatusCode::UNAUTHORIZED,
        3401,
    );
}

#[test]
fn load_errors_name_the_field() {
    let url = "http://127.0.0.1:9/jwks.json";
    let at = "on_http_request[0].actions[0].config";
    let e = load_err(&format!(
        "{{http: {{tokens: {BEARER}}}, jws: {{allowed_algorithms: [RS256], keys: {{sources: {{additional_jkus: ['{url}']}}}}}}}}"
    ));
    assert!(e.contains("issuer"), "{e}");
    let e = load_err(&config(url, BEARER, "[RS256, none]"));
    assert!(
        e.contains(&format!("{at}.jws.allowed_algorithms[1]")) && e.contains("none"),
        "{e}"
    );
    let e = load_err(&config(url, BEARER, "[RS999]"));
    assert!(
        e.contains(&format!("{at}.jws.allowed_algorithms[0]")),
        "{e}"
    );
    let e = load_err(&config(url, BEARER, "[]"));
    assert!(e.contains(&format!("{at}.jws.allowed_algorithms")), "{e}");
    let e = load_err(&config(
        url,
        "[{type: jwt, method: header, name: A, extra: 1}]",
        "[RS256]",
    ));
    assert!(
        e.contains(&format!("{at}.http.tokens[0]")) && e.contains("extra"),
        "{e}"
    );
    let e = load_err(&config(
        url,
        "[{type: saml, method: header, name: A}]",
        "[RS256]",
    ));
    assert!(e.contains(&format!("{at}.http.tokens[0].type")), "{e}");
    let e = load_err(&config("ftp://x/jwks", BEARER, "[RS256]"));
    assert!(
        e.contains(&format!("{at}.jws.keys.sources.additional_jkus[0]")),
        "{e}"
    );
    let e = load_err(&config(url, "[]", "[RS256]"));
    assert!(e.contains(&format!("{at}.http.tokens")), "{e}");
    let e = load_err(
        &config(url, BEARER, "[RS256]")
            .replace("allow_list: [{value: 'https", "allow_lst: [{value: 'https"),
    );
    assert!(
        e.contains(&format!("{at}.issuer")) && e.contains("allow_lst"),
        "{e}"
    );
    let e = load_err(&config(url, BEARER, "[RS256]").replace(
        "sources:",
        "identification: {token_claims: [sub]}, sources:",
    ));
    assert!(
        e.contains(&format!("{at}.jws.keys.identification.token_claims[0]")),
        "{e}"
    );
    let e = load_err(&config(url, BEARER, "[RS256]").replace("additional_jkus", "jkus"));
    assert!(
        e.contains(&format!("{at}.jws.keys.sources")) && e.contains("jkus"),
        "{e}"
    );
}
