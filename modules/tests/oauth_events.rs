//! What `oauth` and `openid-connect` record for the request's `http_request_complete.v0`
//! event (ngrok's `oauth.app_client_id`, `oauth.decision`, `oauth.user.*`): the decision and
//! the app's client id, never tokens or cookies. The logged-in cases are in
//! `e2e/tests/oidc_refusals.test.js`, which reads the edge's event stream.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{LoginDecision, Policy};

use common::load;

const GITHUB: &str = "on_http_request:
  - actions:
      - type: oauth
        config:
          provider: github
          client_id: my-app
          client_secret: my-secret
";

async fn send(policy: &Policy, path: &str) -> Outcome {
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    let req = harness::request(
        "GET",
        &format!("https://app.example.com{path}"),
        &[("host", "app.example.com")],
    );
    harness::exchange(policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await
}

#[tokio::test]
async fn each_outcome_records_its_decision_and_the_client_id() {
    let policy = load(GITHUB);
    for (path, decision) in [
        ("/private", LoginDecision::Redirect),
        ("/ngrok/login", LoginDecision::Redirect),
        ("/ngrok/logout", LoginDecision::Logout),
        ("/ngrok/oauth2/callback?code=c&state=s", LoginDecision::Deny),
    ] {
        let out = send(&policy, path).await;
        let record = out.exchange.login.as_ref().expect("a login record");
        assert_eq!(record.decision, decision, "{path}");
        assert_eq!(record.app_client_id, "my-app", "{path}");
        assert_eq!(record.user_id, "", "no user is known at {path}");
    }
}

#[tokio::test]
async fn a_policy_without_a_login_records_nothing() {
    let policy =
        load("on_http_request:\n  - actions: [{type: add-headers, config: {headers: {a: b}}}]\n");
    assert!(send(&policy, "/").await.exchange.login.is_none());
}
