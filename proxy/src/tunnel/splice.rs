//! One client connection of a TCP or TLS endpoint: `on_tcp_connect`, then (when it ran
//! `terminate-tls`) the edge's TLS handshake with the client, then a stream on the agent's
//! session and the bytes copied both ways (each side's end of data passed on as a
//! half-close), recorded like every connection (`tcp_connection_closed.v0`, metrics).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sluice_policy::{SystemClock, TlsInfo};
use sluice_tunnel::{AgentSession, StreamHeader};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::connect::{OPEN_TIMEOUT, header};
use super::replay::Replay;
use super::tcp_chain::{ChainEnd, follow};
use super::tls_terminate::Terminator;
use crate::config::{Endpoint, Target};
use crate::conn::ConnRecord;
use crate::state::Shared;

/// Serves one client connection of `ep` (bound by `session`): runs `on_tcp_connect` (and
/// that of each internal endpoint `forward-internal` hands the connection to, see
/// [`tcp_chain`](super::tcp_chain)), and unless a policy closes it, opens a stream to the last
/// endpoint's agent and writes `prefix` (bytes already read from the client, e.g. a
/// ClientHello) before copying both ways until both sides are done. When a policy ran
/// `terminate-tls`, `terminator` (TLS endpoints have one) ends the client's TLS first,
/// replaying `prefix` into the handshake, and the stream carries the plaintext.
pub async fn splice<C>(
    shared: &Arc<Shared>,
    record: Arc<ConnRecord>,
    ep: &Endpoint,
    session: &AgentSession,
    mut client: C,
    prefix: &[u8],
    terminator: Option<&Terminator>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let (target, terminate_tls) = match follow(shared, &record, ep, Arc::new(SystemClock)).await {
        ChainEnd::Closed => (None, None),
        ChainEnd::Open {
            endpoint,
            terminate_tls,
        } => (Some(endpoint), terminate_tls),
    };
    // The last endpoint of the chain: its id goes in the stream header, its agent gets it.
    let (ep, session) = match &target {
        Some(Some(inner)) => match &inner.upstream.target {
            Target::Tunnel(s) => (inner.as_ref(), s),
            _ => (ep, session),
        },
        _ => (ep, session),
    };
    let head = header(ep, Some(record.client));
    match (&target, terminate_tls) {
        (None, _) => {}
        (Some(_), None) => forward(shared, &record, session, &head, &mut client, prefix).await,
        (Some(_), Some(options)) => match terminator {
            None => {
                tracing::warn!(
                    "{}: terminate-tls on an endpoint without TLS ({}); closed",
                    record.client,
                    ep.info.url
                );
                let _ = record
                    .close_reason
                    .set("terminate-tls on an endpoint without TLS".into());
            }
            Some(t) => match t.accept(&options, Replay::new(prefix, &mut client)).await {
                Ok(mut tls) => {
                    let _ = record.terminated_tls.set(handshake_facts(tls.get_ref().1));
                    let head = StreamHeader {
                        tls_terminated: true,
                        ..head
                    };
                    forward(shared, &record, session, &head, &mut tls, &[]).await;
                    let _ = tls.shutdown().await;
                }
                Err(e) => {
                    tracing::debug!("{}: {}: {e}", record.client, ep.info.url);
                    let _ = record.close_reason.set(e.to_string());
                }
            },
        },
    }
    let _ = client.shutdown().await;
    drop(client);
    shared.connection_closed(&record).await;
}

async fn forward<C>(
    shared: &Shared,
    record: &ConnRecord,
    session: &AgentSession,
    head: &StreamHeader,
    client: &mut C,
    prefix: &[u8],
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let peer: SocketAddr = record.client;
    let mut stream = match tokio::time::timeout(OPEN_TIMEOUT, session.open_stream(head)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!("{peer}: cannot open a stream to the agent: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("{peer}: opening a stream to the agent timed out");
            return;
        }
    };
    let count_in = |n: u64| {
        record.bytes_in.fetch_add(n, Ordering::Relaxed);
        shared.metrics.bytes_in.fetch_add(n, Ordering::Relaxed);
    };
    if !prefix.is_empty() {
        if let Err(e) = stream.write_all(prefix).await {
            tracing::debug!("{peer}: the agent's stream failed: {e}");
            return;
        }
        count_in(prefix.len() as u64);
    }
    let copy = tokio::io::copy_bidirectional_with_sizes(
        client,
        &mut stream,
        sluice_tunnel::COPY_BUFFER,
        sluice_tunnel::COPY_BUFFER,
    );
    match copy.await {
        Ok((to_agent, to_client)) => {
            count_in(to_agent);
            record.bytes_out.fetch_add(to_client, Ordering::Relaxed);
            shared
                .metrics
                .bytes_out
                .fetch_add(to_client, Ordering::Relaxed);
        }
        Err(e) => tracing::debug!("{peer}: tunnelled connection ended: {e}"),
    }
}

/// The TLS facts of the edge's terminating handshake, named as the https listener names them.
fn handshake_facts(server: &rustls::ServerConnection) -> TlsInfo {
    TlsInfo {
        sni: server.server_name().map(str::to_string),
        version: server
            .protocol_version()
            .and_then(|v| v.as_str())
            .map(str::to_string),
        cipher_suite: server
            .negotiated_cipher_suite()
            .and_then(|c| c.suite().as_str())
            .map(str::to_string),
        alpn: server
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned()),
    }
}
