//! What an SSH session runs once its command arrives: a tunnel session to this edge's own
//! [`TunnelServer`] over an in-process pipe, authenticated with the key's authtoken, so the
//! bind goes through the same authenticator, grants and binder as any agent's (names,
//! ownership, takeover, pooling, policies). Each proxy stream the edge opens for the endpoint
//! becomes a `forwarded-tcpip` channel to the SSH client (an http endpoint's through
//! [`http_relay`](super::http_relay), which prints a line per request); the session's stdout
//! gets the Forwarding line and its stderr any refusal, with the exit status.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Handle, Msg};
use russh::{ChannelId, ChannelStream};
use sluice_tunnel::{
    ClientSession, Protocol, SessionBuilder, StreamHeader, TunnelServer, TunnelStream,
};
use tokio::sync::mpsc;

use super::command::parse;
use super::handler::{Forward, Login};
use super::http_relay;

/// Bytes of the in-process pipe between the SSH session and the tunnel server.
const PIPE_BYTES: usize = 256 * 1024;

/// Largest policy read from the session's standard input (`--traffic-policy-file`).
const MAX_STDIN_POLICY: usize = 1024 * 1024;

/// Time allowed for the policy to arrive over standard input.
const STDIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The session channel's standard output, standard error and exit status.
#[derive(Clone)]
pub(super) struct Output {
    handle: Handle,
    channel: ChannelId,
}

impl Output {
    /// Writes to `channel` of the connection behind `handle`.
    pub(super) fn new(handle: Handle, channel: ChannelId) -> Self {
        Output { handle, channel }
    }

    /// Writes `text` on the session's standard output.
    pub(super) async fn stdout(&self, text: &str) {
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

/// Reads the session's standard input to its end: the policy of `--traffic-policy-file`.
async fn read_stdin_policy(stdin: &mut mpsc::Receiver<Vec<u8>>) -> Result<String, String> {
    let mut bytes = Vec::new();
    let read = async {
        while let Some(chunk) = stdin.recv().await {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_STDIN_POLICY {
                return Err(format!(
                    "--traffic-policy-file: the policy on standard input is over {} KiB",
                    MAX_STDIN_POLICY / 1024
                ));
            }
        }
        Ok(())
    };
    let example = "ssh -R … EDGE http --traffic-policy-file policy.yml < policy.yml";
    match tokio::time::timeout(STDIN_TIMEOUT, read).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return Err(why),
        Err(_) => {
            return Err(format!(
                "--traffic-policy-file: standard input did not end within {} s; the policy is \
                 read from it ({example})",
                STDIN_TIMEOUT.as_secs()
            ));
        }
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| "--traffic-policy-file: the policy on standard input is not UTF-8")?;
    match text.trim().is_empty() {
        true => Err(format!(
            "--traffic-policy-file: standard input was empty; the policy is read from it \
             ({example})"
        )),
        false => Ok(text),
    }
}

/// Serves `command` for the forwards of one logged-in SSH connection until either side ends;
/// `stdin` is the session's standard input.
pub(super) async fn run(
    out: Output,
    tunnel: Arc<TunnelServer>,
    login: Login,
    forwards: Vec<Forward>,
    command: String,
    peer: SocketAddr,
    mut stdin: mpsc::Receiver<Vec<u8>>,
) {
    let Some(forward) = forwards.into_iter().next() else {
        let why = "no remote forward: give one with -R, e.g. ssh -R 0:localhost:3000 EDGE http";
        return out.exit(2, why).await;
    };
    let parsed = match parse(&command, &forward.asked) {
        Ok(p) => p,
        Err(why) => return out.exit(2, &why).await,
    };
    let mut request = parsed.request;
    if parsed.policy_from_stdin {
        match read_stdin_policy(&mut stdin).await {
            Ok(policy) => request = request.with_traffic_policy(policy),
            Err(why) => return out.exit(2, &why).await,
        }
    }
    // Nothing more is read from standard input; later data is dropped.
    drop(stdin);
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
                    tokio::spawn(forward_one(out.clone(), forward.clone(), header, stream));
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

/// Opens `forwarded-tcpip` channels to the SSH client for one public connection.
pub(super) struct Local {
    handle: Handle,
    forward: Forward,
    client: SocketAddr,
}

impl Local {
    /// A new channel, which the SSH client connects to the forward's local target.
    pub(super) async fn open(&self) -> Result<ChannelStream<Msg>, russh::Error> {
        let channel = self
            .handle
            .channel_open_forwarded_tcpip(
                self.forward.asked.address.clone(),
                self.forward.channel_port,
                self.client.ip().to_string(),
                u32::from(self.client.port()),
            )
            .await?;
        Ok(channel.into_stream())
    }
}

/// Serves one public connection: HTTP through the relay that prints a line per request, other
/// protocols copied to and from a new `forwarded-tcpip` channel.
async fn forward_one(
    out: Output,
    forward: Forward,
    header: StreamHeader,
    mut stream: TunnelStream,
) {
    let client = header.client_addr;
    let local = Local {
        handle: out.handle.clone(),
        forward,
        client,
    };
    if matches!(header.protocol, Protocol::Http | Protocol::Https) {
        return http_relay::serve(out, local, stream).await;
    }
    let mut channel = match local.open().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%client, error = %e, "the ssh client refused a forwarded channel");
            return;
        }
    };
    if let Err(e) = tokio::io::copy_bidirectional(&mut stream, &mut channel).await {
        tracing::debug!(%client, error = %e, "forwarded connection ended with an error");
    }
}
