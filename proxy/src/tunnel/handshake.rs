//! The listener's side of `terminate-tls` while `on_tcp_connect` runs: the engine asks for the
//! handshake through a [`HandshakeChannel`] (its [`TlsHandshake`]), and the task that owns the
//! client's socket, polling the phase, receives the [`HandshakeRequest`], handshakes, and
//! answers with the facts (so the rules after `terminate-tls` see `conn.tls.*`). The same
//! shape as the request phase's body reads.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_policy::{PeerCertificate, TlsHandshake, TlsInfo, TlsTermination};
use tokio::sync::{mpsc, oneshot};

/// One handshake asked for by `terminate-tls`.
#[derive(Debug)]
pub struct HandshakeRequest {
    /// The action's options.
    pub options: Arc<TlsTermination>,
    /// Where the facts (or why the handshake failed) go.
    pub reply: oneshot::Sender<Result<TlsInfo, String>>,
}

/// The engine's end: sends requests to the task owning the socket.
#[derive(Debug)]
pub struct HandshakeChannel(mpsc::Sender<HandshakeRequest>);

#[async_trait]
impl TlsHandshake for HandshakeChannel {
    async fn handshake(&self, options: Arc<TlsTermination>) -> Result<TlsInfo, String> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(HandshakeRequest { options, reply })
            .await
            .map_err(|_| "the connection went away".to_string())?;
        answer
            .await
            .map_err(|_| "the connection went away".to_string())?
    }
}

/// A channel: the handshake to give the connection's policy, and the requests it sends.
pub fn handshake_channel() -> (Arc<dyn TlsHandshake>, mpsc::Receiver<HandshakeRequest>) {
    let (tx, rx) = mpsc::channel(1);
    (Arc::new(HandshakeChannel(tx)), rx)
}

/// The next request, or never when there is no channel.
pub async fn next_request(
    rx: &mut Option<mpsc::Receiver<HandshakeRequest>>,
) -> Option<HandshakeRequest> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The client certificate of a handshake (the leaf, DER), read for `conn.tls.client.*`; one
/// that cannot be read is left out (the handshake's verifier already accepted it).
pub fn client_certificate(der: Option<&[u8]>) -> Option<Arc<PeerCertificate>> {
    let der = der?;
    match PeerCertificate::from_der(der) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            tracing::debug!("client certificate: {e}");
            None
        }
    }
}
