//! Replays over the local API on a real loopback socket: with changes to the upstream, through
//! an "edge" (the forwarder itself on a socket, as the edge hands it tunnelled connections),
//! with trailers, and the checks and guards in front of them.

use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;

use super::store::tests::exchange;
use super::tests::{info, raw, start};
use super::{ApiOptions, InspectApi, Inspector};
use crate::forward::{BoxError, HttpForwarder, HttpOptions};
use crate::upstream::{EndpointKind, Upstream};

type TestResult = Result<(), BoxError>;

const HOST: (&str, &str) = ("host", "127.0.0.1:4040");
const JSON: (&str, &str) = ("content-type", "application/json");

/// Serves `fwd` on a loopback listener, as the edge would hand it tunnelled connections.
async fn fake_edge(fwd: HttpForwarder) -> Result<u16, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let fwd = fwd.clone();
            tokio::spawn(async move { fwd.serve_connection(stream, peer).await });
        }
    });
    Ok(port)
}

#[tokio::test]
async fn replay_with_changes_to_the_upstream_and_through_the_edge() -> TestResult {
    let upstream = crate::forward::tests::start_echo(false).await?;
    let store = Inspector::default();
    let up = Upstream::parse(&upstream.to_string(), EndpointKind::Http)?;
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), Some(store.clone()))?;
    let edge = fake_edge(fwd.clone()).await?;
    store.record(exchange("00000000000000aa", "web", 3));
    let api = InspectApi::new(store.clone(), ApiOptions::default());
    let mut endpoint = info("web", &fwd.upstream().to_string());
    endpoint.url = format!("http://127.0.0.1:{edge}");
    api.add_endpoint(endpoint, Some(fwd));
    let port = start(&api).await?;
    let url = "/api/requests/http/00000000000000aa/replay";

    let edit = r#"{"method":"PUT","path":"/edited","query":[["k","v 1"]],
                   "headers":[["X-Edited","yes"],["Host","a.localhost"]],"body":"changed"}"#;
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], edit).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!((s, v["status_code"].as_u64()), (200, Some(200)), "{b}");
    let id = v["id"].as_str().ok_or("no id")?.to_string();
    let replayed = store.get(&id).ok_or("not recorded")?;
    assert_eq!(replayed.request.uri, "/edited?k=v+1");
    assert_eq!(
        replayed.replay.as_ref().map(|m| (m.of.as_str(), m.via)),
        Some(("00000000000000aa", super::live::ReplayVia::Upstream))
    );
    let echoed = replayed
        .response
        .as_ref()
        .map(|r| r.body.clone())
        .unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&echoed),
        "PUT /edited?k=v+1 host=a.localhost version=HTTP/1.1 body=changed"
    );

    // Through the edge: the request comes back through the forwarder, which knows it by its
    // nonce, removes the header and records it as a replay.
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], r#"{"target":"edge"}"#).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!((s, v["status_code"].as_u64()), (200, Some(200)), "{b}");
    assert_eq!(v["target"], "edge");
    let echoed = v["edge_response"]["body"].as_str().unwrap_or_default();
    assert!(
        echoed.starts_with("POST /x?y=1 host=127.0.0.1:"),
        "{echoed}"
    );
    let id = v["id"].as_str().ok_or("edge replay not recorded")?;
    let replayed = store.get(id).ok_or("not stored")?;
    assert_eq!(
        replayed.replay.as_ref().map(|m| m.via),
        Some(super::live::ReplayVia::Edge)
    );
    assert!(
        !replayed
            .request
            .headers
            .iter()
            .any(|(k, _)| k == crate::forward::REPLAY_HEADER)
    );

    // Bad edits are refused before anything is sent, naming the part.
    let before = store.len();
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], r#"{"path":"no-slash"}"#).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!((s, v["field"].as_str()), (400, Some("path")));
    let (s, _) = raw(
        port,
        "POST",
        url,
        &[HOST, JSON],
        r#"{"tunnel_name":"gone"}"#,
    )
    .await?;
    assert_eq!(s, 400);
    let (s, _) = raw(port, "POST", url, &[HOST, JSON], r#"{"bogus":1}"#).await?;
    assert_eq!(s, 400);
    let missing = "/api/requests/http/nope/replay";
    assert_eq!(
        raw(port, "POST", missing, &[HOST, JSON], "{}").await?.0,
        404
    );
    // The guards hold for the new routes.
    let cross = [HOST, JSON, ("origin", "http://evil.example")];
    assert_eq!(raw(port, "POST", url, &cross, "{}").await?.0, 403);
    let form = [HOST, ("content-type", "text/plain")];
    assert_eq!(raw(port, "POST", url, &form, "{}").await?.0, 415);
    assert_eq!(store.len(), before);
    Ok(())
}

/// An upstream answering with the trailers it got, as `name=value` lines.
async fn trailer_upstream() -> Result<u16, BoxError> {
    use http_body_util::BodyExt;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let collected = req.into_body().collect().await;
                        let text = collected
                            .ok()
                            .and_then(|c| c.trailers().cloned())
                            .map(|t| {
                                t.iter()
                                    .map(|(k, v)| {
                                        format!("{k}={}", String::from_utf8_lossy(v.as_bytes()))
                                    })
                                    .collect::<Vec<_>>()
                                    .join("\n")
                            })
                            .unwrap_or_default();
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(Bytes::from(text)),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(port)
}

#[tokio::test]
async fn replay_with_trailers_reaches_the_upstream() -> TestResult {
    let upstream = trailer_upstream().await?;
    let store = Inspector::default();
    let up = Upstream::parse(&upstream.to_string(), EndpointKind::Http)?;
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), Some(store.clone()))?;
    store.record(exchange("00000000000000bb", "web", 3));
    let api = InspectApi::new(store.clone(), ApiOptions::default());
    api.add_endpoint(info("web", &fwd.upstream().to_string()), Some(fwd));
    let port = start(&api).await?;
    let url = "/api/requests/http/00000000000000bb/replay";
    let edit = r#"{"trailers":[["x-checksum","abc"]],"body":"payload"}"#;
    let (s, b) = raw(port, "POST", url, &[HOST, JSON], edit).await?;
    let v: Value = serde_json::from_str(&b)?;
    assert_eq!(s, 200, "{b}");
    let id = v["id"].as_str().ok_or("no id")?;
    let replayed = store.get(id).ok_or("not recorded")?;
    let answer = replayed
        .response
        .as_ref()
        .map(|r| r.body.clone())
        .unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&answer), "x-checksum=abc");
    Ok(())
}
