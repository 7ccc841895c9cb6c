//! `oauth` and `openid-connect` through the real loader and the in-process harness: the
//! redirect to the provider and its parameters, the special paths, and load errors. The whole
//! flow against real providers is in `e2e/tests/oidc*.test.js`.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use sluice_policy::Policy;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};

use common::{load, load_err, result_of};

const GITHUB: &str = "on_http_request:
  - actions:
      - type: oauth
        config:
          provider: github
          client_id: my-app
          client_secret: my-secret
          authz_url_params: {allow_signup: 'false'}
          endpoints:
            authorization_url: https://gh.example.net/login/oauth/authorize
";

async fn send(policy: &Policy, method: &str, path: &str, headers: &[(&str, &str)]) -> Outcome {
    let clock = Arc::new(ManualClock::new());
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        clock,
    );
    let mut all = vec![("host", "app.example.com")];
    all.extend_from_slice(headers);
    let req = harness::request(method, &format!("https://app.example.com{path}"), &all);
    harness::exchange(policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await
}

fn set_cookies(out: &Outcome) -> Vec<String> {
    out.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect()
}

#[tokio::test]
async fn a_request_without_a_session_goes_to_the_provider_with_pkce_and_state() {
    let policy = load(GITHUB);
    let out = send(&policy, "GET", "/repo/x?tab=1", &[]).await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    assert!(out.upstream.is_none(), "the upstream is never called");
    let location = out.headers.get("location").expect("location");
    let url = url_parts(location.to_str().expect("ascii"));
    assert_eq!(url.0, "https://gh.example.net/login/oauth/authorize");
    let q = |k: &str| {
        url.1
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(q("response_type"), "code");
    assert_eq!(q("client_id"), "my-app");
    assert_eq!(
        q("redirect_uri"),
        "https://app.example.com/ngrok/oauth2/callback"
    );
    assert_eq!(q("scope"), "read:user user:email");
    assert_eq!(q("code_challenge_method"), "S256");
    assert_eq!(q("code_challenge").len(), 43);
    assert!(q("state").len() >= 32);
    assert_eq!(q("allow_signup"), "false");
    assert!(
        url.1.iter().all(|(k, _)| k != "nonce"),
        "no nonce for plain OAuth"
    );
    let cookies = set_cookies(&out);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    assert!(c.starts_with("sluice_nonce="), "{c}");
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(c.contains(attr), "{c} lacks {attr}");
    }
    assert!(!c.contains("/repo/x"), "the original path is sealed: {c}");
    let result = result_of(&out, "oauth");
    assert_eq!(result["identity"]["email"], "");
    assert_eq!(result["session_timed_out"], false);
}

fn url_parts(text: &str) -> (String, Vec<(String, String)>) {
    let (base, query) = text.split_once('?').expect("a query");
    let pairs = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (base.to_string(), pairs)
}

#[tokio::test]
async fn a_tampered_session_cookie_is_no_session() {
    let policy = load(GITHUB);
    let out = send(
        &policy,
        "GET",
        "/",
        &[(
            "cookie",
            "sluice_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )],
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    assert!(out.upstream.is_none());
}

#[tokio::test]
async fn logout_clears_both_cookies() {
    let policy = load(GITHUB);
    let out = send(&policy, "GET", "/ngrok/logout", &[]).await;
    assert_eq!(out.status, Some(StatusCode::OK));
    let cookies = set_cookies(&out);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sluice_session=;") && c.contains("Max-Age=0"))
    );
    assert!(cookies.iter().any(|c| c.starts_with("sluice_nonce=;")));
    let out = send(&policy, "GET", "/ngrok/logout?redirect_path=/bye", &[]).await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    assert_eq!(out.headers["location"], "/bye");
    let out = send(
        &policy,
        "GET",
        "/ngrok/logout?redirect_path=//evil.example",
        &[],
    )
    .await;
    assert_eq!(out.headers["location"], "/", "never an open redirect");
}

#[tokio::test]
async fn login_path_starts_a_login_returning_to_redirect_path() {
    let policy = load(GITHUB);
    let out = send(&policy, "GET", "/ngrok/login?redirect_path=/dash", &[]).await;
    assert_eq!(out.status, Some(StatusCode::FOUND));
    // A different auth_id is not this action's login: the request is gated as usual.
    let other = send(&policy, "GET", "/ngrok/login?auth_id=other", &[]).await;
    assert_eq!(other.status, Some(StatusCode::FOUND));
}

#[tokio::test]
async fn a_callback_without_a_pending_login_is_refused() {
    let policy = load(GITHUB);
    let out = send(&policy, "GET", "/ngrok/oauth2/callback?code=c&state=s", &[]).await;
    assert_eq!(out.status, Some(StatusCode::BAD_REQUEST));
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3100");
    let result = result_of(&out, "oauth");
    assert_eq!(result["error"]["code"], "ERR_SLUICE_3100");
    assert!(out.upstream.is_none());
}

#[tokio::test]
async fn cors_preflight_passes_when_allowed() {
    let policy = load(
        "on_http_request:
  - actions:
      - type: oidc
        config:
          issuer_url: https://id.example.com
          client_id: a
          client_secret: b
          allow_cors_preflight: true
",
    );
    let out = send(
        &policy,
        "OPTIONS",
        "/api",
        &[("access-control-request-method", "POST")],
    )
    .await;
    assert_eq!(out.status, Some(StatusCode::OK));
    assert!(out.upstream.is_some());
}

#[test]
fn a_missing_client_id_or_secret_says_why_at_its_line() {
    let err = load_err(
        "on_http_request:
  - actions:
      - type: oauth
        config:
          provider: google
",
    );
    assert!(err.contains("t.yml:5:11"), "{err}");
    assert!(err.contains("missing `client_id`"), "{err}");
    assert!(err.contains("no managed OAuth apps"), "{err}");
    assert!(err.contains("missing `client_secret`"), "{err}");
    assert!(err.contains("ERR_SLUICE_2203"), "{err}");
}

#[test]
fn bad_values_are_load_errors() {
    let err = load_err(
        "on_http_request:
  - actions:
      - type: oauth
        config:
          provider: myspace
          client_id: a
          client_secret: b
",
    );
    assert!(err.contains("unknown provider `myspace`"), "{err}");
    let err = load_err(
        "on_http_request:
  - actions:
      - type: openid-connect
        config:
          issuer_url: not a url
          client_id: a
          client_secret: b
          client_secret_env: B
          max_session_duration: soon
          idle_session_timeout: 1h
",
    );
    assert!(err.contains("idle_session_timeout"), "{err}");
    let err = load_err(
        "on_http_request:
  - actions:
      - type: openid-connect
        config:
          issuer_url: ftp://id.example.com
          client_id: a
          client_secret: b
",
    );
    assert!(err.contains("issuer_url"), "{err}");
    let err = load_err(
        "on_http_request:
  - actions:
      - type: openid-connect
        config:
          issuer_url: https://id.example.com
          client_id: a
          client_secret: b
          client_secret_env: B
          max_session_duration: soon
          authz_url_params: {redirect_uri: 'https://evil.example'}
",
    );
    assert!(err.contains("authz_url_params.redirect_uri"), "{err}");
    assert!(err.contains("give only one of client_secret"), "{err}");
    assert!(err.contains("max_session_duration"), "{err}");
}

/// Loads as the edge loads its own endpoints' policies (local secrets allowed).
fn load_local(yaml: &str) -> Result<Policy, String> {
    sluice_policy::load_policy(
        "t.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        sluice_policy::LoadOptions {
            local_secrets: true,
            ..sluice_policy::LoadOptions::default()
        },
    )
    .map_err(|e| e.to_string())
}

#[test]
fn the_secret_can_come_from_a_file_or_an_unset_variable_is_a_load_error() {
    let dir = std::env::temp_dir().join(format!("sluice-oauth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("secret");
    std::fs::write(&file, "s3cret\n").expect("write");
    let with_file = format!(
        "on_http_request:
  - actions:
      - type: oauth
        config:
          provider: gitlab
          client_id: a
          client_secret_file: {}
",
        file.display()
    );
    load_local(&with_file).expect("loads with a secret file");
    let unset = "on_http_request:
  - actions:
      - type: oauth
        config:
          provider: gitlab
          client_id: a
          client_secret_env: SLUICE_TEST_SURELY_UNSET_VARIABLE
";
    let err = load_local(unset).expect_err("an unset variable");
    assert!(err.contains("t.yml:7:30"), "{err}");
    assert!(
        err.contains("SLUICE_TEST_SURELY_UNSET_VARIABLE` is not set"),
        "{err}"
    );
    // A policy an agent sends may not read the edge's files or environment.
    let err = load_err(&with_file);
    assert!(err.contains("client_secret_file"), "{err}");
    assert!(err.contains("edge's own config"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn only_one_auth_action_per_policy() {
    let err = load_err(
        "on_http_request:
  - actions:
      - type: oauth
        config: {provider: github, client_id: a, client_secret: b}
      - type: basic-auth
        config: {credentials: ['user:password1']}
",
    );
    assert!(err.contains("ERR_SLUICE_2239"), "{err}");
}
