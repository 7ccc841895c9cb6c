//! `sse-find-replace`: rewrites fields of each Server-Sent Events message of a
//! `text/event-stream` response, in `on_event_stream_message`, while the response streams.
//!
//! Each replacement names the `field` it works on (`data`, the default, or `retry`, as ngrok
//! documents), a `from` regular expression (RE2 syntax) and a `to` text (`$1`/`${1}` refer to
//! capture groups; empty deletes the match); all three accept `${…}`. Replacements run in
//! order, each on every match. A message's `data` is its `data` lines joined with `\n`; the
//! rewritten value is written back as one `data` line per line. A message without the field
//! is left alone.
//! Result variable: `actions.ngrok.sse_find_replace.replacements[]`, one
//! `{replacement_index, field, matched_content}` per replacement that matched this message
//! (`matched_content` is its first match).

use std::sync::Arc;

use async_trait::async_trait;
use cel::Value;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, EventCx, Flow, Phase, PhaseCx, Termination, TypedAction,
};

use crate::find_replace::{Pattern, render_to, to_template, verbatim};

/// The fields a replacement may change.
const FIELDS: [&str; 2] = ["data", "retry"];

/// Config of `sse-find-replace`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SseFindReplaceConfig {
    /// The replacements, applied in order to each message. At least one.
    #[schemars(length(min = 1))]
    pub replacements: Vec<SseReplacement>,
}

/// One replacement of `sse-find-replace`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SseReplacement {
    /// The message field to change: `data` (default) or `retry`; `${…}` allowed.
    #[serde(default = "default_field")]
    pub field: String,
    /// Regular expression (RE2 syntax); `${…}` allowed. Required.
    pub from: String,
    /// Replacement; `${…}` allowed, `$1`/`${1}` refer to capture groups. Empty or absent: the
    /// match is deleted.
    #[serde(default)]
    pub to: String,
}

fn default_field() -> String {
    "data".to_owned()
}

/// One built replacement.
struct Rule {
    field: Template,
    from: Pattern<regex::Regex>,
    to: Template,
}

/// The built action.
pub struct SseFindReplace {
    rules: Vec<Rule>,
}

impl SseFindReplace {
    /// Applies replacement `index` to the message; returns its first match, if any.
    fn apply(
        &self,
        index: usize,
        rule: &Rule,
        cx: &mut EventCx<'_>,
    ) -> Result<Option<(String, String)>, ActionError> {
        let field = rule
            .field
            .render(cx.scope())
            .map_err(|e| ActionError::interpolation(Self::TYPE, "field", e))?;
        if !FIELDS.contains(&field.as_str()) {
            return Err(ActionError::internal(format!(
                "action {} replacement {index}: field {field:?} is not data or retry",
                Self::TYPE
            )));
        }
        let regex = rule
            .from
            .resolve(cx.scope(), verbatim, Self::TYPE, "from")?;
        let to = render_to(&rule.to, cx.scope(), verbatim, true)
            .map_err(|e| ActionError::interpolation(Self::TYPE, "to", e))?;
        let value = match field.as_str() {
            "data" => cx.message().data(),
            name => cx.message().field(name).map(str::to_owned),
        };
        let Some(value) = value else { return Ok(None) };
        let Some(first) = regex.find(&value).map(|m| m.as_str().to_owned()) else {
            return Ok(None);
        };
        let replaced = regex.replace_all(&value, to.as_str()).into_owned();
        if replaced != value {
            cx.message_mut().set_field(&field, &replaced);
        }
        Ok(Some((field, first)))
    }
}

#[async_trait]
impl Action for SseFindReplace {
    fn on_event_stream_message(&self, cx: &mut EventCx<'_>) -> Result<Flow, ActionError> {
        let mut matched = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if let Some((field, content)) = self.apply(index, rule, cx)? {
                matched.push(map([
                    ("replacement_index", Value::Int(index as i64)),
                    ("field", string(field)),
                    ("matched_content", string(content)),
                ]));
            }
        }
        cx.set_result(
            "sse_find_replace",
            map([("replacements", Value::List(Arc::new(matched)))]),
        );
        Ok(Flow::Continue)
    }

    fn summary(&self) -> String {
        let froms: Vec<&str> = self.rules.iter().map(|r| r.from.source()).collect();
        format!("replaces {} in each event-stream message", froms.join(", "))
    }
}

impl TypedAction for SseFindReplace {
    type Config = SseFindReplaceConfig;
    const TYPE: &'static str = "sse-find-replace";
    const PHASES: &'static [Phase] = &[Phase::EventStreamMessage];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str = "Replaces every match of each regex in a field (data or retry) \
        of each Server-Sent Events message, as the response streams.";

    fn build(config: SseFindReplaceConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.replacements.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                "replacements",
                "needs at least one replacement",
            );
            return None;
        }
        let mut rules = Vec::new();
        let mut ok = true;
        for (i, r) in config.replacements.iter().enumerate() {
            let field = cx.template(&format!("replacements[{i}].field"), &r.field);
            if let Some(text) = field.as_ref().and_then(Template::as_static)
                && !FIELDS.contains(&text)
            {
                cx.error_at(
                    Code::InvalidValue,
                    &format!("replacements[{i}].field"),
                    format!("{text:?} is not a field sse-find-replace changes (data or retry)"),
                );
                ok = false;
            }
            let from = Pattern::build(cx, &format!("replacements[{i}].from"), &r.from);
            let to = to_template(cx, &format!("replacements[{i}].to"), &r.to);
            match (field, from, to) {
                (Some(field), Some(from), Some(to)) => rules.push(Rule { field, from, to }),
                _ => ok = false,
            }
        }
        ok.then_some(SseFindReplace { rules })
    }
}
