//! The echo upstream of the live mode: an HTTP/1.1 server on loopback that records every
//! request it receives and answers with the reply the current send asked for.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sluice_policy::harness::{UpstreamReply, UpstreamSaw};
use tokio::net::TcpListener;

#[derive(Default)]
struct State {
    reply: UpstreamReply,
    seen: Vec<UpstreamSaw>,
}

/// A running echo upstream. It lives as long as the runtime it was started on.
pub struct Echo {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Echo {
    /// Binds `bind` (port 0 for any) and serves in the background on the current runtime.
    pub async fn start(bind: SocketAddr) -> std::io::Result<Echo> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| serve(req, state.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Echo { addr, state })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the reply for the next requests and forgets what was received so far.
    pub fn arm(&self, reply: UpstreamReply) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.reply = reply;
        s.seen.clear();
    }

    /// What was received since [`Echo::arm`].
    pub fn take(&self) -> Vec<UpstreamSaw> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut s.seen)
    }
}

async fn serve(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let saw = UpstreamSaw {
        method: parts.method,
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "/".into()),
        headers: parts.headers,
        body,
    };
    let reply = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        s.seen.push(saw);
        s.reply.clone()
    };
    let mut resp = Response::new(Full::new(reply.body));
    *resp.status_mut() = reply.status;
    *resp.headers_mut() = reply.headers;
    Ok(resp)
}
