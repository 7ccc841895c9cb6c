//! The admin listener: `/healthz`, Prometheus `/metrics` and `POST /acme/renew` (renews every
//! ACME certificate now), a minimal HTTP/1.1 responder on
//! its own port so it keeps answering whatever the proxy is doing.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::state::Shared;

/// Serves admin requests until the listener fails.
pub(crate) async fn admin_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                true
            })
            .await;
            if !matches!(read, Ok(true)) {
                return;
            }
            let head = String::from_utf8_lossy(&buf);
            let mut parts = head.split_whitespace();
            let method = parts.next().unwrap_or("");
            let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
            let (status, ctype, body) = match (method, path) {
                ("GET" | "HEAD", "/healthz") => ("200 OK", "text/plain", health(&shared)),
                ("GET" | "HEAD", "/metrics") => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    shared.metrics.render() + &cluster_metrics(&shared) + &redis_metrics(&shared),
                ),
                ("POST", "/acme/renew") => match shared.acme.renew_all() {
                    Some(n) => (
                        "202 Accepted",
                        "text/plain",
                        format!("renewing {n} ACME certificates\n"),
                    ),
                    None => (
                        "404 Not Found",
                        "text/plain",
                        "ACME is not configured\n".into(),
                    ),
                },
                ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found\n".into()),
                _ => (
                    "405 Method Not Allowed",
                    "text/plain",
                    "method not allowed\n".into(),
                ),
            };
            let mut resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            if method != "HEAD" {
                resp.push_str(&body);
            }
            let _ = tcp.write_all(resp.as_bytes()).await;
            let _ = tcp.shutdown().await;
        });
    }
}

/// `/healthz`: `ok`, or the degraded modes (still 200: the edge serves): in a cluster whose
/// etcd does not answer, and with `rate_limit.redis` when Redis does not.
fn health(shared: &Shared) -> String {
    let mut degraded = Vec::new();
    if shared.cluster.get().is_some_and(|c| !c.healthy()) {
        degraded
            .push("degraded: etcd is unreachable; serving known placements, refusing new binds\n");
    }
    if shared
        .state
        .load()
        .rate_limit_redis
        .as_ref()
        .is_some_and(|r| !r.is_up())
    {
        degraded.push(
            "degraded: Redis is unreachable; rate-limit counts are per edge until it answers\n",
        );
    }
    if degraded.is_empty() {
        "ok\n".to_string()
    } else {
        degraded.concat()
    }
}

/// The gauge of the shared rate-limit counters, when the edge has them.
fn redis_metrics(shared: &Shared) -> String {
    match &shared.state.load().rate_limit_redis {
        Some(r) => format!(
            "# HELP sluice_rate_limit_redis_up Whether Redis answered the edge's last rate-limit call (0: counting per edge).\n\
             # TYPE sluice_rate_limit_redis_up gauge\nsluice_rate_limit_redis_up {}\n",
            u8::from(r.is_up())
        ),
        None => String::new(),
    }
}

/// The cluster's gauge, in a cluster.
fn cluster_metrics(shared: &Shared) -> String {
    match shared.cluster.get() {
        Some(c) => format!(
            "# HELP sluice_cluster_etcd_up Whether etcd answered the edge's last call (0: degraded).\n\
             # TYPE sluice_cluster_etcd_up gauge\nsluice_cluster_etcd_up {}\n\
             # HELP sluice_cluster_watching Whether a watch on etcd brings other edges' binds at once (0: polled every 500 ms).\n\
             # TYPE sluice_cluster_watching gauge\nsluice_cluster_watching {}\n",
            u8::from(c.healthy()),
            u8::from(c.watching())
        ),
        None => String::new(),
    }
}
