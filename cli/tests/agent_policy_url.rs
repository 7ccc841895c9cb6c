//! `--traffic-policy-url`: a real `sluice http` agent (embedded edge) fetches its policy from a
//! real local HTTP server at start; a good policy is enforced, a broken one stops the agent
//! with errors naming the URL, line and column, and a failed fetch names the URL and status.

mod support;

use std::time::Duration;

use support::agent::{AgentProc, host_port, text_upstream, try_get};

const GOOD: &str = "on_http_request:
  - expressions: [\"req.url.path == '/healthz'\"]
    actions:
      - type: custom-response
        config: {status_code: 200, body: from the fetched policy}
";

/// An unknown variable on line 2, column 19.
const BROKEN: &str = "on_http_request:
  - expressions: [\"req.nope == 1\"]
    actions:
      - type: deny
";

/// Serves `/good.yml` and `/broken.yml`; anything else is 404.
async fn policy_server() -> u16 {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind policy server");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                    let (status, body) = match req.uri().path() {
                        "/good.yml" => (200, GOOD),
                        "/broken.yml" => (200, BROKEN),
                        _ => (404, "not here"),
                    };
                    let resp = hyper::Response::builder()
                        .status(status)
                        .header("content-type", "application/yaml")
                        .body(Full::new(bytes::Bytes::from_static(body.as_bytes())));
                    Ok::<_, std::convert::Infallible>(resp.unwrap_or_default())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

fn agent(upstream: u16, url: &str) -> AgentProc {
    AgentProc::spawn(&[
        "http",
        &upstream.to_string(),
        "--edge-http",
        "127.0.0.1:0",
        "--traffic-policy-url",
        url,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_policy_is_enforced() {
    let server = policy_server().await;
    let (upstream, _task) = text_upstream("app").await;
    let mut a = agent(upstream, &format!("http://127.0.0.1:{server}/good.yml"));
    let url = a.url().await;
    let (host, port) = host_port(&url);
    let r = try_get(port, &host, "/healthz").await.expect("answer");
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"from the fetched policy");
    let r = try_get(port, &host, "/").await.expect("answer");
    assert_eq!(&r.body[..], b"app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_or_missing_policy_stops_the_agent_with_the_url() {
    let server = policy_server().await;
    let (upstream, _task) = text_upstream("app").await;
    let broken = format!("http://127.0.0.1:{server}/broken.yml");
    let mut a = agent(upstream, &broken);
    assert_eq!(a.exited(Duration::from_secs(30)).await, Some(1));
    let stderr = a.stderr();
    assert!(stderr.contains(&format!("{broken}:2:19")), "{stderr}");
    assert!(stderr.contains("req.nope"), "{stderr}");

    let missing = format!("http://127.0.0.1:{server}/gone.yml");
    let mut a = agent(upstream, &missing);
    assert_eq!(a.exited(Duration::from_secs(30)).await, Some(1));
    let stderr = a.stderr();
    assert!(
        stderr.contains(&format!("{missing}: the server answered 404")),
        "{stderr}"
    );
}
