//! Internal-endpoint helpers of the `forward-internal` and `http-request` tests: echo
//! upstreams that say what reached them, and SDK agents binding `https://NAME.internal`.

use std::time::Duration;

use sluice_agent::Agent;
use sluice_tunnel::{BindRequest, Protocol, SessionBuilder};

use super::agent::TunnelEdge;

/// An HTTP/1.1 upstream answering `NAME METHOD PATH host=HOST xfh=X-FORWARDED-HOST
/// mark=X-API-POLICY`, so a test sees what reached which service.
pub async fn echo_upstream(name: &'static str) -> u16 {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<_>| async move {
                    let h = |k: &str| {
                        req.headers()
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned()
                    };
                    let body = format!(
                        "{name} {} {} host={} xfh={} mark={}",
                        req.method(),
                        req.uri(),
                        h("host"),
                        h("x-forwarded-host"),
                        h("x-api-policy"),
                    );
                    let resp = hyper::Response::builder()
                        .header("connection", "close")
                        .body(Full::new(bytes::Bytes::from(body)));
                    Ok::<_, std::convert::Infallible>(resp.unwrap_or_default())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

/// A session builder for this edge with `token`.
pub fn builder(edge: &TunnelEdge, token: &str) -> SessionBuilder {
    SessionBuilder::new(token)
        .connect_addr(format!("127.0.0.1:{}", edge.tunnel))
        .server_name("localhost")
        .ca_pem(std::fs::read(edge.ca_path()).expect("edge CA"))
        .timeouts(Duration::from_secs(10), Duration::from_secs(10))
}

/// An SDK agent of `token` binding `request`, forwarding to an echo upstream named `name`.
pub async fn serve(
    edge: &TunnelEdge,
    token: &str,
    request: BindRequest,
    name: &'static str,
) -> Agent {
    let port = echo_upstream(name).await;
    let agent = Agent::connect(builder(edge, token))
        .await
        .expect("agent connects");
    let ep = agent.bind(request).await.expect("bind");
    let upstream = format!("http://127.0.0.1:{port}");
    tokio::spawn(async move { ep.forward_to(&upstream).await });
    agent
}

/// An internal HTTPS endpoint `https://NAME.internal` (optionally with a policy).
pub fn internal(name: &str, policy: Option<&str>) -> BindRequest {
    let r = BindRequest::new(Protocol::Https).with_url(format!("https://{name}.internal"));
    match policy {
        Some(p) => r.with_traffic_policy(p),
        None => r,
    }
}
