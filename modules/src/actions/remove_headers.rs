//! `remove-headers`: removes headers from the request or the response.

use async_trait::async_trait;
use http::HeaderName;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::value::{map, string_list};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, Termination, TypedAction,
};

use crate::util::PROTECTED_HEADERS;

/// Config of `remove-headers`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveHeadersConfig {
    /// Header names to remove. 1 to 10 entries.
    #[schemars(length(min = 1, max = 10))]
    pub headers: Vec<String>,
}

/// The built action.
pub struct RemoveHeaders {
    headers: Vec<HeaderName>,
}

impl RemoveHeaders {
    fn run(&self, cx: &mut HttpCx<'_>, response: bool) -> Result<Flow, ActionError> {
        let mut removed = Vec::new();
        {
            let headers = if response {
                cx.response_mut().map(|r| &mut r.headers)
            } else {
                Some(&mut cx.request_mut().headers)
            };
            if let Some(headers) = headers {
                for name in &self.headers {
                    if headers.remove(name).is_some() {
                        removed.push(name.as_str().to_string());
                    }
                }
            }
        }
        cx.set_result(
            "remove_headers",
            map([("headers_removed", string_list(removed))]),
        );
        Ok(Flow::Continue)
    }
}

#[async_trait]
impl Action for RemoveHeaders {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx, false)
    }
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx, true)
    }
    fn summary(&self) -> String {
        let names: Vec<&str> = self.headers.iter().map(HeaderName::as_str).collect();
        format!("removes {}", names.join(", "))
    }
}

impl TypedAction for RemoveHeaders {
    type Config = RemoveHeadersConfig;
    const TYPE: &'static str = "remove-headers";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest, Phase::HttpResponse];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str = "Removes headers.";

    fn build(config: RemoveHeadersConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.headers.is_empty() || config.headers.len() > 10 {
            let code = if config.headers.is_empty() {
                Code::InvalidValue
            } else {
                Code::TooManyEntries
            };
            cx.error_at(
                code,
                "headers",
                format!("give 1 to 10 headers, found {}", config.headers.len()),
            );
            return None;
        }
        let mut headers = Vec::new();
        for (i, name) in config.headers.iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            let rel = format!("headers[{i}]");
            if PROTECTED_HEADERS.contains(&lower.as_str()) {
                cx.error_at(
                    Code::InvalidValue,
                    &rel,
                    format!("the `{lower}` header cannot be removed by a policy"),
                );
                continue;
            }
            match HeaderName::from_bytes(lower.as_bytes()) {
                Ok(h) => headers.push(h),
                Err(_) => cx.error_at(
                    Code::InvalidValue,
                    &rel,
                    format!("`{name}` is not a valid header name"),
                ),
            }
        }
        (!cx.failed()).then_some(RemoveHeaders { headers })
    }
}
