//! An http(s) endpoint's proxy streams through the SSH client, with a console line per
//! request. The edge speaks HTTP/1.1 on each stream (several requests in turn); the relay serves
//! it with hyper, sends each request over a `forwarded-tcpip` channel to the SSH client's local
//! target (one channel kept while it stays open, a new one when it closed), and writes
//! `TIME METHOD PATH STATUS DURATION` on the session's standard output, so the terminal that
//! ran `ssh -R` shows the traffic as the agent's console does. Upgrades (WebSocket, or any
//! protocol the edge passes on) are joined end to end as bytes after the `101`. When the local
//! target cannot be reached, the stream closes without an answer and the edge answers 502
//! `ERR_SLUICE_8012`, as for an agent.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sluice_tunnel::TunnelStream;
use tokio::sync::Mutex;

use super::bridge::{Local, Output};

/// Longest path shown in a console line (longer ones end with `…`).
const MAX_SHOWN_PATH: usize = 120;

/// Why a request got no answer from the local target.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("the SSH client could not open a connection to the local service: {0}")]
    Open(#[from] russh::Error),
    #[error("the local service: {0}")]
    Http(#[from] hyper::Error),
}

/// The local side of one public connection: the channel's HTTP/1.1 client, opened on demand.
struct Upstream {
    local: Local,
    sender: Mutex<Option<SendRequest<Incoming>>>,
}

impl Upstream {
    async fn connect(&self) -> Result<SendRequest<Incoming>, RelayError> {
        let channel = self.local.open().await?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .preserve_header_case(true)
            .handshake(TokioIo::new(channel))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "ssh forwarded http connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Sends `req` on the open channel, or on a new one when there is none (or it closed).
    async fn send(&self, req: Request<Incoming>) -> Result<Response<Incoming>, RelayError> {
        // The edge sends one request at a time on a stream, so the lock is never contended.
        let mut slot = self.sender.lock().await;
        let mut sender = match slot.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        if sender.ready().await.is_err() {
            sender = self.connect().await?;
            sender.ready().await?;
        }
        let resp = sender.send_request(req).await;
        *slot = Some(sender);
        Ok(resp?)
    }
}

/// Serves the HTTP/1.1 requests of one proxy stream until the edge closes it.
pub(super) async fn serve(out: Output, local: Local, stream: TunnelStream) {
    let upstream = Arc::new(Upstream {
        local,
        sender: Mutex::new(None),
    });
    let service = hyper::service::service_fn(move |req| {
        let (upstream, out) = (upstream.clone(), out.clone());
        async move { relay(&upstream, &out, req).await }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "ssh http relay: the edge's stream ended with an error");
    }
}

async fn relay(
    upstream: &Upstream,
    out: &Output,
    mut req: Request<Incoming>,
) -> Result<Response<Incoming>, RelayError> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let upgrade = req
        .headers()
        .contains_key(http::header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    match upstream.send(req).await {
        Ok(mut resp) => {
            let status = shown_status(resp.status());
            out.stdout(&line(&method, &path, &status, started.elapsed()))
                .await;
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS
                && let Some(client) = upgrade
            {
                let local = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    if let (Ok(a), Ok(b)) = (client.await, local.await) {
                        let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
            }
            Ok(resp)
        }
        Err(e) => {
            let status = "502 Bad Gateway (the local service is unreachable)";
            out.stdout(&line(&method, &path, status, started.elapsed()))
                .await;
            tracing::debug!(error = %e, "ssh http relay: no answer from the local service");
            Err(e)
        }
    }
}

fn shown_status(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `HH:MM:SS.mmm UTC METHOD PATH STATUS DURATION`, as the agent's console lists requests.
fn line(method: &str, path: &str, status: &str, took: Duration) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let day = now.as_secs() % 86_400;
    let (h, m, s, ms) = (day / 3600, day / 60 % 60, day % 60, now.subsec_millis());
    let path = match path.char_indices().nth(MAX_SHOWN_PATH) {
        Some((end, _)) => format!("{}…", &path[..end]),
        None => path.to_owned(),
    };
    format!(
        "{h:02}:{m:02}:{s:02}.{ms:03} UTC {method:<7} {path:<30} {status:<16} {}\n",
        shown_duration(took)
    )
}

fn shown_duration(took: Duration) -> String {
    match took.as_millis() {
        0..1000 => format!("{:.1}ms", took.as_secs_f64() * 1000.0),
        _ => format!("{:.2}s", took.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_the_console() {
        let l = line("GET", "/a?b=1", "200 OK", Duration::from_micros(12_340));
        assert!(l.ends_with("200 OK           12.3ms\n"), "{l:?}");
        assert!(l.contains(" UTC GET     /a?b=1 "), "{l:?}");
        let long = format!("/{}", "x".repeat(300));
        let l = line("POST", &long, "502", Duration::from_millis(1500));
        assert!(l.contains(&format!("/{}… ", "x".repeat(119))), "{l:?}");
        assert!(l.ends_with("1.50s\n"), "{l:?}");
        assert_eq!(shown_status(StatusCode::NOT_FOUND), "404 Not Found");
    }
}
