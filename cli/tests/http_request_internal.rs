//! `http-request` to internal endpoints, end to end: a real `sluice edge`, a real `sluice http`
//! gateway whose policy calls `https://NAME.internal/...` and decides on the answer, and SDK
//! agents binding the internal endpoints. The call runs the target's policy and upstream
//! in-process on the edge; an offline target and a call looping back are errors the gateway's
//! policy can read.

mod support;

use std::time::Duration;

use support::agent::{TOKEN, TunnelEdge, poll, write_file};
use support::internal::{echo_upstream, internal, serve};
use support::{scratch_dir, send};

/// The gateway: calls the internal endpoint named by the first path segment with the whole
/// path, then answers from what came back (it never forwards).
const GATEWAY_POLICY: &str = r#"
on_http_request:
  - actions:
      - type: http-request
        config:
          url: "https://${req.url.path.split('/')[1]}.internal${req.url.path}"
  - expressions: ["has(actions.ngrok.http_request.error)"]
    actions:
      - type: custom-response
        config:
          status_code: 502
          body: "call failed: ${actions.ngrok.http_request.error.code} ${actions.ngrok.http_request.error.message}"
  - expressions: ["actions.ngrok.http_request.res.status_code != 200"]
    actions:
      - type: custom-response
        config:
          status_code: 403
          body: "said ${actions.ngrok.http_request.res.status_code}: ${actions.ngrok.http_request.res.body}"
  - actions:
      - type: custom-response
        config:
          status_code: 200
          body: "${actions.ngrok.http_request.res.body} | ${actions.ngrok.http_request.res.header['x-auth-response'][0]}"
"#;

/// The auth service's own policy: refuses `/auth/bad` itself, marks what it forwards and
/// what it answers.
const AUTH_POLICY: &str = r#"
on_http_request:
  - expressions: ["req.url.path.endsWith('/bad')"]
    actions:
      - type: custom-response
        config: {status_code: 401, body: "bad credentials"}
  - actions:
      - type: add-headers
        config: {headers: {x-api-policy: ran}}
on_http_response:
  - actions:
      - type: add-headers
        config: {headers: {x-auth-response: ran}}
"#;

/// A service whose policy calls itself: the second call would loop.
const LOOP_POLICY: &str = r#"
on_http_request:
  - actions:
      - type: http-request
        config:
          url: "https://loop.internal/again"
          on_error: halt
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_calls_internal_endpoints_and_reads_their_answers() {
    let edge = TunnelEdge::start(false).await;
    let auth = serve(&edge, TOKEN, internal("auth", Some(AUTH_POLICY)), "auth").await;
    let _loop = serve(&edge, TOKEN, internal("loop", Some(LOOP_POLICY)), "loop").await;
    let dir = scratch_dir();
    let policy = write_file(&dir, "gateway.yml", GATEWAY_POLICY)
        .display()
        .to_string();
    let never = echo_upstream("gateway-upstream").await.to_string();
    let mut gw = edge.http_agent(
        &never,
        &[
            "--url",
            "http://gw.localhost",
            "--traffic-policy-file",
            &policy,
        ],
    );
    assert!(gw.url().await.starts_with("http://gw.localhost:"));
    let get = |path: &'static str| send(edge.http, "GET", "gw.localhost", path, &[], "");

    // The call went through the target's request phase, its upstream, its response phase.
    let r = get("/auth/good").await;
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 200, "{body}");
    assert!(body.starts_with("auth GET /auth/good host="), "{body}");
    assert!(body.contains("mark=ran"), "{body}");
    assert!(body.ends_with(" | ran"), "{body}");

    // The target's policy answered itself; the gateway read its status and body.
    let r = get("/auth/bad").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "said 401: bad credentials"
    );

    // A call back into an endpoint the request came through is refused: the loop service's
    // halting call answers 500, which the gateway reads.
    let r = get("/loop/x").await;
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 403, "{body}");
    assert!(body.starts_with("said 500: "), "{body}");
    assert!(body.contains("loop"), "{body}");

    // No endpoint by that name: the call fails with the offline message.
    let r = get("/nobody/x").await;
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 502, "{body}");
    assert!(body.contains("ERR_SLUICE_2300"), "{body}");
    assert!(
        body.contains("https://nobody.internal is offline"),
        "{body}"
    );

    // The auth agent leaves: its name is offline too.
    drop(auth);
    poll(
        "the auth service offline",
        Duration::from_secs(10),
        || async {
            let r = get("/auth/good").await;
            (r.status == 502).then_some(())
        },
    )
    .await;
}
