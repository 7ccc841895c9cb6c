//! An example custom action, `stamp-request`: adds a header naming the rule's `label` and the
//! request's method, e.g. `x-stamp: checkout:POST`. Register it next to the built-ins and
//! build your own `sluice` with [`sluice::main_with`].

use async_trait::async_trait;
use http::HeaderValue;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, Registry, Termination, Typed,
    TypedAction,
};

/// Config of `stamp-request`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StampConfig {
    /// The label to stamp (1 to 64 characters).
    pub label: String,
    /// Header name (default `x-stamp`).
    pub header: Option<String>,
}

/// The built action.
pub struct StampRequest {
    label: String,
    header: http::HeaderName,
}

#[async_trait]
impl Action for StampRequest {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let value = format!("{}:{}", self.label, cx.request().method);
        let value =
            HeaderValue::from_str(&value).map_err(|e| ActionError::internal(e.to_string()))?;
        cx.request_mut().headers.insert(self.header.clone(), value);
        Ok(Flow::Continue)
    }
}

impl TypedAction for StampRequest {
    type Config = StampConfig;
    const TYPE: &'static str = "stamp-request";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str = "Stamps the request with a label and its method.";

    fn build(config: StampConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.label.is_empty() || config.label.len() > 64 {
            cx.error_at(Code::OutOfRange, "label", "must be 1 to 64 characters");
            return None;
        }
        let name = config.header.unwrap_or_else(|| "x-stamp".into());
        match http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
            Ok(header) => Some(StampRequest {
                label: config.label,
                header,
            }),
            Err(_) => {
                cx.error_at(
                    Code::InvalidValue,
                    "header",
                    format!("`{name}` is not a header name"),
                );
                None
            }
        }
    }
}

/// The built-in actions plus `stamp-request`.
pub fn registry() -> Registry {
    let mut r = sluice_modules::builtin_registry();
    r.register(Typed::<StampRequest>::new());
    r
}
