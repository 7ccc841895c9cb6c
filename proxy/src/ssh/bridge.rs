//! What an SSH session runs once its command arrives: a tunnel session to this edge's own
//! [`TunnelServer`] over an in-process pipe, authenticated with the key's authtoken, so the
//! bind goes through the same authenticator, grants and binder as any agent's (names,
//! ownership, takeover, pooling, policies). Each proxy stream the edge opens for the endpoint
//! becomes a `forwarded-tcpip` channel to the SSH client; the session's stdout gets the
//! Forwarding line and its stderr any refusal, with the exit status.

use std::net::SocketAddr;
use std::sync::Arc;

use russh::ChannelId;
use russh::server::Handle;
use sluice_tunnel::{ClientSession, SessionBuilder, StreamHeader, TunnelServer, TunnelStream};

use super::command::bind_request;
use super::handler::{Forward, Login};

/// Bytes of the in-process pipe between the SSH session and the tunnel server.
const PIPE_BYTES: usize = 256 * 1024;

/// The session channel's standard output, standard error and exit status.
pub(super) struct Output {
    handle: Handle,
    channel: ChannelId,
}

impl Output {
    /// Writes to `channel` of the connection behind `handle`.
    pub(super) fn new(handle: Handle, channel: ChannelId) -> Self {
        Output { handle, channel }
    }

    async fn stdout(&self, text: &str) {
        let _ = self
            .handle
            .data(self.channel, text.as_bytes().to_vec())
            .await;
    }

    async fn stderr(&self, text: &str) {
        let bytes = text.as_bytes().to_vec();
        let _ = self.handle.extended_data(self.channel, 1, bytes).await;
    }

    /// Ends the session with `code` (after a message on stderr when it is not 0).
    async fn exit(&self, code: u32, message: &str) {
        if !message.is_empty() {
            let line = match message.ends_with('\n') {
                true => message.to_owned(),
                false => format!("{message}\n"),
            };
            self.stderr(&line).await;
        }
        let _ = self.handle.exit_status_request(self.channel, code).await;
        let _ = self.handle.eof(self.channel).await;
        let _ = self.handle.close(self.channel).await;
    }
}

/// Closes the tunnel session when the bridge ends (returns, or is aborted because the SSH
/// connection went away), so the edge unbinds its endpoint at once.
struct CloseOnDrop(ClientSession);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Serves `command` for the forwards of one logged-in SSH connection until either side ends.
pub(super) async fn run(
    out: Output,
    tunnel: Arc<TunnelServer>,
    login: Login,
    forwards: Vec<Forward>,
    command: String,
    peer: SocketAddr,
) {
    let Some(forward) = forwards.into_iter().next() else {
        let why = "no remote forward: give one with -R, e.g. ssh -R 0:localhost:3000 EDGE http";
        return out.exit(2, why).await;
    };
    let request = match bind_request(&command, &forward.asked) {
        Ok(r) => r,
        Err(why) => return out.exit(2, &why).await,
    };
    let (near, far) = tokio::io::duplex(PIPE_BYTES);
    tunnel.serve_connection(far, peer);
    let builder = SessionBuilder::new(login.token.clone())
        .agent_version(format!("ssh {}", env!("CARGO_PKG_VERSION")))
        .client_id(format!("ssh-{:032x}", rand::random::<u128>()));
    let session = match builder.connect_io(Box::new(near)).await {
        Ok(s) => s,
        Err(e) => return out.exit(1, &format!("error: {e}")).await,
    };
    let _close = CloseOnDrop(session.clone());
    let url = match session.bind(request).await {
        Ok(ok) => ok.url,
        Err(e) => return out.exit(1, &format!("error: {e}")).await,
    };
    tracing::info!(%peer, account = %login.account, %url, "ssh forward bound");
    out.stdout(&format!("Forwarding {url}\n")).await;
    loop {
        tokio::select! {
            accepted = session.accept() => match accepted {
                Some((header, stream)) => {
                    let handle = out.handle.clone();
                    tokio::spawn(forward_one(handle, forward.clone(), header, stream));
                }
                None => break,
            },
            reason = session.closed() => {
                return out.exit(1, &format!("error: the tunnel session ended: {reason}")).await;
            }
        }
    }
    let reason = session.closed().await;
    out.exit(1, &format!("error: the tunnel session ended: {reason}"))
        .await;
}

/// Copies one public connection to and from a new `forwarded-tcpip` channel.
async fn forward_one(
    handle: Handle,
    forward: Forward,
    header: StreamHeader,
    mut stream: TunnelStream,
) {
    let client = header.client_addr;
    let opened = handle
        .channel_open_forwarded_tcpip(
            forward.asked.address.clone(),
            forward.channel_port,
            client.ip().to_string(),
            u32::from(client.port()),
        )
        .await;
    let channel = match opened {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%client, error = %e, "the ssh client refused a forwarded channel");
            return;
        }
    };
    let mut channel = channel.into_stream();
    if let Err(e) = tokio::io::copy_bidirectional(&mut stream, &mut channel).await {
        tracing::debug!(%client, error = %e, "forwarded connection ended with an error");
    }
}
