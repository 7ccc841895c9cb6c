//! `add-headers`: adds headers to the request (request phase) or response (response phase).
//! Appends to existing values, except `host`, which it replaces.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cel::Value;
use http::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::value::{map_owned, string};
use sluice_policy::{
    Action, ActionError, BuildCx, Flow, HttpCx, Phase, PhaseCx, Termination, TypedAction,
};

use crate::scalar_text::ScalarText;
use crate::util::{HeaderTemplates, PROTECTED_HEADERS, add_to, header_templates, render_headers};

/// Config of `add-headers`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddHeadersConfig {
    /// Header name → value (`${…}` allowed). 1 to 10 entries.
    #[schemars(length(min = 1, max = 10))]
    pub headers: BTreeMap<String, ScalarText>,
}

/// The built action.
pub struct AddHeaders {
    headers: HeaderTemplates,
    /// The headers and the `actions.ngrok.add_headers` result, made once at load when no
    /// value has a `${…}` (most policies): a request then only clones them.
    fixed: Option<(Vec<(HeaderName, HeaderValue)>, Value)>,
}

/// The `actions.ngrok.add_headers` result for `added`.
fn result_of(added: &[(HeaderName, HeaderValue)]) -> Value {
    let added = map_owned(added.iter().map(|(k, v)| {
        (
            k.as_str().to_string(),
            string(String::from_utf8_lossy(v.as_bytes())),
        )
    }));
    sluice_policy::cel::value::map([("headers_added", added)])
}

impl AddHeaders {
    fn run(&self, cx: &mut HttpCx<'_>, response: bool) -> Result<Flow, ActionError> {
        let (rendered, result) = match &self.fixed {
            Some((headers, result)) => (headers.clone(), result.clone()),
            None => {
                let rendered = render_headers(cx.scope(), Self::TYPE, &self.headers)?;
                let result = result_of(&rendered);
                (rendered, result)
            }
        };
        if response {
            if let Some(res) = cx.response_mut() {
                add_to(&mut res.headers, rendered);
            }
        } else {
            add_to(&mut cx.request_mut().headers, rendered);
        }
        cx.set_result("add_headers", result);
        Ok(Flow::Continue)
    }
}

#[async_trait]
impl Action for AddHeaders {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx, false)
    }
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx, true)
    }
    fn summary(&self) -> String {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        format!("adds {}", names.join(", "))
    }
}

impl TypedAction for AddHeaders {
    type Config = AddHeadersConfig;
    const TYPE: &'static str = "add-headers";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest, Phase::HttpResponse];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str = "Adds headers (appending; `host` is replaced).";

    fn build(config: AddHeadersConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.headers.is_empty() {
            cx.error_at(
                sluice_policy::Code::InvalidValue,
                "headers",
                "give at least one header",
            );
            return None;
        }
        let mut forbidden = PROTECTED_HEADERS.to_vec();
        forbidden.push("ngrok-skip-browser-warning");
        let headers = header_templates(cx, "headers", &config.headers, 10, &forbidden)?;
        let fixed = headers
            .iter()
            .map(|(name, t)| {
                let value = HeaderValue::from_str(t.as_static()?).ok()?;
                Some((name.clone(), value))
            })
            .collect::<Option<Vec<_>>>()
            .map(|added| {
                let result = result_of(&added);
                (added, result)
            });
        Some(AddHeaders { headers, fixed })
    }
}
