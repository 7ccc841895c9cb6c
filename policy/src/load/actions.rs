//! Building a rule's actions: type lookup, phase and auth checks, unreachable actions, and
//! the action's own typed config.

use std::sync::Arc;

use super::{Loader, unavailable};
use crate::action::Termination;
use crate::build::BuildCx;
use crate::diag::{Code, Diagnostic};
use crate::phase::Phase;
use crate::policy::PolicyAction;
use crate::source::{Node, NodeKind, PathSeg};

impl Loader<'_> {
    pub(super) fn actions(
        &mut self,
        phase: Phase,
        node: &Node,
        path: Vec<PathSeg>,
    ) -> Vec<PolicyAction> {
        let items = match &node.kind {
            NodeKind::Seq(items) if !items.is_empty() => items,
            NodeKind::Seq(_) | NodeKind::Null => {
                self.error(
                    Code::NoActions,
                    node.loc,
                    &path,
                    "a rule must have at least one action",
                );
                return Vec::new();
            }
            other => {
                let hint = if matches!(other, NodeKind::Map(_)) {
                    ": start each action with `- ` (e.g. `- type: deny`)"
                } else {
                    ""
                };
                self.error(
                    Code::InvalidStructure,
                    node.loc,
                    &path,
                    format!(
                        "expected a list of actions, found {}{hint}",
                        other.describe()
                    ),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        let mut terminated_by: Option<String> = None;
        for (i, item) in items.iter().enumerate() {
            let mut p = path.clone();
            p.push(PathSeg::Index(i));
            let Some(action) = self.action(phase, item, p.clone()) else {
                continue;
            };
            // ngrok loads an action placed after a terminating one (its maintenance-page
            // example does this), so sluice does too: the action is validated like any other,
            // then left out of the rule with a warning, since it can never run.
            // `sluice policy check --strict` turns the warning back into an error.
            if let Some(prior) = &terminated_by {
                self.diagnostics.push(Diagnostic::warning(
                    Code::UnreachableAction,
                    self.file,
                    item.loc,
                    &p,
                    format!(
                        "`{}` is unreachable and never runs: the terminating action `{prior}` before it ends the phase; move it before `{prior}` or into another rule",
                        action.type_name
                    ),
                ));
                continue;
            }
            if action.termination == Termination::Always {
                terminated_by = Some(action.type_name.to_string());
            }
            out.push(action);
        }
        out
    }

    fn action(&mut self, phase: Phase, node: &Node, path: Vec<PathSeg>) -> Option<PolicyAction> {
        let Some(entries) = node.as_map() else {
            self.error(
                Code::InvalidStructure,
                node.loc,
                &path,
                format!(
                    "expected an action (a map with `type` and `config`), found {}",
                    node.kind.describe()
                ),
            );
            return None;
        };
        let mut type_node = None;
        let mut config = None;
        let mut ok = true;
        for (key, value) in entries {
            let k = key.scalar_text().unwrap_or_default();
            match k.as_str() {
                "type" => type_node = Some(value),
                "config" => config = Some(value),
                other => {
                    let mut p = path.clone();
                    p.push(PathSeg::Key(other.to_string()));
                    self.error(
                        Code::InvalidStructure,
                        key.loc,
                        &p,
                        format!(
                            "unknown field `{other}` in an action; expected type, config (action settings go under `config:`)"
                        ),
                    );
                    ok = false;
                }
            }
        }
        let mut type_path = path.clone();
        type_path.push(PathSeg::Key("type".into()));
        let Some(type_node) = type_node else {
            self.error(
                Code::UnknownActionType,
                node.loc,
                &path,
                "an action needs a `type`",
            );
            return None;
        };
        let Some(type_name) = type_node.as_str() else {
            self.error(
                Code::UnknownActionType,
                type_node.loc,
                &type_path,
                format!("`type` is a string, found {}", type_node.kind.describe()),
            );
            return None;
        };
        let Some(factory) = self.registry.get(type_name).cloned() else {
            let known = self.registry.type_names().join(", ");
            self.error(
                Code::UnknownActionType,
                type_node.loc,
                &type_path,
                format!("unknown action type `{type_name}`; known types: {known}"),
            );
            return None;
        };
        if factory.deprecated_aliases().contains(&type_name) {
            self.diagnostics.push(Diagnostic::warning(
                Code::UnknownActionType,
                self.file,
                type_node.loc,
                &type_path,
                format!(
                    "`{type_name}` is an older name of `{}`: write `type: {}`",
                    factory.type_name(),
                    factory.type_name()
                ),
            ));
        }
        if !factory.phases().contains(&phase) {
            let allowed: Vec<&str> = factory.phases().iter().map(|p| p.key()).collect();
            self.error(
                Code::ActionNotInPhase,
                type_node.loc,
                &type_path,
                format!(
                    "`{}` cannot run in {}; it runs in {}",
                    factory.type_name(),
                    phase.key(),
                    allowed.join(", ")
                ),
            );
            return None;
        }
        if factory.is_auth() {
            if let Some(first) = &self.auth_seen {
                self.error(
                    Code::MultipleAuth,
                    type_node.loc,
                    &type_path,
                    format!(
                        "only one authentication action is allowed per policy; `{first}` is already used"
                    ),
                );
                return None;
            }
            self.auth_seen = Some(factory.type_name().to_string());
        }
        let mut cx = BuildCx::new(
            self.file,
            phase,
            path.clone(),
            node.loc,
            config,
            &mut self.diagnostics,
        );
        cx.set_local_secrets(self.options.local_secrets);
        cx.set_ip_policies(self.options.ip_policies.clone());
        cx.set_shared_counters(self.options.shared_counters.clone());
        let built = factory.build(&mut cx);
        let failed = cx.failed();
        let needs = cx.needs();
        let interpreted_needs = cx.interpreted_needs();
        let fast_exprs = cx.take_fast_exprs();
        self.needs[phase.index()].merge(needs);
        self.interpreted[phase.index()].merge(interpreted_needs);
        if let Some(problem) = unavailable(phase, needs) {
            let mut config_path = type_path.clone();
            config_path.pop();
            config_path.push(PathSeg::Key("config".into()));
            self.error(Code::UnknownReference, node.loc, &config_path, problem);
            return None;
        }
        let action = built.filter(|_| ok && !failed)?;
        Some(PolicyAction {
            type_name: factory.type_name(),
            about: factory.about(),
            termination: factory.termination(),
            action: Arc::from(action),
            loc: node.loc,
            path: path.clone(),
            needs,
            interpreted_needs,
            fast_exprs,
        })
    }
}
