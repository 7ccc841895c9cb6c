//! Replay through the edge: the request is sent to the endpoint's public URL, so it enters the
//! edge again and its Traffic Policy runs, then (unless the policy answers) comes back through
//! the tunnel to this agent, which recognises it by a one-time nonce header and records it as a
//! replay.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::net::TcpStream;

use super::replay::{PreparedReplay, ReplayBody};
use crate::forward::REPLAY_HEADER;

/// How long an edge replay may take, connect to last byte.
const EDGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of the edge's response body kept for the answer.
const BODY_KEPT: usize = 64 * 1024;

/// The response the edge gave to a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body as text, when UTF-8.
    pub body: Option<String>,
    /// The body, base64.
    pub body_base64: String,
    /// True when the body was longer than what is kept.
    pub truncated: bool,
}

/// Why an edge replay failed.
#[derive(Debug, thiserror::Error)]
pub enum EdgeReplayError {
    /// The URL is not `http(s)://host[:port]`.
    #[error("the endpoint's URL `{0}` is not an http(s) URL")]
    BadUrl(String),
    /// Connecting, TLS or HTTP failed.
    #[error("sending to {url}: {message}")]
    Send {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// No answer in time.
    #[error("no answer from {0} in time")]
    Timeout(String),
}

/// A fresh nonce for the replay header: 128 bits from the standard library's per-process
/// randomly keyed hasher (no extra crate for a value that only has to be unguessable for the
/// few milliseconds a replay is in flight).
pub fn nonce() -> String {
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// Sends `replay` to `public_url` with the nonce header; returns the edge's response.
pub async fn send(
    public_url: &str,
    replay: &PreparedReplay,
    nonce: &str,
) -> Result<EdgeResponse, EdgeReplayError> {
    tokio::time::timeout(EDGE_TIMEOUT, send_now(public_url, replay, nonce))
        .await
        .map_err(|_| EdgeReplayError::Timeout(public_url.to_string()))?
}

async fn send_now(
    public_url: &str,
    replay: &PreparedReplay,
    nonce: &str,
) -> Result<EdgeResponse, EdgeReplayError> {
    let bad = || EdgeReplayError::BadUrl(public_url.to_string());
    let (scheme, rest) = public_url.split_once("://").ok_or_else(bad)?;
    let tls = match scheme {
        "https" => true,
        "http" => false,
        _ => return Err(bad()),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let uri: http::Uri = format!("{scheme}://{authority}/")
        .parse()
        .map_err(|_| bad())?;
    let host = uri.host().ok_or_else(bad)?.to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let send_err = |message: String| EdgeReplayError::Send {
        url: public_url.to_string(),
        message,
    };
    // `*.localhost` names loopback (RFC 6761) whether or not the system resolver knows it.
    let addr: SocketAddr = if is_local(&host) {
        SocketAddr::from(([127, 0, 0, 1], port))
    } else {
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| send_err(e.to_string()))?
            .next()
            .ok_or_else(|| send_err(format!("`{host}` does not resolve")))?
    };
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| send_err(e.to_string()))?;
    let mut req = replay
        .request(Some(authority))
        .map_err(|e| send_err(e.to_string()))?;
    req.headers_mut().insert(
        REPLAY_HEADER,
        http::HeaderValue::from_str(nonce).map_err(|e| send_err(e.to_string()))?,
    );
    if tls {
        // Loopback development edges use their own CA; real names are checked with the web PKI.
        let config =
            crate::forward::tls::client_config(!is_local(&host), None, vec![b"http/1.1".to_vec()])
                .map_err(|e| send_err(e.to_string()))?;
        let name = ServerName::try_from(host.clone()).map_err(|e| send_err(e.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| send_err(e.to_string()))?;
        exchange(TokioIo::new(stream), req).await.map_err(send_err)
    } else {
        exchange(TokioIo::new(tcp), req).await.map_err(send_err)
    }
}

async fn exchange<I>(io: I, req: http::Request<ReplayBody>) -> Result<EdgeResponse, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = crate::forward::headers_of(resp.headers());
    let mut body = resp.into_body();
    let mut kept = BytesMut::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            let room = BODY_KEPT.saturating_sub(kept.len());
            truncated |= data.len() > room;
            kept.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(EdgeResponse {
        status,
        headers,
        body: std::str::from_utf8(&kept).ok().map(str::to_string),
        body_base64: base64::engine::general_purpose::STANDARD.encode(&kept),
        truncated,
    })
}
