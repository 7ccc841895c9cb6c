//! Binds of internal endpoints (`bindings: [internal]`, `.internal` names): stored per
//! account with their binding, for `forward-internal` to reach in-process, and kept out of
//! every public table, so no public listener (HTTP by Host, HTTPS, TLS by SNI, TCP) routes to
//! them and no TCP port is opened for them.

use sluice_tunnel::{AgentSession, BindRejection, BindRequest, EndpointBinding, Protocol};

use super::binder::Binder;
use super::claim::{claim, endpoint, member, url_with_port};
use crate::config::Scheme;

/// The port a URL of `protocol` leaves out (TCP has none: its URL must name one).
fn default_port(protocol: Protocol) -> Option<u16> {
    match protocol {
        Protocol::Http => Some(80),
        Protocol::Https | Protocol::Tls => Some(443),
        Protocol::Tcp => None,
    }
}

impl Binder {
    /// Binds an internal endpoint for `session`; returns its URL
    /// (`https://api.internal`, `tcp://db.internal:5432`).
    pub(super) async fn bind_internal(
        &self,
        session: &AgentSession,
        request: &BindRequest,
    ) -> Result<String, BindRejection> {
        let invalid = |why: &str| {
            BindRejection::new(
                "ERR_SLUICE_BIND_INVALID_URL",
                format!("internal endpoint: {why}"),
            )
        };
        let url = request.url.as_deref().unwrap_or_default();
        let Some((host, port)) = sluice_tunnel::auth::host_port(url) else {
            return Err(invalid("give a URL like https://api.internal"));
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.starts_with('*') {
            return Err(invalid("wildcard names are not supported"));
        }
        let default = default_port(request.protocol);
        let Some(port) = port.or(default) else {
            return Err(invalid(
                "a tcp URL needs a port, as in tcp://db.internal:5432",
            ));
        };
        let protocol = request.protocol;
        // The listener its name would belong to; internal endpoints are in no listener's table.
        let scheme = match protocol {
            Protocol::Https | Protocol::Tls => Scheme::Https,
            Protocol::Http | Protocol::Tcp => Scheme::Http,
        };
        let policy = self.policy(session.account(), request, protocol).await?;
        // The hop to an internal HTTP endpoint is in-process: there is no connection of its
        // own for `on_tcp_connect` to run on (ngrok refuses it likewise, ERR_NGROK_2262).
        if matches!(protocol, Protocol::Http | Protocol::Https)
            && !policy.rules(sluice_policy::Phase::TcpConnect).is_empty()
        {
            return Err(BindRejection::new(
                "ERR_SLUICE_2262",
                "internal HTTP endpoints do not support on_tcp_connect: move those rules to \
                 the public endpoint that forwards here",
            ));
        }
        let url = url_with_port(request.protocol, &host, port, default.unwrap_or(0));
        let mut ep = endpoint(session, &url, &host, port, protocol, scheme);
        ep.binding = EndpointBinding::Internal;
        let member = member(session, request, ep, policy);
        let mut tables = self.tables()?;
        let key = (session.account().to_owned(), url.clone());
        claim(&mut tables, |t| &mut t.internal, key, member, &url)?;
        Ok(url)
    }
}
