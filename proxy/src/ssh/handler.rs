//! One SSH connection: public-key authentication against the authtokens' `authorized_keys`
//! (failures counted by the tunnel listener's [`AuthLimiter`](crate::auth_limit::AuthLimiter)),
//! the `-R` forwards it asks for, and the session channel whose command starts the
//! [`bridge`](super::bridge).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use russh::keys::PublicKey;
use russh::server::{
    Auth, ChannelOpenHandle, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Gateway;
use super::bridge::{self, Output};
use super::command::{RemoteForward, usage};

/// Who logged in: the authtoken whose key it was.
#[derive(Clone)]
pub(super) struct Login {
    /// The token, presented on the connection's tunnel session.
    pub token: String,
    /// Its account (for logs).
    pub account: String,
}

/// A forward the client asked for, and the port its channels are opened with (the one the
/// client was told, for `-R 0:…`).
#[derive(Debug, Clone)]
pub(super) struct Forward {
    /// As asked.
    pub asked: RemoteForward,
    /// The port named in `forwarded-tcpip` channel opens.
    pub channel_port: u32,
}

/// The handler of one SSH connection.
pub(super) struct Connection {
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    login: Option<Login>,
    /// A key was offered and refused, or the address was blocked.
    refused: bool,
    blocked: bool,
    forwards: Vec<Forward>,
    session_channel: Option<ChannelId>,
    /// The session channel's standard input, to the bridge (dropped at EOF).
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    bridge: Option<JoinHandle<()>>,
}

impl Connection {
    pub(super) fn new(gateway: Arc<Gateway>, peer: SocketAddr) -> Self {
        Connection {
            gateway,
            peer,
            login: None,
            refused: false,
            blocked: false,
            forwards: Vec::new(),
            session_channel: None,
            stdin: None,
            bridge: None,
        }
    }

    /// Whether the address may try now; a blocked one is refused without looking at keys.
    fn allowed(&mut self) -> bool {
        if self.gateway.limiter.check(self.peer.ip()).is_ok() {
            return true;
        }
        if !self.blocked {
            self.blocked = true;
            self.gateway
                .metrics
                .tunnel_auth_throttled
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %self.peer, reason = "throttled",
                "ssh authentication refused: too many failures from this address");
        }
        false
    }

    fn find(&self, key: &PublicKey) -> Option<Login> {
        self.gateway
            .keys
            .iter()
            .find(|k| k.key.key_data() == key.key_data())
            .map(|k| k.login.clone())
    }

    fn start_bridge(&mut self, command: String, session: &Session) {
        let (Some(login), Some(channel)) = (self.login.clone(), self.session_channel) else {
            return;
        };
        let out = Output::new(session.handle(), channel);
        let (stdin, stdin_rx) = mpsc::channel(16);
        self.stdin = Some(stdin);
        let run = bridge::run(
            out,
            self.gateway.tunnel.clone(),
            login,
            self.forwards.clone(),
            command,
            self.peer,
            stdin_rx,
        );
        if let Some(old) = self.bridge.replace(tokio::spawn(run)) {
            old.abort();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The connection is gone: its endpoints go with its tunnel session.
        if let Some(b) = self.bridge.take() {
            b.abort();
        }
        if self.login.is_none() && self.refused && !self.blocked {
            self.gateway
                .metrics
                .tunnel_auth_invalid
                .fetch_add(1, Ordering::Relaxed);
            let blocked = self.gateway.limiter.failure(self.peer.ip());
            tracing::warn!(
                peer = %self.peer,
                reason = "invalid_key",
                blocked_for_s = blocked.map_or(0.0, |d| d.as_secs_f64()),
                "ssh authentication refused: no authorized key"
            );
        }
    }
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if !self.allowed() {
            return Ok(Auth::reject());
        }
        match self.find(offer.public_key) {
            Some(_) => Ok(Auth::Accept),
            None => {
                self.refused = true;
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if !self.allowed() {
            return Ok(Auth::reject());
        }
        match self.find(key.public_key) {
            Some(login) => {
                tracing::info!(peer = %self.peer, account = %login.account, "ssh login");
                self.login = Some(login);
                Ok(Auth::Accept)
            }
            None => {
                self.refused = true;
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.session_channel.is_some() || self.login.is_none() {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.session_channel = Some(channel.id());
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        session.extended_data(channel, 1, usage().into_bytes())?;
        session.exit_status_request(channel, 2)?;
        session.eof(channel)?;
        session.close(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        self.start_bridge(command, session);
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Standard input, for the bridge while it reads a policy; once it stopped reading
        // (the receiver is gone) the bytes are dropped.
        if Some(channel) == self.session_channel
            && let Some(stdin) = &self.stdin
            && stdin.send(data.to_vec()).await.is_err()
        {
            self.stdin = None;
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if Some(channel) == self.session_channel {
            self.stdin = None;
        }
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        if self.login.is_none() || self.forwards.len() >= super::MAX_FORWARDS {
            return Ok(false);
        }
        let asked = RemoteForward {
            address: address.to_owned(),
            port: *port,
        };
        // A `-R 0:…` forward is told a port of its own; channels name it so the client finds
        // its local target. The public port is chosen at bind and printed on the session.
        if *port == 0 {
            *port = u32::try_from(self.forwards.len() + 1).unwrap_or(1);
        }
        self.forwards.push(Forward {
            asked,
            channel_port: *port,
        });
        Ok(true)
    }

    async fn cancel_tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let before = self.forwards.len();
        self.forwards
            .retain(|f| !(f.asked.address == address && f.channel_port == port));
        Ok(self.forwards.len() != before)
    }
}
