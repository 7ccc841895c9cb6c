//! The https listener's handshake, after the ClientHello was read: when its SNI names an HTTPS
//! endpoint with `on_tcp_connect` rules, those rules run first (as ngrok runs them, before any
//! protocol above TCP), and a `terminate-tls` among them handshakes right then with its
//! options (certificate, versions, mutual TLS), so the rules after it, and the HTTP phases,
//! see `conn.tls.*` with the client's certificate. Otherwise, or when no rule handshook, the
//! listener's own acceptor does. The endpoint's policy state is left on the connection's
//! record, so the requests that follow do not run `on_tcp_connect` again.

use std::net::SocketAddr;
use std::sync::Arc;

use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{ALPN, Ssl, Stream};
use sluice_policy::{ConnInfo, Connection, SystemClock, TcpVerdict, TlsInfo};

use super::accept::Listening;
use crate::config::{Endpoint, Scheme};
use crate::conn::{ConnRecord, EndpointConn};
use crate::tunnel::Terminator;
use crate::tunnel::handshake::{HandshakeRequest, client_certificate, handshake_channel};
use crate::tunnel::tls_terminate::HANDSHAKE_TIMEOUT;

/// Handshakes with the client of `record` (whose `tls` holds the SNI read so far), running the
/// named HTTPS endpoint's `on_tcp_connect` first when it has rules. The TLS stream, with
/// `record.tls` completed; `None` when a policy closed the connection or the handshake failed
/// (the reason recorded).
pub(super) async fn handshake_https(
    l: &Listening,
    acceptor: &Arc<Acceptor>,
    terminator: &Terminator,
    l4: L4Stream,
    record: &mut ConnRecord,
) -> Option<Stream> {
    let sni = record.tls.as_ref().and_then(|t| t.sni.clone());
    let has_rules =
        |ep: &Arc<Endpoint>| !ep.policy.rules(sluice_policy::Phase::TcpConnect).is_empty();
    // A look first, so pools' round robin moves only for the connections that keep the
    // endpoint (their requests then use it: `ConnRecord::https_endpoint`).
    let ep = sni
        .as_deref()
        .filter(|name| {
            l.shared
                .peek_http_endpoint(Scheme::Https, name)
                .is_some_and(|ep| has_rules(&ep))
        })
        .and_then(|name| l.shared.http_endpoint(Scheme::Https, name))
        .filter(has_rules);
    let Some(ep) = ep else {
        return finish(acceptor, l4, record).await;
    };
    record.https_endpoint = Some(ep.clone());
    let (conn, stream) = connect_then_handshake(l, &ep, acceptor, terminator, l4, record).await;
    let conn = Arc::new(conn?);
    let stream = stream?;
    record.endpoints.get_mut().insert(
        ep.info.id.clone(),
        EndpointConn {
            conn,
            closed: false,
        },
    );
    Some(stream)
}

/// Runs `ep`'s `on_tcp_connect`, serving its `terminate-tls` handshake, then handshakes with
/// the listener's acceptor if no rule did. The policy state (`None`: closed) and the stream.
async fn connect_then_handshake(
    l: &Listening,
    ep: &Arc<Endpoint>,
    acceptor: &Arc<Acceptor>,
    terminator: &Terminator,
    l4: L4Stream,
    record: &mut ConnRecord,
) -> (Option<Connection>, Option<Stream>) {
    let info = ConnInfo {
        client: record.client,
        server: record.server,
        tls: record.tls.clone(),
        started: record.started_at,
    };
    let mut conn = Connection::new(info, ep.info.clone(), Arc::new(SystemClock));
    crate::service::start_connection_trace(ep, &mut conn);
    let (handshake, mut requests) = handshake_channel();
    conn.handshake = Some(handshake);
    let mut plain = Some(l4);
    let mut tls: Option<(Stream, TlsInfo)> = None;
    let verdict = {
        let phase = ep.policy.on_tcp_connect(&mut conn);
        tokio::pin!(phase);
        loop {
            tokio::select! {
                v = &mut phase => break v,
                Some(req) = requests.recv() => {
                    serve_handshake(terminator, req, record, &mut plain, &mut tls).await;
                }
            }
        }
    };
    conn.handshake = None;
    if verdict == TcpVerdict::Close {
        if record.close_reason.get().is_none() {
            l.shared
                .metrics
                .policy_closed(&ep.info.id, "on_tcp_connect");
        }
        record.endpoints.get_mut().insert(
            ep.info.id.clone(),
            EndpointConn {
                conn: Arc::new(conn),
                closed: true,
            },
        );
        return (None, None);
    }
    let stream = match tls {
        Some((stream, _)) => Some(stream),
        None => match plain {
            Some(l4) => {
                let stream = finish(acceptor, l4, record).await;
                if let Some(facts) = &record.tls {
                    conn.set_tls(facts.clone());
                }
                stream
            }
            None => None,
        },
    };
    (Some(conn), stream)
}

/// Answers `terminate-tls`: handshakes with its options (the first request; a later one gets
/// the same facts) and completes `record.tls`.
async fn serve_handshake(
    terminator: &Terminator,
    req: HandshakeRequest,
    record: &mut ConnRecord,
    plain: &mut Option<L4Stream>,
    tls: &mut Option<(Stream, TlsInfo)>,
) {
    if let Some((_, facts)) = tls.as_ref() {
        let _ = req.reply.send(Ok(facts.clone()));
        return;
    }
    let Some(l4) = plain.take() else {
        let _ = req.reply.send(Err("the handshake already failed".into()));
        return;
    };
    let acceptor = match terminator.https_acceptor(&req.options) {
        Ok(a) => a,
        Err(e) => {
            let why = format!("terminate-tls options: {e}");
            let _ = record.close_reason.set(why.clone());
            let _ = req.reply.send(Err(why));
            return;
        }
    };
    let _ = record.https_termination.set(req.options.clone());
    match handshake(&acceptor, l4, record.client).await {
        Ok((stream, facts)) => {
            record.tls = Some(facts.clone());
            *tls = Some((stream, facts.clone()));
            let _ = req.reply.send(Ok(facts));
        }
        Err(why) => {
            let _ = record.close_reason.set(why.clone());
            let _ = req.reply.send(Err(why));
        }
    }
}

/// The listener's own handshake; completes `record.tls`.
async fn finish(acceptor: &Acceptor, l4: L4Stream, record: &mut ConnRecord) -> Option<Stream> {
    match handshake(acceptor, l4, record.client).await {
        Ok((stream, facts)) => {
            record.tls = Some(facts);
            Some(stream)
        }
        Err(why) => {
            let _ = record.close_reason.set(why);
            None
        }
    }
}

/// One handshake within [`HANDSHAKE_TIMEOUT`]: the stream and its facts, or why it failed.
async fn handshake(
    acceptor: &Acceptor,
    l4: L4Stream,
    peer: SocketAddr,
) -> Result<(Stream, TlsInfo), String> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.tls_handshake(l4)).await {
        Ok(Ok(s)) => {
            let facts = s
                .get_ssl()
                .map(|r| TlsInfo {
                    sni: r.server_name().map(str::to_string),
                    version: r.version().map(str::to_string),
                    cipher_suite: r.current_cipher_name().map(str::to_string),
                    alpn: s.selected_alpn_proto().map(|a| {
                        match a {
                            ALPN::H2 | ALPN::H2H1 => "h2",
                            _ => "http/1.1",
                        }
                        .to_string()
                    }),
                    client: client_certificate(r.peer_certificate_der()),
                })
                .unwrap_or_default();
            Ok((Box::new(s), facts))
        }
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake with {peer} failed: {e}");
            Err(format!("TLS handshake: {e}"))
        }
        Err(_) => {
            tracing::debug!("TLS handshake with {peer} timed out");
            Err("TLS handshake timed out".into())
        }
    }
}
