//! `deny`: rejects the request with a status and no body, or closes a TCP connection.

use async_trait::async_trait;
use http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, SyntheticResponse, TcpCx, Termination,
    TypedAction,
};

/// Config of `deny`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DenyConfig {
    /// Status to answer with (HTTP only). Default 403.
    #[schemars(range(min = 100, max = 599))]
    pub status_code: u16,
}

impl Default for DenyConfig {
    fn default() -> Self {
        DenyConfig { status_code: 403 }
    }
}

/// The built action.
pub struct Deny {
    status: StatusCode,
}

#[async_trait]
impl Action for Deny {
    async fn on_tcp_connect(&self, _cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        Ok(Flow::Close)
    }
    async fn on_http_request(&self, _cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        Ok(Flow::Respond(SyntheticResponse::empty(self.status)))
    }
    fn summary(&self) -> String {
        format!("answers {} with no body", self.status.as_u16())
    }
}

impl TypedAction for Deny {
    type Config = DenyConfig;
    const TYPE: &'static str = "deny";
    const PHASES: &'static [Phase] = &[Phase::TcpConnect, Phase::HttpRequest];
    const TERMINATION: Termination = Termination::Always;
    const CONFIG_OPTIONAL: bool = true;
    const ABOUT: &'static str = "Rejects traffic: an empty response with the status (default 403), or closes a TCP connection.";

    fn build(config: DenyConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        match StatusCode::from_u16(config.status_code) {
            Ok(status) if (100..=599).contains(&config.status_code) => Some(Deny { status }),
            _ => {
                cx.error_at(
                    Code::OutOfRange,
                    "status_code",
                    "must be an HTTP status between 100 and 599",
                );
                None
            }
        }
    }
}
