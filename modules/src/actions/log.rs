//! `log`: attaches metadata to the request's `http_request_complete.v0` event (or the
//! connection's `tcp_connection_closed.v0` event in `on_tcp_connect`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::value::{map, to_json};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, TcpCx, Termination,
    TypedAction,
};

use crate::util::JsonTemplate;

/// Config of `log`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Key → value to record; strings may use `${…}`.
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// The built action.
pub struct Log {
    metadata: JsonTemplate,
}

impl Log {
    fn run(&self, cx: &mut dyn PhaseCx) -> Result<Flow, ActionError> {
        let value = self
            .metadata
            .eval(cx.scope())
            .map_err(|e| ActionError::interpolation(Self::TYPE, "metadata", e))?;
        cx.log(to_json(&value));
        cx.set_result("log", map([("metadata", value)]));
        Ok(Flow::Continue)
    }
}

#[async_trait]
impl Action for Log {
    async fn on_tcp_connect(&self, cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
}

impl TypedAction for Log {
    type Config = LogConfig;
    const TYPE: &'static str = "log";
    const PHASES: &'static [Phase] = &[Phase::TcpConnect, Phase::HttpRequest, Phase::HttpResponse];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str = "Records metadata on the request's or connection's event.";

    fn build(config: LogConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.metadata.is_empty() {
            cx.error_at(Code::InvalidValue, "metadata", "give at least one entry");
            return None;
        }
        let json = serde_json::Value::Object(config.metadata.into_iter().collect());
        let metadata = JsonTemplate::compile(cx, "metadata", &json)?;
        Some(Log { metadata })
    }
}
