//! The live mode's HTTP/1.1 client: real sockets (bound to the case's loopback client address
//! when it gives one), TLS for https endpoints, one keep-alive connection per case.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpSocket;

/// What came back from one send.
pub struct Response {
    /// Status; None when the connection closed without a response.
    pub status: Option<u16>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Response {
    fn closed() -> Response {
        Response {
            status: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    /// The edge's listener.
    pub addr: SocketAddr,
    /// TLS config and server name (SNI) for https.
    pub tls: Option<(Arc<rustls::ClientConfig>, String)>,
    /// The client's local address (`conn.client_ip` / `conn.client_port`).
    pub local: Option<SocketAddr>,
}

/// One case's client: reuses its connection while the edge keeps it open.
pub struct Client {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    /// A client that connects on the first send.
    pub fn new(target: Target) -> Client {
        Client {
            target,
            sender: None,
        }
    }

    async fn connect(&self) -> Result<Option<SendRequest<Full<Bytes>>>, String> {
        let t = &self.target;
        let socket = match t.addr.ip() {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| format!("socket: {e}"))?;
        if let Some(local) = t.local {
            bind_client(&socket, local).await?;
        }
        let stream = socket
            .connect(t.addr)
            .await
            .map_err(|e| format!("cannot connect to the edge at {}: {e}", t.addr))?;
        // A connection the edge closes during the handshake is a closed connection, not an
        // error of the runner.
        match &t.tls {
            None => {
                let Ok((sender, conn)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                else {
                    return Ok(None);
                };
                tokio::spawn(conn);
                Ok(Some(sender))
            }
            Some((config, sni)) => {
                let name = ServerName::try_from(sni.clone())
                    .map_err(|e| format!("`{sni}` is not a TLS server name: {e}"))?;
                let Ok(tls) = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, stream)
                    .await
                else {
                    return Ok(None);
                };
                let Ok((sender, conn)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tls)).await
                else {
                    return Ok(None);
                };
                tokio::spawn(conn);
                Ok(Some(sender))
            }
        }
    }

    /// Sends one request. Errors are the runner's (cannot connect); a connection the edge
    /// closes without answering is a [`Response`] with no status.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Response, String> {
        let mut reused = self.sender.take();
        if let Some(s) = &mut reused
            && s.ready().await.is_err()
        {
            reused = None;
        }
        let mut sender = match reused {
            Some(s) => s,
            None => match self.connect().await? {
                Some(s) => s,
                None => return Ok(Response::closed()),
            },
        };
        let Ok(resp) = sender.send_request(req).await else {
            return Ok(Response::closed());
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let Ok(body) = resp.into_body().collect().await else {
            return Ok(Response::closed());
        };
        let keep = !headers
            .get_all(http::header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if keep {
            self.sender = Some(sender);
        }
        Ok(Response {
            status: Some(status),
            headers,
            body: body.to_bytes(),
        })
    }
}

/// TLS settings of the live client: the runner talks to an edge it started (or one the user
/// points it at) over loopback, usually with the edge's development CA, so the certificate is
/// not verified. Only HTTP/1.1 is offered.
pub fn insecure_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    sluice_tls::client_config(
        sluice_tls::ServerCerts::Unverified,
        vec![b"http/1.1".to_vec()],
    )
    .map(Arc::new)
    .map_err(|e| format!("TLS setup: {e}"))
}

/// Binds the client's address. The fixed port a case asks for (50000 by default) lies in the
/// kernel's ephemeral range: a previous case's connection may still hold it in TIME_WAIT
/// (allowed by `SO_REUSEADDR`), and another program's outgoing connection may hold it for a
/// moment (waited out, for at most five seconds).
async fn bind_client(socket: &TcpSocket, local: std::net::SocketAddr) -> Result<(), String> {
    socket
        .set_reuseaddr(true)
        .map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    let mut attempts = 0;
    loop {
        match socket.bind(local) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => return Err(format!("cannot bind the client to {local}: {e}")),
        }
    }
}
