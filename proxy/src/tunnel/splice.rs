//! One client connection of a TCP or TLS endpoint: `on_tcp_connect`, then (when it ran
//! `terminate-tls`) the edge's TLS handshake with the client, then a stream on the agent's
//! session and the bytes copied both ways (each side's end of data passed on as a
//! half-close), recorded like every connection (`tcp_connection_closed.v0`, metrics).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sluice_policy::SystemClock;
use sluice_tunnel::{AgentSession, StreamHeader};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::connect::{OPEN_TIMEOUT, header};
use super::handshake::{HandshakeRequest, handshake_channel, next_request};
use super::replay::Replay;
use super::tcp_chain::{ChainEnd, follow};
use super::tls_terminate::{Terminator, handshake_facts};
use crate::config::{Endpoint, Target};
use crate::conn::ConnRecord;
use crate::state::Shared;
use tokio_rustls::server::TlsStream;

/// Serves one client connection of `ep` (bound by `session`): runs `on_tcp_connect` (and
/// that of each internal endpoint `forward-internal` hands the connection to, see
/// [`tcp_chain`](super::tcp_chain)), and unless a policy closes it, opens a stream to the last
/// endpoint's agent and writes `prefix` (bytes already read from the client, e.g. a
/// ClientHello) before copying both ways until both sides are done. When a policy ran
/// `terminate-tls`, `terminator` (TLS endpoints have one) ends the client's TLS right then
/// (the rules after it see the handshake's facts), replaying `prefix` into the handshake, and
/// the stream carries the plaintext.
pub async fn splice<C>(
    shared: &Arc<Shared>,
    record: Arc<ConnRecord>,
    ep: &Endpoint,
    session: &AgentSession,
    client: C,
    prefix: &[u8],
    terminator: Option<&Terminator>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    // With a terminator, `terminate-tls` handshakes while `on_tcp_connect` runs (the rules
    // after it see `conn.tls.*`): this task owns the client and answers its requests.
    let (handshake, mut requests) = match terminator {
        Some(_) => {
            let (h, r) = handshake_channel();
            (Some(h), Some(r))
        }
        None => (None, None),
    };
    let mut plain = Some(client);
    let mut tls = None;
    let end = {
        let chain = follow(shared, &record, ep, Arc::new(SystemClock), handshake);
        tokio::pin!(chain);
        loop {
            tokio::select! {
                end = &mut chain => break end,
                Some(req) = next_request(&mut requests) => {
                    if let Some(t) = terminator {
                        serve_handshake(t, req, prefix, &record, &mut plain, &mut tls).await;
                    }
                }
            }
        }
    };
    let (target, terminate_tls) = match end {
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
    if let Some(mut tls) = tls {
        if target.is_some() {
            let head = StreamHeader {
                tls_terminated: true,
                ..head
            };
            forward(shared, &record, session, &head, &mut tls, &[]).await;
        }
        let _ = tls.shutdown().await;
    } else if let Some(mut client) = plain {
        match (&target, terminate_tls) {
            (None, _) => {}
            (Some(_), None) => {
                forward(shared, &record, session, &head, &mut client, prefix).await;
            }
            (Some(_), Some(_)) => {
                tracing::warn!(
                    "{}: terminate-tls on an endpoint without TLS ({}); closed",
                    record.client,
                    ep.info.url
                );
                let _ = record
                    .close_reason
                    .set("terminate-tls on an endpoint without TLS".into());
            }
        }
        let _ = client.shutdown().await;
    }
    shared.connection_closed(&record).await;
}

/// Answers one `terminate-tls` handshake request: the first one handshakes with the client
/// (taken from `plain`, its stream then in `tls`); a later one (an internal endpoint of the
/// chain asking again) gets the same facts.
async fn serve_handshake<'p, C>(
    terminator: &Terminator,
    req: HandshakeRequest,
    prefix: &'p [u8],
    record: &ConnRecord,
    plain: &mut Option<C>,
    tls: &mut Option<TlsStream<Replay<'p, C>>>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(t) = tls.as_ref() {
        let _ = req.reply.send(Ok(handshake_facts(t.get_ref().1)));
        return;
    }
    let Some(client) = plain.take() else {
        let _ = req.reply.send(Err("the handshake already failed".into()));
        return;
    };
    match terminator
        .accept(&req.options, Replay::new(prefix, client))
        .await
    {
        Ok(stream) => {
            let facts = handshake_facts(stream.get_ref().1);
            let _ = record.terminated_tls.set(facts.clone());
            *tls = Some(stream);
            let _ = req.reply.send(Ok(facts));
        }
        Err(e) => {
            tracing::debug!("{}: {e}", record.client);
            let _ = record.close_reason.set(e.to_string());
            let _ = req.reply.send(Err(e.to_string()));
        }
    }
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
