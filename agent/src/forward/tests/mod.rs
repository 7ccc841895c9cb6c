//! Loopback tests of the forwarders: a real upstream on 127.0.0.1, the public side over an
//! in-memory duplex stream standing in for a tunnel stream.

mod file;
mod http;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::{BoxError, HttpForwarder};

pub(crate) type TestResult = Result<(), BoxError>;

pub(crate) fn client_addr() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 9], 40000))
}

/// An upstream answering `METHOD PATH host=HOST body=BODY` with header `x-upstream: yes`.
async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // As strict HTTP/2 servers do: `Host` and `:authority` must agree.
    if req.version() == hyper::Version::HTTP_2
        && let (Some(host), Some(authority)) = (req.headers().get("host"), req.uri().authority())
        && host.as_bytes() != authority.as_str().as_bytes()
    {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"host and :authority differ")));
        *resp.status_mut() = hyper::StatusCode::BAD_REQUEST;
        return Ok(resp);
    }
    let target = req.uri().path_and_query().map(|p| p.as_str().to_string());
    if let Some(to) = target
        .as_deref()
        .and_then(|p| p.strip_prefix("/redirect-to/"))
    {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = hyper::StatusCode::FOUND;
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let location = format!("http://{host}/{to}");
        if let Ok(v) = hyper::header::HeaderValue::try_from(location) {
            resp.headers_mut().insert("location", v);
        }
        return Ok(resp);
    }
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let version = format!("{:?}", req.version());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = format!(
        "{method} {path} host={host} version={version} body={}",
        String::from_utf8_lossy(&body)
    );
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    resp.headers_mut().insert(
        "x-upstream",
        "yes"
            .parse()
            .unwrap_or(hyper::header::HeaderValue::from_static("yes")),
    );
    resp.headers_mut().insert(
        "sluice-error-code",
        hyper::header::HeaderValue::from_static("FORGED"),
    );
    Ok(resp)
}

/// Starts an HTTP/1.1 (or h2c with `h2`) echo upstream; returns its port.
pub(crate) async fn start_echo(h2: bool) -> Result<u16, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let svc = hyper::service::service_fn(echo);
                if h2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            });
        }
    });
    Ok(port)
}

/// Sends `req` through `fwd` over an in-memory stream; returns the status, headers and body.
pub(crate) async fn send(
    fwd: &HttpForwarder,
    req: Request<Full<Bytes>>,
) -> Result<(hyper::StatusCode, hyper::HeaderMap, Bytes), BoxError> {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let f = fwd.clone();
    tokio::spawn(async move { f.serve_connection(server, client_addr()).await });
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, headers, body))
}

pub(crate) fn get(path: &str, host: &str) -> Result<Request<Full<Bytes>>, BoxError> {
    Ok(Request::builder()
        .uri(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))?)
}
