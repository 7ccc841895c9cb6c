//! The public listeners' accept loops: each client connection gets its record
//! ([`ConnRecord`]), TLS when the listener is https (after a look at the ClientHello: TLS
//! endpoints go to their agent untouched, and an HTTPS endpoint's `on_tcp_connect` runs before
//! the handshake, see [`super::https_connect`]), the [`Metered`] wrapper, and its own
//! [`ConnFront`] app; when it ends, its `tcp_connection_closed.v0` event.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest, Stream};
use pingora::server::ShutdownWatch;
use sluice_policy::TlsInfo;
use sluice_wire::sni::server_name;
use tokio::net::{TcpListener, TcpStream};

use super::front::{ConnFront, Front};
use super::https_connect::handshake_https;
use crate::conn::ConnRecord;
use crate::metered::Metered;
use crate::metrics::{Metrics, OpenConnection};
use crate::state::Shared;
use crate::tunnel::sni::HELLO_TIMEOUT;
use crate::tunnel::{Passthrough, Terminator, passthrough};

/// One public listener (http or https) and what its connections need.
pub(super) struct Listening {
    pub(super) front: Arc<Front>,
    /// The TLS acceptor (https listener) and the terminator of TLS endpoints that run
    /// `terminate-tls`.
    pub(super) tls: Option<(Arc<Acceptor>, Arc<Terminator>)>,
    pub(super) shared: Arc<Shared>,
    pub(super) header_timeout: Duration,
    pub(super) shutdown: ShutdownWatch,
}

/// Accepts connections until the task is aborted, each served on its own task.
pub(super) async fn accept_loop(listener: TcpListener, l: Arc<Listening>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let l = l.clone();
        tokio::spawn(async move { serve_connection(tcp, peer, &l).await });
    }
}

async fn serve_connection(tcp: TcpStream, peer: SocketAddr, l: &Listening) {
    let metrics = l.shared.metrics.clone();
    let _open = OpenConnection::count(metrics.clone());
    let _ = tcp.set_nodelay(true);
    // Nothing more is allocated until the client's first byte: an idle connection costs its
    // socket and this small task (~1.4 KiB in all), not a Pingora session (~35 KiB: its
    // request future, header buffer and the state of `serve_ready`).
    // At shutdown, a connection that has sent nothing yet is closed.
    // On the https listener the first byte starts the ClientHello, which has
    // `HELLO_TIMEOUT` (3 s) as ngrok's TLS endpoints do.
    let mut idle = Duration::from_secs(l.front.idle_secs);
    if l.tls.is_some() {
        idle = idle.min(HELLO_TIMEOUT);
    }
    let mut stop = l.shutdown.clone();
    // (`peek`, not `readable`: tokio marks an accepted stream readable before any event.)
    let mut first = [0u8; 1];
    let first_byte = async {
        tokio::select! {
            r = tokio::time::timeout(idle, tcp.peek(&mut first)) => matches!(r, Ok(Ok(n)) if n > 0),
            _ = stop.wait_for(|s| *s) => false,
        }
    };
    if !first_byte.await {
        return;
    }
    Box::pin(serve_ready(tcp, peer, l, metrics)).await;
}

/// The rest of [`serve_connection`], boxed so that a connection still waiting for its first
/// byte holds only the small future above (this one is several KiB).
async fn serve_ready(tcp: TcpStream, peer: SocketAddr, l: &Listening, metrics: Arc<Metrics>) {
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let (stream, record): (Stream, ConnRecord) = match &l.tls {
        None => {
            let fd = tcp.as_raw_fd();
            let mut l4 = L4Stream::from(tcp);
            l4.set_socket_digest(SocketDigest::from_raw_fd(fd));
            (Box::new(l4), ConnRecord::new(peer, local, None))
        }
        Some((acceptor, terminator)) => {
            // A ClientHello naming a TLS endpoint goes to its agent untouched.
            let (tcp, hello) = match passthrough(&l.shared, terminator, tcp, peer, local).await {
                Passthrough::Done => return,
                Passthrough::Continue(tcp, hello) => (tcp, hello),
            };
            let fd = tcp.as_raw_fd();
            let mut l4 = L4Stream::from(tcp);
            l4.set_socket_digest(SocketDigest::from_raw_fd(fd));
            if !hello.is_empty() {
                l4.rewind(&hello);
            }
            let tls = TlsInfo {
                sni: server_name(&hello),
                ..TlsInfo::default()
            };
            let mut record = ConnRecord::new(peer, local, Some(tls));
            match handshake_https(l, acceptor, terminator, l4, &mut record).await {
                Some(stream) => (stream, record),
                None => {
                    l.shared.connection_closed(&record).await;
                    return;
                }
            }
        }
    };
    let record = Arc::new(record);
    let ngrok_code = l.shared.state.load().ngrok_error_code;
    let metered = Metered::new(
        stream,
        record.clone(),
        metrics,
        l.header_timeout,
        ngrok_code,
    );
    let app = Arc::new(ConnFront {
        front: l.front.clone(),
        record: record.clone(),
    });
    // Pingora hands back a stream only for protocols it does not serve; there is none here.
    let _ = app.process_new(Box::new(metered), &l.shutdown).await;
    record.close_kept_streams();
    l.shared.connection_closed(&record).await;
}
