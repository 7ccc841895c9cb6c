//! `forward-internal` end to end: a real `sluice edge`, a real `sluice http` agent serving the
//! public gateway endpoint with a traffic policy, and SDK agents binding internal endpoints
//! (`https://api.internal`…), each with its own upstream. Covers path routing, routing by
//! header, the target's policy running after the caller's with the public `Host`, the
//! fallback with `on_error: continue` when an internal agent leaves, loops, public requests
//! for internal names, and another account's forwards.

mod support;

use std::time::Duration;

use sluice_tunnel::{BindRequest, Protocol};
use support::agent::{AgentProc, TOKEN, TunnelEdge, poll, try_get, write_file};
use support::internal::{builder, echo_upstream, internal, serve};
use support::{raw, scratch_dir, send};

/// The public gateway's policy: A/B by header, `/NAME/*` to `NAME.internal` (`/api/*` to the
/// API), `/loop` into a loop, the
/// rest to the web service with a maintenance page when it is gone.
const GATEWAY_POLICY: &str = r#"
on_http_request:
  - expressions: ["'x-variant' in req.headers && req.headers['x-variant'][0] == 'b'"]
    actions:
      - type: forward-internal
        config: {url: "https://web-b.internal"}
  - expressions: ["req.url.path.startsWith('/api/') || req.url.path.startsWith('/nothing/')"]
    actions:
      - type: forward-internal
        config: {url: "https://${req.url.path.split('/')[1]}.internal"}
  - expressions: ["req.url.path == '/loop'"]
    actions:
      - type: forward-internal
        config: {url: "https://a.internal"}
  - actions:
      - type: forward-internal
        config:
          url: https://web.internal
          on_error: continue
      - type: custom-response
        config:
          status_code: 503
          body: "maintenance (${actions.ngrok.forward_internal.error.code})"
on_http_response:
  - actions:
      - type: add-headers
        config:
          headers:
            x-gateway: "saw ${res.status_code}"
"#;

/// The API's own policy: marks the request it forwards and the response it returns.
const API_POLICY: &str = r#"
on_http_request:
  - actions:
      - type: add-headers
        config: {headers: {x-api-policy: ran}}
on_http_response:
  - actions:
      - type: add-headers
        config: {headers: {x-api-response: ran}}
"#;

/// Starts the gateway: a real `sluice http` agent serving `http://gw.localhost` with
/// [`GATEWAY_POLICY`] in front of an upstream that must never be reached.
async fn gateway(edge: &TunnelEdge) -> AgentProc {
    let dir = scratch_dir();
    let policy = write_file(&dir, "gateway.yml", GATEWAY_POLICY);
    let unreachable = echo_upstream("gateway-upstream").await;
    let policy = policy.display().to_string();
    let mut agent = edge.http_agent(
        &unreachable.to_string(),
        &[
            "--url",
            "http://gw.localhost",
            "--traffic-policy-file",
            &policy,
        ],
    );
    let url = agent.url().await;
    assert!(url.starts_with("http://gw.localhost:"), "{url}");
    agent
}

/// GET `path` on `gw.localhost` with extra headers, through the edge's HTTP port.
async fn get_gw(edge: &TunnelEdge, path: &str, headers: &[(&str, &str)]) -> support::Reply {
    send(edge.http, "GET", "gw.localhost", path, headers, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_gateway_routes_to_internal_endpoints_of_other_agents() {
    let edge = TunnelEdge::start(false).await;
    // The API's agent is a real `sluice http` with `--binding internal` and its own policy.
    let dir = scratch_dir();
    let api_policy = write_file(&dir, "api.yml", API_POLICY)
        .display()
        .to_string();
    let api_port = echo_upstream("api").await.to_string();
    let mut api = edge.http_agent(
        &api_port,
        &[
            "--url",
            "https://api.internal",
            "--binding",
            "internal",
            "--traffic-policy-file",
            &api_policy,
        ],
    );
    assert_eq!(api.url().await, "https://api.internal");
    // Its local API shows the binding.
    let own = format!("127.0.0.1:{}", api.web);
    let listed = support::get(api.web, &own, "/api/endpoints").await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.body).expect("JSON");
    assert_eq!(
        listed["endpoints"][0]["bindings"],
        serde_json::json!(["internal"])
    );
    let web = serve(&edge, TOKEN, internal("web", None), "web").await;
    let _web_b = serve(&edge, TOKEN, internal("web-b", None), "web-b").await;
    let _gw = gateway(&edge).await;

    // By path, to the API's agent: its policy ran after the gateway's, Host stayed public.
    let r = get_gw(&edge, "/api/users?id=7", &[]).await;
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 200, "{body}");
    assert_eq!(
        body,
        "api GET /api/users?id=7 host=gw.localhost xfh=gw.localhost mark=ran"
    );
    // The response went back through the API's response phase, then the gateway's.
    assert_eq!(r.header("x-api-response"), Some("ran"));
    assert_eq!(r.header("x-gateway"), Some("saw 200"));

    // The rest to the web service's agent; by header to the B variant.
    let r = get_gw(&edge, "/", &[]).await;
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "web GET / host=gw.localhost xfh=gw.localhost mark=-"
    );
    let r = get_gw(&edge, "/", &[("x-variant", "b")]).await;
    assert!(String::from_utf8_lossy(&r.body).starts_with("web-b GET / "));

    // A path naming no internal endpoint: halt (the default) answers the offline code.
    let r = get_gw(&edge, "/nothing/here", &[]).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
    assert_eq!(r.header("x-gateway"), Some("saw 404"));

    // The web agent leaves: `on_error: continue` falls back to the maintenance page.
    drop(web);
    let r = poll("the maintenance page", Duration::from_secs(10), || async {
        let r = get_gw(&edge, "/", &[]).await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "maintenance (ERR_SLUICE_3200)"
    );
    assert_eq!(r.header("x-gateway"), Some("saw 503"));
    // The API is still served.
    let r = get_gw(&edge, "/api/users", &[]).await;
    assert_eq!(r.status, 200);

    let metrics = edge.metrics().await;
    assert!(
        metrics.contains("sluice_forward_internal_total{endpoint=\"ep_"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_get_the_loop_code_and_internal_names_stay_private() {
    let bob =
        "  - token: tok-bob\n    account: bob\n    allow: [\"*.bob.localhost\", \"*.internal\"]\n";
    let edge = TunnelEdge::start_with_config(false, bob).await;
    let to = |name: &str| {
        format!(
            "on_http_request:\n  - actions:\n      - type: forward-internal\n        config: {{url: \"https://{name}.internal\"}}\n"
        )
    };
    let _a = serve(&edge, TOKEN, internal("a", Some(&to("b"))), "a").await;
    let _b = serve(&edge, TOKEN, internal("b", Some(&to("a"))), "b").await;
    let _api = serve(&edge, TOKEN, internal("api", None), "api").await;
    let _gw = gateway(&edge).await;

    // gw → a.internal → b.internal → a.internal: the loop code, through the gateway's
    // response phase.
    let r = get_gw(&edge, "/loop", &[]).await;
    assert_eq!(r.status, 508, "{:?}", r.body);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3603"));
    assert_eq!(r.header("x-gateway"), Some("saw 508"));

    // No public listener routes to an internal name: by Host, or by absolute-form target.
    for host in [
        "api.internal",
        "API.internal.",
        "api.internal:443",
        "a.internal",
    ] {
        let r = try_get(edge.http, host, "/").await.expect("answer");
        assert_eq!(r.status, 404, "{host}");
        assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
    }
    for target in ["http://api.internal/", "https://api.internal/"] {
        let req =
            format!("GET {target} HTTP/1.1\r\nHost: api.internal\r\nConnection: close\r\n\r\n");
        let answer = String::from_utf8_lossy(&raw(edge.http, &req).await).into_owned();
        assert!(answer.starts_with("HTTP/1.1 404"), "{target}: {answer}");
        assert!(answer.contains("ERR_SLUICE_3200"), "{answer}");
        assert!(!answer.contains("api GET"), "{answer}");
    }

    // Another account forwarding to the first account's internal name finds nothing.
    let _other = serve(
        &edge,
        "tok-bob",
        BindRequest::new(Protocol::Http)
            .with_url("http://x.bob.localhost")
            .with_traffic_policy(to("api")),
        "bob-upstream",
    )
    .await;
    let r = try_get(edge.http, "x.bob.localhost", "/")
        .await
        .expect("answer");
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
    assert!(!String::from_utf8_lossy(&r.body).contains("api GET"));
    // An internal HTTP endpoint has no connection of its own: on_tcp_connect is refused.
    let session = builder(&edge, TOKEN).connect().await.expect("session");
    let tcp_rules = "on_tcp_connect:\n  - actions:\n      - type: deny\n";
    let Err(e) = session.bind(internal("tcp-rules", Some(tcp_rules))).await else {
        panic!("an internal HTTP endpoint with on_tcp_connect rules was bound");
    };
    let code = e.as_bind_refusal().map(|b| b.code.clone());
    assert_eq!(code.as_deref(), Some("ERR_SLUICE_2262"), "{e}");
    // Once bob binds an `api.internal` of his own, his forward reaches his, not the other.
    let _bob_api = serve(&edge, "tok-bob", internal("api", None), "bob-api").await;
    let r = try_get(edge.http, "x.bob.localhost", "/")
        .await
        .expect("answer");
    assert!(
        String::from_utf8_lossy(&r.body).starts_with("bob-api GET / host=x.bob.localhost"),
        "{:?}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_endpoint_without_upstream_forwards_to_an_account_s_internal_endpoint() {
    let config = "endpoints:\n  - url: http://static.localhost\n    account: tests\n    traffic_policy:\n      on_http_request:\n        - actions:\n            - type: forward-internal\n              config: {url: \"https://web.internal\", on_error: continue}\n";
    let edge = TunnelEdge::start_with_config(false, config).await;
    // No agent yet: the policy lets the failed forward through and nothing serves it.
    let r = try_get(edge.http, "static.localhost", "/")
        .await
        .expect("answer");
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
    // An agent of the account binds the internal endpoint: the public URL serves it.
    let web = serve(&edge, TOKEN, internal("web", None), "web").await;
    let r = try_get(edge.http, "static.localhost", "/x")
        .await
        .expect("answer");
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "web GET /x host=static.localhost xfh=static.localhost mark=-"
    );
    // The agent goes; the URL stays up and answers offline again.
    drop(web);
    poll("the offline answer", Duration::from_secs(10), || async {
        let r = try_get(edge.http, "static.localhost", "/").await?;
        (r.status == 404).then_some(())
    })
    .await;
}
