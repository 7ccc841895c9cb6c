//! `close-connection`: closes the client connection immediately, without a response.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Flow, HttpCx, Phase, TcpCx, Termination, TypedAction,
};

/// Config of `close-connection` (it has no settings).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseConnectionConfig {}

/// The built action.
pub struct CloseConnection;

#[async_trait]
impl Action for CloseConnection {
    async fn on_tcp_connect(&self, _cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        Ok(Flow::Close)
    }
    async fn on_http_request(&self, _cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        Ok(Flow::Close)
    }
}

impl TypedAction for CloseConnection {
    type Config = CloseConnectionConfig;
    const TYPE: &'static str = "close-connection";
    const PHASES: &'static [Phase] = &[Phase::TcpConnect, Phase::HttpRequest];
    const TERMINATION: Termination = Termination::Always;
    const CONFIG_OPTIONAL: bool = true;
    const ABOUT: &'static str = "Closes the client connection without answering.";

    fn build(_config: CloseConnectionConfig, _cx: &mut BuildCx<'_>) -> Option<Self> {
        Some(CloseConnection)
    }
}
