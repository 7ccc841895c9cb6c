//! `custom-response`: answers with a status, body and headers of the policy's choosing.
//! In the request phase the upstream is not called (the response phase still runs); in the
//! response phase it replaces the upstream's response.

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};

use crate::scalar_text::ScalarText;
use crate::util::{HeaderTemplates, header_templates, render_headers};

/// Config of `custom-response`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CustomResponseConfig {
    /// Status (default 200).
    #[schemars(range(min = 100, max = 599))]
    pub status_code: u16,
    /// Body; `${…}` allowed.
    pub body: Option<String>,
    /// Deprecated name of `body`.
    pub content: Option<String>,
    /// Headers; values may use `${…}`. At most 10.
    pub headers: BTreeMap<String, ScalarText>,
}

impl Default for CustomResponseConfig {
    fn default() -> Self {
        CustomResponseConfig {
            status_code: 200,
            body: None,
            content: None,
            headers: BTreeMap::new(),
        }
    }
}

/// The built action.
pub struct CustomResponse {
    status: StatusCode,
    body: Option<Template>,
    headers: HeaderTemplates,
}

/// Guesses a content type for a body written in a policy.
fn infer_content_type(body: &str) -> &'static str {
    let t = body.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(t).is_ok()
    {
        "application/json"
    } else if t.starts_with('<') {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Whether a status may carry a body.
pub(crate) fn status_allows_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

impl CustomResponse {
    fn respond(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let mut response = SyntheticResponse::empty(self.status);
        if let Some(body) = &self.body {
            let text = body
                .render(cx.scope())
                .map_err(|e| ActionError::interpolation(Self::TYPE, "body", e))?;
            if let Ok(v) = HeaderValue::from_str(infer_content_type(&text)) {
                response.headers.insert(http::header::CONTENT_TYPE, v);
            }
            response.body = Bytes::from(text);
        }
        for (name, value) in render_headers(cx.scope(), Self::TYPE, &self.headers)? {
            response.headers.insert(name, value);
        }
        Ok(Flow::Respond(response))
    }
}

#[async_trait]
impl Action for CustomResponse {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.respond(cx)
    }
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.respond(cx)
    }
    fn summary(&self) -> String {
        format!("answers {}", self.status.as_u16())
    }
}

impl TypedAction for CustomResponse {
    type Config = CustomResponseConfig;
    const TYPE: &'static str = "custom-response";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest, Phase::HttpResponse];
    const TERMINATION: Termination = Termination::Always;
    const CONFIG_OPTIONAL: bool = true;
    const ABOUT: &'static str = "Answers with the given status, body and headers.";

    fn build(config: CustomResponseConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let status = match StatusCode::from_u16(config.status_code) {
            Ok(s) if (100..=599).contains(&config.status_code) => s,
            _ => {
                cx.error_at(
                    Code::OutOfRange,
                    "status_code",
                    "must be an HTTP status between 100 and 599",
                );
                return None;
            }
        };
        if config.body.is_some() && config.content.is_some() {
            cx.error_at(
                Code::InvalidValue,
                "content",
                "give `body` or its old name `content`, not both",
            );
        }
        let (field, text) = match (&config.body, &config.content) {
            (Some(b), _) => ("body", Some(b.as_str())),
            (None, Some(c)) => {
                cx.warn_at(
                    Code::InvalidValue,
                    "content",
                    "`content` is deprecated: write `body`",
                );
                ("content", Some(c.as_str()))
            }
            _ => ("body", None),
        };
        let body = match text {
            Some(t) if !t.is_empty() && !status_allows_body(status) => {
                cx.error_at(
                    Code::InvalidValue,
                    field,
                    format!(
                        "HTTP status {} does not allow a response body",
                        status.as_u16()
                    ),
                );
                None
            }
            Some(t) => cx.template(field, t),
            None => None,
        };
        let headers = header_templates(cx, "headers", &config.headers, 10, &[])?;
        (!cx.failed()).then_some(CustomResponse {
            status,
            body,
            headers,
        })
    }
}
