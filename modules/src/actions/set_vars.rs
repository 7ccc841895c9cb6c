//! `set-vars`: sets `vars.<name>` for the rest of the phase. Later entries can read earlier
//! ones. Accepts ngrok's list form (`- name: value`) and the map form.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, TcpCx, Termination,
    TypedAction,
};

use crate::util::JsonTemplate;

/// Config of `set-vars`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetVarsConfig {
    /// A list of single-key maps (`- name: value`), or one map. Values may be any type;
    /// a string that is exactly `${expr}` keeps the expression's type.
    #[schemars(with = "VarsSchema")]
    pub vars: serde_json::Value,
}

/// Schema of `vars` (list of one-key maps, or a map).
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum VarsSchema {
    List(Vec<std::collections::BTreeMap<String, serde_json::Value>>),
    Map(std::collections::BTreeMap<String, serde_json::Value>),
}

/// The built action.
pub struct SetVars {
    vars: Vec<(String, JsonTemplate)>,
}

impl SetVars {
    fn run(&self, cx: &mut dyn PhaseCx) -> Result<Flow, ActionError> {
        for (name, value) in &self.vars {
            let v = value
                .eval(cx.scope())
                .map_err(|e| ActionError::interpolation(Self::TYPE, name, e))?;
            cx.set_var(name, v);
        }
        Ok(Flow::Continue)
    }
}

#[async_trait]
impl Action for SetVars {
    async fn on_tcp_connect(&self, cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
    fn summary(&self) -> String {
        let names: Vec<&str> = self.vars.iter().map(|(n, _)| n.as_str()).collect();
        format!("sets vars.{}", names.join(", vars."))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl TypedAction for SetVars {
    type Config = SetVarsConfig;
    const TYPE: &'static str = "set-vars";
    const PHASES: &'static [Phase] = &[Phase::TcpConnect, Phase::HttpRequest, Phase::HttpResponse];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str = "Sets variables (`vars.*`) for the rest of the phase.";

    fn build(config: SetVarsConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let mut entries: Vec<(String, String, serde_json::Value)> = Vec::new();
        match &config.vars {
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_object() {
                        Some(m) if m.len() == 1 => {
                            for (k, v) in m {
                                entries.push((k.clone(), format!("vars[{i}].{k}"), v.clone()));
                            }
                        }
                        _ => cx.error_at(
                            Code::InvalidValue,
                            &format!("vars[{i}]"),
                            "each entry is a map with exactly one key: `- name: value`",
                        ),
                    }
                }
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    entries.push((k.clone(), format!("vars.{k}"), v.clone()));
                }
            }
            _ => cx.error_at(
                Code::InvalidValue,
                "vars",
                "expected a list of `- name: value` entries",
            ),
        }
        if entries.is_empty() && !cx.failed() {
            cx.error_at(Code::InvalidValue, "vars", "give at least one variable");
        }
        let mut vars = Vec::new();
        for (name, rel, value) in entries {
            if !valid_name(&name) {
                cx.error_at(
                    Code::InvalidValue,
                    &rel,
                    format!("`{name}` is not a valid variable name (letters, digits, `_`)"),
                );
                continue;
            }
            if let Some(t) = JsonTemplate::compile(cx, &rel, &value) {
                vars.push((name, t));
            }
        }
        (!cx.failed()).then_some(SetVars { vars })
    }
}
