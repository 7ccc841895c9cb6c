//! TLS endpoints on the https listener: before the edge's own TLS handshake, the ClientHello
//! is read (not terminated) and, when its SNI names a TLS endpoint bound by an agent, the
//! connection is spliced raw (ClientHello included) into a stream to that agent. Otherwise the
//! bytes read are handed back for the normal HTTPS handshake to replay. When the endpoint's
//! `on_tcp_connect` runs `terminate-tls`, the [`Terminator`] ends TLS at the edge instead.

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_policy::TlsInfo;
use sluice_wire::sni::{HelloState, server_name};
use tokio::net::TcpStream;

use super::sni::read_client_hello;
use super::splice::splice;
use super::tls_terminate::Terminator;
use crate::conn::ConnRecord;
use crate::state::Shared;

/// What became of a connection on the https listener.
#[derive(Debug)]
pub enum Passthrough {
    /// It went to a TLS endpoint and is finished.
    Done,
    /// It is for the edge's own HTTPS: the stream, and the bytes already read from it, which
    /// must be replayed before anything else is read.
    Continue(TcpStream, Vec<u8>),
}

/// Routes a new https-listener connection to a TLS endpoint when its SNI names one (serving
/// it to the end), or hands it back with its ClientHello (whose SNI also picks the HTTPS
/// endpoint whose `on_tcp_connect` runs before the handshake).
pub async fn passthrough(
    shared: &Arc<Shared>,
    terminator: &Terminator,
    mut tcp: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) -> Passthrough {
    let mut hello = Vec::with_capacity(2048);
    if read_client_hello(&mut tcp, &mut hello).await == HelloState::Partial {
        // No whole ClientHello in time (or the client went away): closed, as ngrok does.
        tracing::debug!("{peer}: no complete ClientHello within the limits; closed");
        return Passthrough::Done;
    }
    let Some(sni) = server_name(&hello) else {
        return Passthrough::Continue(tcp, hello);
    };
    let Some((member, rank)) = shared.tunnels.lookup_tls(&sni) else {
        return Passthrough::Continue(tcp, hello);
    };
    // A wildcard TLS name yields to an HTTPS endpoint whose name is more specific.
    if rank > 0 && shared.https_rank(&sni).is_some_and(|r| r < rank) {
        return Passthrough::Continue(tcp, hello);
    }
    let tls = TlsInfo {
        sni: Some(sni),
        ..TlsInfo::default()
    };
    let record = Arc::new(ConnRecord::new(peer, local, Some(tls)));
    splice(
        shared,
        record,
        &member.endpoint,
        &member.session,
        tcp,
        &hello,
        Some(terminator),
    )
    .await;
    Passthrough::Done
}
