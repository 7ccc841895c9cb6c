//! What the agent does with the config: effective settings with ngrok's defaults, and the
//! objects the tunnel integration needs per endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use sluice_tunnel::BindRequest;

use super::resolve::ResolvedEndpoint;
use super::types::AgentSection;
use super::values::WebAddr;
use crate::forward::{AgentTls, ForwardError, Forwarder, HttpOptions};
use crate::inspect::{EndpointInfo, InspectLimits, Inspector};

/// Default heartbeat interval.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// Default heartbeat tolerance.
pub const DEFAULT_HEARTBEAT_TOLERANCE: Duration = Duration::from_secs(15);

/// ngrok's `console_ui`: whether the agent draws its full-screen console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsoleUi {
    /// Always (when standard output cannot show it, it is garbled: the user asked).
    On,
    /// Never: plain console lines.
    Off,
    /// When standard output is a terminal (the default).
    #[default]
    IfTty,
}

impl ConsoleUi {
    /// Reads `true`, `false` or `iftty` (booleans written either way).
    pub fn parse(value: &Value) -> Result<ConsoleUi, String> {
        match value {
            Value::Bool(true) => Ok(ConsoleUi::On),
            Value::Bool(false) => Ok(ConsoleUi::Off),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(ConsoleUi::On),
                "false" => Ok(ConsoleUi::Off),
                "iftty" => Ok(ConsoleUi::IfTty),
                _ => Err(format!("`{s}` is not true, false or iftty")),
            },
            other => Err(format!("{other} is not true, false or iftty")),
        }
    }
}

/// ngrok's `console_ui_color`: the console's background.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsoleColor {
    /// The terminal's own background (the default).
    #[default]
    Transparent,
    /// Black.
    Black,
}

impl ConsoleColor {
    /// Reads `black` or `transparent`.
    pub fn parse(value: &str) -> Result<ConsoleColor, String> {
        match value.to_ascii_lowercase().as_str() {
            "black" => Ok(ConsoleColor::Black),
            "transparent" => Ok(ConsoleColor::Transparent),
            _ => Err(format!("`{value}` is not black or transparent")),
        }
    }
}

impl AgentSection {
    /// `console_ui`, default `iftty` (a bad value was refused at load).
    pub fn console_ui(&self) -> ConsoleUi {
        self.console_ui
            .as_ref()
            .and_then(|v| ConsoleUi::parse(v).ok())
            .unwrap_or_default()
    }

    /// `console_ui_color`, default transparent (a bad value was refused at load).
    pub fn console_color(&self) -> ConsoleColor {
        self.console_ui_color
            .as_deref()
            .and_then(|v| ConsoleColor::parse(v).ok())
            .unwrap_or_default()
    }

    /// The web interface address, `None` when `web_addr: false`.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        match self.web_addr.clone().unwrap_or_default() {
            WebAddr::Disabled => None,
            WebAddr::Addr(a) => Some(a),
        }
    }

    /// Inspector limits from `inspect_db_size` (0 or unset: 50 MB; negative: inspection off).
    pub fn inspect_limits(&self) -> Option<InspectLimits> {
        match self.inspect_db_size {
            Some(n) if n < 0 => None,
            Some(n) if n > 0 => Some(InspectLimits {
                max_bytes: usize::try_from(n).unwrap_or(usize::MAX),
                ..InspectLimits::default()
            }),
            _ => Some(InspectLimits::default()),
        }
    }

    /// Heartbeat interval and tolerance, with ngrok's defaults (10 s, 15 s).
    pub fn heartbeat(&self) -> (Duration, Duration) {
        (
            self.heartbeat_interval
                .map_or(DEFAULT_HEARTBEAT_INTERVAL, |d| d.0),
            self.heartbeat_tolerance
                .map_or(DEFAULT_HEARTBEAT_TOLERANCE, |d| d.0),
        )
    }
}

/// The binding the edge gave an endpoint bound with `bindings` at `public_url`: the one
/// asked for, else what its name implies (`.internal` names are internal).
fn binding_of(bindings: &[String], public_url: &str) -> &'static str {
    let host = sluice_tunnel::auth::host_port(public_url).map(|(h, _)| h);
    match sluice_tunnel::binding::resolve(bindings, host.as_deref()) {
        Ok(sluice_tunnel::EndpointBinding::Internal) => "internal",
        _ => "public",
    }
}

impl ResolvedEndpoint {
    /// The bind request the tunnel sends for this endpoint. A URL that is a scheme alone
    /// (`https://`) asks the edge for a random name of that protocol.
    pub fn bind_request(&self) -> BindRequest {
        let mut request = BindRequest::new(self.kind.protocol(self.url.as_deref()));
        let scheme_only = |u: &&str| u.split_once("://").is_some_and(|(_, rest)| rest.is_empty());
        if let Some(url) = self.url.as_deref().filter(|u| !scheme_only(u)) {
            request = request.with_url(url);
        }
        if let Some(p) = &self.traffic_policy {
            request = request.with_traffic_policy(p.clone());
        }
        request.pooling_enabled = self.pooling_enabled;
        request.metadata = self.metadata.clone();
        request.bindings = self.bindings.clone();
        request.subdomain = self.subdomain.clone();
        request
    }

    /// The second bind of an endpoint that serves its name under both schemes
    /// ([`also_http`](Self::also_http)): the name the edge gave `https_url`, under `http://`
    /// (the edge adds its http listener's port). `None` when the endpoint has no twin.
    pub fn http_twin(&self, https_url: &str) -> Option<BindRequest> {
        if !self.also_http || !https_url.starts_with("https://") {
            return None;
        }
        let (host, _) = sluice_tunnel::auth::host_port(https_url)?;
        let mut request = self.bind_request();
        request.protocol = sluice_tunnel::Protocol::Http;
        request.url = Some(format!("http://{host}"));
        request.subdomain = None;
        Some(request)
    }

    /// The name the local API gives the plain-HTTP twin of this endpoint, as ngrok's agent
    /// names it (`command_line (http)`).
    pub fn http_twin_name(&self) -> String {
        format!("{} (http)", self.name)
    }

    /// The forwarder serving this endpoint's streams; `inspector` is used only when the
    /// endpoint inspects.
    pub fn forwarder(&self, inspector: Option<&Inspector>) -> Result<Forwarder, ForwardError> {
        let options = HttpOptions {
            host_header: self.host_header.clone(),
        };
        let inspector = inspector.filter(|_| self.inspect).cloned();
        let forwarder = Forwarder::new(
            &self.name,
            self.kind,
            self.upstream.clone(),
            options,
            inspector,
        )?;
        match &self.agent_tls {
            None => Ok(forwarder),
            Some(pem) => {
                let tls = AgentTls::new(pem)
                    .map_err(|e| ForwardError::NotSupported(format!("agent TLS: {e}")))?;
                forwarder.with_agent_tls(tls)
            }
        }
    }

    /// What the local API shows once the edge assigned `public_url`.
    pub fn info(&self, public_url: &str) -> EndpointInfo {
        let upstream_protocol = if self.upstream.is_http() {
            self.upstream.protocol.as_str()
        } else {
            self.upstream.scheme.as_str()
        };
        EndpointInfo {
            name: self.name.clone(),
            url: public_url.to_string(),
            upstream_url: self.upstream.to_string(),
            upstream_protocol: upstream_protocol.to_string(),
            inspect: self.inspect,
            traffic_policy: self.traffic_policy.clone(),
            pooling_enabled: self.pooling_enabled,
            binding: binding_of(&self.bindings, public_url).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::GoDuration;

    #[test]
    fn defaults() {
        let a = AgentSection::default();
        assert_eq!(a.web_addr(), Some(SocketAddr::from(([127, 0, 0, 1], 4040))));
        assert_eq!(a.inspect_limits(), Some(InspectLimits::default()));
        assert_eq!(
            a.heartbeat(),
            (DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_TOLERANCE)
        );
        let a = AgentSection {
            web_addr: Some(WebAddr::Disabled),
            inspect_db_size: Some(-1),
            heartbeat_interval: Some(GoDuration(Duration::from_secs(3))),
            ..AgentSection::default()
        };
        assert_eq!((a.web_addr(), a.inspect_limits()), (None, None));
        assert_eq!(a.heartbeat().0, Duration::from_secs(3));
        let a = AgentSection {
            inspect_db_size: Some(1000),
            ..AgentSection::default()
        };
        assert_eq!(a.inspect_limits().map(|l| l.max_bytes), Some(1000));
    }
}
