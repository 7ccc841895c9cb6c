//! `request-body-find-replace`: rewrites the request body before it is forwarded.
//!
//! The body is buffered (up to 10 MiB; a larger one fails the forward with
//! [`sluice_policy::BodyError::TooLarge`]), then every replacement is applied in order, each to
//! all of its matches; an empty `to` deletes the match. `Content-Length` is dropped from the
//! request so the host sends the new length.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Flow, HttpCx, Phase, PhaseCx, Termination, TypedAction,
};

use crate::find_replace::body::{BODY_LIMIT, BodyRules, FindReplaceBody};

/// One replacement of a body find/replace action.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    /// Regular expression (RE2 syntax); `${…}` allowed. Required.
    pub from: String,
    /// Replacement; `${…}` allowed, `$1`/`${1}` refer to capture groups. Empty or absent:
    /// the match is deleted.
    #[serde(default)]
    pub to: String,
}

/// Config of `request-body-find-replace`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBodyFindReplaceConfig {
    /// The replacements, applied in order. At least one.
    #[schemars(length(min = 1))]
    pub replacements: Vec<Replacement>,
}

/// The built action.
pub struct RequestBodyFindReplace {
    rules: BodyRules,
}

#[async_trait]
impl Action for RequestBodyFindReplace {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let ready = self.rules.prepare(cx, Self::TYPE)?;
        cx.request_mut()
            .headers
            .remove(http::header::CONTENT_LENGTH);
        cx.add_request_transform(Box::new(FindReplaceBody::new(ready, BODY_LIMIT)));
        cx.set_result("request_body_find_replace", self.rules.result());
        Ok(Flow::Continue)
    }
    fn summary(&self) -> String {
        format!("{} in the request body", self.rules.summary())
    }
}

impl TypedAction for RequestBodyFindReplace {
    type Config = RequestBodyFindReplaceConfig;
    const TYPE: &'static str = "request-body-find-replace";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str =
        "Replaces every match of each regex in the request body (buffered, up to 10 MiB).";

    fn build(config: RequestBodyFindReplaceConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let entries = config
            .replacements
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str()));
        Some(RequestBodyFindReplace {
            rules: BodyRules::build(cx, entries)?,
        })
    }
}
