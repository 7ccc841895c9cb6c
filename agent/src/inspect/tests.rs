//! The local API over a real loopback socket, with raw HTTP so every header is ours.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::store::tests::exchange;
use super::{ApiOptions, EndpointInfo, InspectApi, Inspector, bind};
use crate::forward::{BoxError, HttpForwarder, HttpOptions};
use crate::upstream::{EndpointKind, Upstream};

type TestResult = Result<(), BoxError>;

pub(super) async fn start(api: &InspectApi) -> Result<u16, BoxError> {
    let listener = bind("127.0.0.1:0".parse()?, false).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(api.clone().serve(listener));
    Ok(port)
}

/// Sends one request; returns (status, body).
pub(super) async fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String), BoxError> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let status = out
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub(super) fn info(name: &str, upstream: &str) -> EndpointInfo {
    EndpointInfo {
        name: name.into(),
        url: "https://k3f9.localhost".into(),
        upstream_url: upstream.into(),
        upstream_protocol: "http1".into(),
        inspect: true,
        traffic_policy: Some("on_http_request: []".into()),
        pooling_enabled: false,
        binding: "public".into(),
    }
}

#[tokio::test]
async fn read_endpoints() -> TestResult {
    let store = Inspector::default();
    store.record(exchange("0000000000000001", "web", 3));
    store.record(exchange("0000000000000002", "web", 3));
    let api = InspectApi::new(
        store,
        ApiOptions {
            agent_version: "0.1.0".into(),
            ..ApiOptions::default()
        },
    );
    api.add_endpoint(info("web", "http://localhost:8080"), None);
    let port = start(&api).await?;
    let host = [("host", "127.0.0.1:4040")];
    let (s, b) = raw(port, "GET", "/api/status", &host, "").await?;
    let v: serde_json::Value = serde_json::from_str(&b)?;
    assert_eq!(
        (s, v["status"].as_str(), v["uri"].as_str()),
        (200, Some("online"), Some("/api/status"))
    );
    let (_, b) = raw(port, "GET", "/api/endpoints", &host, "").await?;
    let v: serde_json::Value = serde_json::from_str(&b)?;
    assert_eq!(
        v["endpoints"][0]["upstream"]["url"],
        "http://localhost:8080"
    );
    assert_eq!(v["endpoints"][0]["traffic_policy"], "on_http_request: []");
    assert_eq!(v["endpoints"][0]["bindings"], serde_json::json!(["public"]));
    let (_, b) = raw(port, "GET", "/api/tunnels", &host, "").await?;
    let v: serde_json::Value = serde_json::from_str(&b)?;
    assert_eq!(v["tunnels"][0]["public_url"], "https://k3f9.localhost");
    let (_, b) = raw(port, "GET", "/api/requests/http?limit=1", &host, "").await?;
    let v: serde_json::Value = serde_json::from_str(&b)?;
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["requests"][0]["id"], "0000000000000002");
    let (s, b) = raw(
        port,
        "GET",
        "/api/requests/http/0000000000000001",
        &host,
        "",
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(&b)?;
    assert_eq!((s, v["request"]["uri"].as_str()), (200, Some("/x?y=1")));
    assert_eq!(
        raw(port, "GET", "/api/requests/http/nope", &host, "")
            .await?
            .0,
        404
    );
    // The page is the embedded single-page inspector: the list comes from the API.
    let (s, page) = raw(port, "GET", "/", &[("host", "localhost:4040")], "").await?;
    assert_eq!(s, 200);
    assert!(
        page.contains("sluice inspector") && page.contains("/assets/app.js"),
        "{page}"
    );
    assert_eq!(
        raw(port, "DELETE", "/api/requests/http", &host, "")
            .await?
            .0,
        204
    );
    assert!(api.inspector().is_empty());
    Ok(())
}

#[tokio::test]
async fn refuses_foreign_hosts_origins_and_non_json() -> TestResult {
    let api = InspectApi::new(Inspector::default(), ApiOptions::default());
    let port = start(&api).await?;
    assert_eq!(
        raw(
            port,
            "GET",
            "/api/status",
            &[("host", "evil.example:4040")],
            ""
        )
        .await?
        .0,
        403
    );
    assert_eq!(raw(port, "GET", "/api/status", &[], "").await?.0, 403);
    let json = ("content-type", "application/json");
    let host = ("host", "127.0.0.1:4040");
    let cross = [host, json, ("origin", "http://evil.example")];
    assert_eq!(
        raw(port, "POST", "/api/requests/http", &cross, "{\"id\":\"x\"}")
            .await?
            .0,
        403
    );
    assert_eq!(
        raw(
            port,
            "DELETE",
            "/api/requests/http",
            &[host, ("origin", "http://evil.example")],
            ""
        )
        .await?
        .0,
        403
    );
    let form = [host, ("content-type", "application/x-www-form-urlencoded")];
    assert_eq!(
        raw(port, "POST", "/api/requests/http", &form, "id=x")
            .await?
            .0,
        415
    );
    let same = [host, json, ("origin", "http://127.0.0.1:4040")];
    assert_eq!(
        raw(port, "POST", "/api/requests/http", &same, "{\"id\":\"x\"}")
            .await?
            .0,
        404
    );
    assert_eq!(
        raw(
            port,
            "POST",
            "/api/requests/http",
            &[host, json],
            "{\"nope\":1}"
        )
        .await?
        .0,
        400
    );
    assert!(bind("0.0.0.0:0".parse()?, false).await.is_err());
    Ok(())
}

#[tokio::test]
async fn replay_goes_to_the_upstream() -> TestResult {
    let port = crate::forward::tests::start_echo(false).await?;
    let store = Inspector::default();
    let up = Upstream::parse(&port.to_string(), EndpointKind::Http)?;
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), Some(store.clone()))?;
    let (status, _, _) =
        crate::forward::tests::send(&fwd, crate::forward::tests::get("/r", "a.localhost")?).await?;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let id = store
        .list(1, None)
        .first()
        .map(|e| e.id.clone())
        .ok_or("not recorded")?;
    let api = InspectApi::new(store.clone(), ApiOptions::default());
    api.add_endpoint(info("web", &fwd.upstream().to_string()), Some(fwd));
    let api_port = start(&api).await?;
    let headers = [("host", "localhost"), ("content-type", "application/json")];
    let (s, _) = raw(
        api_port,
        "POST",
        "/api/requests/http",
        &headers,
        &format!("{{\"id\":\"{id}\"}}"),
    )
    .await?;
    assert_eq!(s, 204);
    assert_eq!(store.len(), 2);
    let newest = store.list(1, None);
    assert_eq!(newest[0].request.uri, "/r");
    assert_eq!(newest[0].response.as_ref().map(|r| r.status), Some(200));
    Ok(())
}
