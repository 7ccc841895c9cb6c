use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{TestResult, get, send, start_echo};
use crate::forward::{ERR_UPSTREAM_UNREACHABLE, HostHeader, HttpForwarder, HttpOptions};
use crate::inspect::{InspectLimits, Inspector};
use crate::upstream::{AppProtocol, EndpointKind, Upstream};

fn upstream(addr: &str) -> Result<Upstream, crate::upstream::UpstreamError> {
    Upstream::parse(addr, EndpointKind::Http)
}

#[tokio::test]
async fn forwards_and_records() -> TestResult {
    let port = start_echo(false).await?;
    let store = Inspector::new(InspectLimits {
        max_bytes: 1 << 20,
        body_limit: 4,
    });
    let fwd = HttpForwarder::new(
        "web",
        upstream(&port.to_string())?,
        HttpOptions::default(),
        Some(store.clone()),
    )?;
    let req = Request::post("/p?q=1")
        .header("host", "k3f9.localhost")
        .body(Full::new(Bytes::from_static(b"hello")))?;
    let (status, headers, body) = send(&fwd, req).await?;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("x-upstream").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );
    assert!(
        headers.get("sluice-error-code").is_none(),
        "upstreams cannot set the error header"
    );
    let body = String::from_utf8(body.to_vec())?;
    assert_eq!(
        body,
        "POST /p?q=1 host=k3f9.localhost version=HTTP/1.1 body=hello"
    );
    // The record lands when the response body ends.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let recorded = store.list(10, None);
    assert_eq!(recorded.len(), 1);
    let ex = &recorded[0];
    assert_eq!(ex.endpoint, "web");
    assert_eq!(
        (ex.request.method.as_str(), ex.request.uri.as_str()),
        ("POST", "/p?q=1")
    );
    assert_eq!(
        (
            &ex.request.body[..],
            ex.request.body_size,
            ex.request.truncated
        ),
        (&b"hell"[..], 5, true)
    );
    let resp = ex.response.as_ref().ok_or("no response")?;
    assert_eq!(resp.status, 200);
    assert!(resp.truncated);
    assert_eq!(ex.remote_addr, super::client_addr());
    // Replay goes straight to the upstream and is recorded too.
    let status = fwd.replay(&ex.request, ex.remote_addr).await?;
    assert_eq!(status, 200);
    assert_eq!(store.len(), 2);
    Ok(())
}

#[tokio::test]
async fn unreachable_upstream_is_502_with_code() -> TestResult {
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let fwd = HttpForwarder::new(
        "web",
        upstream(&format!("127.0.0.1:{port}"))?,
        HttpOptions::default(),
        None,
    )?;
    let (status, headers, body) = send(&fwd, get("/", "x.localhost")?).await?;
    assert_eq!(status, 502);
    assert_eq!(
        headers.get("sluice-error-code").map(|v| v.as_bytes()),
        Some(ERR_UPSTREAM_UNREACHABLE.as_bytes())
    );
    let body = String::from_utf8(body.to_vec())?;
    assert!(body.contains(&format!("http://127.0.0.1:{port}")), "{body}");
    Ok(())
}

#[tokio::test]
async fn host_header_rewrite_and_custom() -> TestResult {
    let port = start_echo(false).await?;
    let opts = HttpOptions {
        host_header: HostHeader::Rewrite,
    };
    let fwd = HttpForwarder::new("web", upstream(&format!("127.0.0.1:{port}"))?, opts, None)?;
    let (_, _, body) = send(&fwd, get("/", "public.example")?).await?;
    assert!(String::from_utf8(body.to_vec())?.contains(&format!("host=127.0.0.1:{port} ")));
    let opts = HttpOptions {
        host_header: HostHeader::parse("internal.svc"),
    };
    let fwd = HttpForwarder::new("web", upstream(&port.to_string())?, opts, None)?;
    let (_, _, body) = send(&fwd, get("/", "public.example")?).await?;
    assert!(String::from_utf8(body.to_vec())?.contains("host=internal.svc "));
    Ok(())
}

#[tokio::test]
async fn rewritten_hosts_come_back_in_redirects() -> TestResult {
    let port = start_echo(false).await?;
    let opts = HttpOptions {
        host_header: HostHeader::Rewrite,
    };
    let fwd = HttpForwarder::new("web", upstream(&format!("127.0.0.1:{port}"))?, opts, None)?;
    let mut req = get("/redirect-to/login?next=%2F", "public.example")?;
    req.headers_mut().insert(
        "x-forwarded-proto",
        hyper::header::HeaderValue::from_static("https"),
    );
    let (status, headers, _) = send(&fwd, req).await?;
    assert_eq!(status, 302);
    assert_eq!(
        headers.get("location").map(|v| v.as_bytes()),
        Some(&b"https://public.example/login?next=%2F"[..])
    );
    // Preserve: the upstream already saw the public host; nothing to rewrite.
    let fwd = HttpForwarder::new(
        "web",
        upstream(&port.to_string())?,
        HttpOptions::default(),
        None,
    )?;
    let (_, headers, _) = send(&fwd, get("/redirect-to/x", "public.example")?).await?;
    assert_eq!(
        headers.get("location").map(|v| v.as_bytes()),
        Some(&b"http://public.example/x"[..])
    );
    Ok(())
}

#[tokio::test]
async fn h2c_upstream_with_a_rewritten_host() -> TestResult {
    let port = start_echo(true).await?;
    let mut up = upstream(&format!("127.0.0.1:{port}"))?;
    up.protocol = AppProtocol::Http2;
    let opts = HttpOptions {
        host_header: HostHeader::parse("internal.svc"),
    };
    let fwd = HttpForwarder::new("web", up, opts, None)?;
    let (status, _, body) = send(&fwd, get("/h2", "a.localhost")?).await?;
    assert_eq!(status, 200, "{body:?}");
    assert!(
        String::from_utf8(body.to_vec())?.starts_with("GET /h2 host=internal.svc version=HTTP/2.0")
    );
    Ok(())
}

#[tokio::test]
async fn h2c_upstream() -> TestResult {
    let port = start_echo(true).await?;
    let mut up = upstream(&port.to_string())?;
    up.protocol = AppProtocol::Http2;
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), None)?;
    let (status, _, body) = send(&fwd, get("/h2", "a.localhost")?).await?;
    assert_eq!(status, 200);
    let body = String::from_utf8(body.to_vec())?;
    assert!(
        body.starts_with("GET /h2 host=a.localhost version=HTTP/2.0"),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn https_upstream_without_verification() -> TestResult {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let svc = hyper::service::service_fn(super::echo);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                }
            });
        }
    });
    let fwd = HttpForwarder::new(
        "web",
        upstream(&format!("https://localhost:{port}"))?,
        HttpOptions::default(),
        None,
    )?;
    let (status, _, body) = send(&fwd, get("/tls", "a.localhost")?).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // With verification on, the self-signed certificate is refused: 502.
    let mut up = upstream(&format!("https://localhost:{port}"))?;
    up.tls_verify = true;
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), None)?;
    let (status, _, _) = send(&fwd, get("/tls", "a.localhost")?).await?;
    assert_eq!(status, 502);
    Ok(())
}

/// An upstream that reads a PROXY v1 line, then one HTTP/1.1 request head, and answers with
/// the PROXY line as its body.
async fn start_proxy_protocol_upstream() -> Result<u16, crate::forward::BoxError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut proxy_line = String::new();
                if reader.read_line(&mut proxy_line).await.is_err() {
                    return;
                }
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            let body = proxy_line.trim_end();
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if reader.get_mut().write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    Ok(port)
}

#[tokio::test]
async fn http_upstreams_get_the_proxy_header_of_each_public_client() -> TestResult {
    let port = start_proxy_protocol_upstream().await?;
    let mut up = upstream(&format!("127.0.0.1:{port}"))?;
    up.proxy_protocol = Some(crate::upstream::ProxyProtocol::V1);
    let fwd = HttpForwarder::new("web", up, HttpOptions::default(), None)?;
    let (status, _, body) = send(&fwd, get("/", "a.localhost")?).await?;
    assert_eq!(status, 200);
    let line = String::from_utf8(body.to_vec())?;
    // `send` serves the request as public client 198.51.100.9:40000.
    assert!(
        line.starts_with("PROXY TCP4 198.51.100.9 127.0.0.1 40000 "),
        "{line}"
    );
    Ok(())
}

#[tokio::test]
async fn an_http_1_0_upstream_is_answered_as_http_1_1() -> TestResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    });
    let fwd = HttpForwarder::new(
        "web",
        upstream(&format!("127.0.0.1:{port}"))?,
        HttpOptions::default(),
        None,
    )?;
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move { fwd.serve_connection(server, super::client_addr()).await });
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(get("/", "a.localhost")?).await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), hyper::Version::HTTP_11);
    Ok(())
}
