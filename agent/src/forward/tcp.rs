//! Byte splicing to a TCP or TLS upstream, with an optional PROXY protocol header first.

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_tunnel::COPY_BUFFER;
use sluice_wire::proxy_protocol;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, copy_bidirectional_with_sizes};
use tokio::net::TcpStream;

use super::ForwardError;
use super::tls::client_config;
use crate::upstream::{ProxyProtocol, Scheme, Upstream};

/// Bytes moved by one spliced connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transferred {
    /// From the public client to the upstream.
    pub to_upstream: u64,
    /// From the upstream to the public client.
    pub to_client: u64,
}

/// Connects to a TCP or TLS `upstream`, writes the PROXY header if configured (the
/// destination is the upstream's address as this agent reached it), then splices bytes until
/// both sides close. A `tls://` upstream gets a TLS connection from the agent.
pub async fn forward_tcp<S>(
    stream: S,
    client_addr: SocketAddr,
    upstream: &Upstream,
) -> Result<Transferred, ForwardError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let open_tls = upstream.scheme == Scheme::Tls;
    forward_tcp_with(stream, client_addr, upstream, open_tls).await
}

/// [`forward_tcp`], saying whether the agent opens TLS to the upstream: not when the stream
/// still carries the public client's own TLS (a `tls://` endpoint passed through), which the
/// upstream terminates itself.
pub async fn forward_tcp_with<S>(
    mut stream: S,
    client_addr: SocketAddr,
    upstream: &Upstream,
    open_tls: bool,
) -> Result<Transferred, ForwardError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (host, port) = upstream
        .host_port()
        .ok_or_else(|| ForwardError::NotSupported(upstream.to_string()))?;
    let mut tcp =
        TcpStream::connect((host, port))
            .await
            .map_err(|e| ForwardError::Unreachable {
                upstream: upstream.to_string(),
                source: e,
            })?;
    let _ = tcp.set_nodelay(true);
    if let Some(version) = upstream.proxy_protocol {
        let dst = tcp.peer_addr().map_err(ForwardError::Io)?;
        let header = match version {
            ProxyProtocol::V1 => proxy_protocol::encode_v1(client_addr, dst).into_bytes(),
            ProxyProtocol::V2 => proxy_protocol::encode_v2(client_addr, dst),
        };
        tcp.write_all(&header).await.map_err(ForwardError::Io)?;
    }
    let (up, down) = match open_tls {
        true => {
            let config = client_config(
                upstream.tls_verify,
                upstream.tls_verify_cas.as_deref(),
                Vec::new(),
            )
            .map_err(|e| ForwardError::Unreachable {
                upstream: upstream.to_string(),
                source: std::io::Error::other(e),
            })?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|_| ForwardError::NotSupported(upstream.to_string()))?;
            let mut tls =
                connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ForwardError::Unreachable {
                        upstream: upstream.to_string(),
                        source: e,
                    })?;
            copy_bidirectional_with_sizes(&mut stream, &mut tls, COPY_BUFFER, COPY_BUFFER).await
        }
        false => {
            copy_bidirectional_with_sizes(&mut stream, &mut tcp, COPY_BUFFER, COPY_BUFFER).await
        }
    }
    .map_err(ForwardError::Io)?;
    Ok(Transferred {
        to_upstream: up,
        to_client: down,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::EndpointKind;
    use tokio::io::{AsyncReadExt, duplex};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn splices_with_proxy_v1_header() -> Result<(), Box<dyn std::error::Error>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await?;
            let mut buf = vec![0u8; 256];
            let mut got = Vec::new();
            while !got.ends_with(b"ping") {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"pong").await?;
            Ok::<_, std::io::Error>(got)
        });
        let mut up = Upstream::parse(&port.to_string(), EndpointKind::Tcp)?;
        up.proxy_protocol = Some(ProxyProtocol::V1);
        let (mut client, agent_side) = duplex(1024);
        let client_addr: SocketAddr = "203.0.113.7:5555".parse()?;
        let fwd = tokio::spawn(async move { forward_tcp(agent_side, client_addr, &up).await });
        client.write_all(b"ping").await?;
        let mut pong = [0u8; 4];
        client.read_exact(&mut pong).await?;
        assert_eq!(&pong, b"pong");
        drop(client);
        let got = server.await??;
        let text = String::from_utf8(got)?;
        assert_eq!(
            text,
            format!("PROXY TCP4 203.0.113.7 127.0.0.1 5555 {port}\r\nping")
        );
        let moved = fwd.await??;
        assert_eq!(moved.to_client, 4);
        Ok(())
    }

    #[tokio::test]
    async fn unreachable_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            l.local_addr()?.port()
        };
        let up = Upstream::parse(&format!("127.0.0.1:{port}"), EndpointKind::Tcp)?;
        let (_c, s) = duplex(64);
        let err = forward_tcp(s, "127.0.0.1:1".parse()?, &up).await;
        assert!(matches!(err, Err(ForwardError::Unreachable { .. })));
        Ok(())
    }
}
