//! `response-body-find-replace`: rewrites the response body before it reaches the client.
//!
//! An upstream body is buffered (up to 10 MiB; a larger one fails with
//! [`sluice_policy::BodyError::TooLarge`]), then every replacement is applied in order, each
//! to all of its matches; an empty `to` deletes the match. `Content-Length` is dropped from the
//! response so the host sends the new length. A response the policy made itself is rewritten
//! on the spot.

use async_trait::async_trait;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Flow, HttpCx, Phase, PhaseCx, Termination, TypedAction,
};

use super::request_body_find_replace::Replacement;
use crate::find_replace::body::{BODY_LIMIT, BodyRules, FindReplaceBody, apply};

/// Config of `response-body-find-replace`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseBodyFindReplaceConfig {
    /// The replacements, applied in order. At least one.
    #[schemars(length(min = 1))]
    pub replacements: Vec<Replacement>,
}

/// The built action.
pub struct ResponseBodyFindReplace {
    rules: BodyRules,
}

#[async_trait]
impl Action for ResponseBodyFindReplace {
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let ready = self.rules.prepare(cx, Self::TYPE)?;
        if let Some(res) = cx.response_mut() {
            res.headers.remove(http::header::CONTENT_LENGTH);
        }
        if cx.response_is_synthetic() {
            let body = cx.response_body().cloned().unwrap_or_default();
            cx.set_response_body(Bytes::from(apply(&ready, &body)));
        } else {
            cx.add_response_transform(Box::new(FindReplaceBody::new(ready, BODY_LIMIT)));
        }
        cx.set_result("response_body_find_replace", self.rules.result());
        Ok(Flow::Continue)
    }
    fn summary(&self) -> String {
        format!("{} in the response body", self.rules.summary())
    }
}

impl TypedAction for ResponseBodyFindReplace {
    type Config = ResponseBodyFindReplaceConfig;
    const TYPE: &'static str = "response-body-find-replace";
    const PHASES: &'static [Phase] = &[Phase::HttpResponse];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str =
        "Replaces every match of each regex in the response body (buffered, up to 10 MiB).";

    fn build(config: ResponseBodyFindReplaceConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let entries = config
            .replacements
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str()));
        Some(ResponseBodyFindReplace {
            rules: BodyRules::build(cx, entries)?,
        })
    }
}
