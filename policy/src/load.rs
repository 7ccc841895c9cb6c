//! Loading: text → located tree → validated, compiled [`Policy`]. Every problem in the file is
//! reported at once, each with its line, column, JSON path and code.

use std::sync::Arc;

use crate::cel::{Expr, Needs};
use crate::diag::{Code, Diagnostic, PolicyError};
use crate::phase::{Phase, Protocol};
use crate::policy::{Policy, Rule};
use crate::registry::Registry;
use crate::source::{Loc, Node, NodeKind, PathSeg, parse};

/// Options for loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The endpoint protocol, when known: TCP and TLS endpoints only allow `on_tcp_connect`.
    pub protocol: Option<Protocol>,
    /// Whether actions may read secrets from this machine (`client_secret_env`,
    /// `client_secret_file`): true for policies the machine's operator wrote (the edge's own
    /// config, `sluice policy check`), false for policies an agent sends to an edge, which must
    /// never read the edge's environment or files.
    pub local_secrets: bool,
    /// What `restrict-ips`' `ip_policies` names resolve against.
    pub ip_policies: crate::IpPolicyNames,
    /// Where `rate-limit` counts: `None` keeps counts in each built action's memory (per
    /// edge); `Some` shares them with the other edges of the same store.
    pub shared_counters: Option<crate::SharedCounters>,
}

/// Loads a policy from YAML or JSON text. `file` names it in diagnostics.
pub fn load_policy(
    file: &str,
    text: &str,
    registry: &Registry,
    options: LoadOptions,
) -> Result<Policy, PolicyError> {
    let file: Arc<str> = Arc::from(file);
    let root = match parse(text) {
        Ok(node) => node,
        Err((loc, message)) => {
            return Err(PolicyError {
                diagnostics: vec![Diagnostic::error(
                    Code::Syntax,
                    &file,
                    loc,
                    &[],
                    format!("not valid YAML or JSON: {message}"),
                )],
            });
        }
    };
    load_node(&file, &root, registry, options)
}

/// Loads a policy from an already parsed tree (e.g. one embedded in a larger config file);
/// paths and locations are those of the tree.
pub fn load_node(
    file: &Arc<str>,
    root: &Node,
    registry: &Registry,
    options: LoadOptions,
) -> Result<Policy, PolicyError> {
    let mut loader = Loader {
        file,
        registry,
        options,
        diagnostics: Vec::new(),
        auth_seen: None,
        needs: Default::default(),
        interpreted: Default::default(),
    };
    let phases = loader.document(root);
    if loader.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(PolicyError {
            diagnostics: loader.diagnostics,
        });
    }
    Ok(Policy::new(
        file.clone(),
        phases,
        loader.diagnostics,
        loader.needs,
        loader.interpreted,
    ))
}

mod actions;

struct Loader<'a> {
    file: &'a Arc<str>,
    registry: &'a Registry,
    options: LoadOptions,
    diagnostics: Vec<Diagnostic>,
    auth_seen: Option<String>,
    /// What each phase's expressions and templates read, by [`Phase::index`].
    needs: [Needs; 4],
    /// What the interpreter reads of them when every fast expression answers (see
    /// [`crate::cel::Expr::interpreted_needs`]).
    interpreted: [Needs; 4],
}

impl Loader<'_> {
    fn error(&mut self, code: Code, loc: Loc, path: &[PathSeg], message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(code, self.file, loc, path, message));
    }

    fn document(&mut self, root: &Node) -> [Vec<Rule>; 4] {
        let mut phases: [Vec<Rule>; 4] = Default::default();
        let mut seen: [Option<String>; 4] = Default::default();
        let entries = match &root.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => return phases,
            other => {
                self.error(
                    Code::InvalidStructure,
                    root.loc,
                    &[],
                    format!(
                        "a policy is a map of phases (on_tcp_connect, on_http_request, on_http_response, on_event_stream_message), found {}",
                        other.describe()
                    ),
                );
                return phases;
            }
        };
        for (key, value) in entries {
            let name = key.scalar_text().unwrap_or_default();
            let path = vec![PathSeg::Key(name.clone())];
            let Some((phase, legacy)) = Phase::from_key(&name) else {
                self.error(
                    Code::InvalidStructure,
                    key.loc,
                    &path,
                    format!(
                        "unknown phase `{name}`; expected one of on_tcp_connect, on_http_request, on_http_response"
                    ),
                );
                continue;
            };
            if legacy {
                self.diagnostics.push(Diagnostic::warning(
                    Code::InvalidStructure,
                    self.file,
                    key.loc,
                    &path,
                    format!("`{name}` is a legacy name: write `{}` instead", phase.key()),
                ));
            }
            if let Some(first) = &seen[phase.index()] {
                self.error(
                    Code::InvalidStructure,
                    key.loc,
                    &path,
                    format!(
                        "`{name}` repeats phase {} already given as `{first}`",
                        phase.key()
                    ),
                );
                continue;
            }
            seen[phase.index()] = Some(name.clone());
            if let Some(protocol) = self.options.protocol
                && !phase.runs_on(protocol)
            {
                self.error(
                    Code::PhaseNotForProtocol,
                    key.loc,
                    &path,
                    format!(
                        "{} endpoints only run on_tcp_connect; {} cannot be used here",
                        protocol,
                        phase.key()
                    ),
                );
                continue;
            }
            phases[phase.index()] = self.rules(phase, value, path);
        }
        phases
    }

    fn rules(&mut self, phase: Phase, node: &Node, path: Vec<PathSeg>) -> Vec<Rule> {
        let items = match &node.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Null => return Vec::new(),
            NodeKind::Map(_) => {
                self.error(
                    Code::InvalidStructure,
                    node.loc,
                    &path,
                    "expected a list of rules, found a map: start each rule with `- ` (e.g. `- actions: [...]`)",
                );
                return Vec::new();
            }
            other => {
                self.error(
                    Code::InvalidStructure,
                    node.loc,
                    &path,
                    format!("expected a list of rules, found {}", other.describe()),
                );
                return Vec::new();
            }
        };
        let mut rules = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let mut rule_path = path.clone();
            rule_path.push(PathSeg::Index(i));
            if let Some(rule) = self.rule(phase, item, rule_path) {
                rules.push(rule);
            }
        }
        rules
    }

    fn rule(&mut self, phase: Phase, node: &Node, path: Vec<PathSeg>) -> Option<Rule> {
        let Some(entries) = node.as_map() else {
            self.error(
                Code::InvalidStructure,
                node.loc,
                &path,
                format!(
                    "expected a rule (a map with `actions` and optional `name`, `expressions`), found {}",
                    node.kind.describe()
                ),
            );
            return None;
        };
        let before = self.error_count();
        let mut name = None;
        let mut exprs = Vec::new();
        let mut actions = Vec::new();
        let mut actions_node = None;
        for (key, value) in entries {
            let k = key.scalar_text().unwrap_or_default();
            let mut p = path.clone();
            p.push(PathSeg::Key(k.clone()));
            match k.as_str() {
                "name" => match value.scalar_text() {
                    Some(t) => name = Some(t),
                    None => self.error(
                        Code::InvalidStructure,
                        value.loc,
                        &p,
                        format!(
                            "a rule name is a single value, found {}",
                            value.kind.describe()
                        ),
                    ),
                },
                "expressions" => exprs = self.expressions(phase, value, p),
                "actions" => actions_node = Some((value, p)),
                other => self.error(
                    Code::InvalidStructure,
                    key.loc,
                    &p,
                    format!(
                        "unknown field `{other}` in a rule; expected name, expressions, actions"
                    ),
                ),
            }
        }
        match actions_node {
            Some((value, p)) => actions = self.actions(phase, value, p),
            None => self.error(
                Code::NoActions,
                node.loc,
                &path,
                "a rule must have `actions` with at least one action",
            ),
        }
        (self.error_count() == before).then_some(Rule {
            name,
            exprs,
            actions,
            loc: node.loc,
        })
    }

    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    fn expressions(&mut self, phase: Phase, node: &Node, path: Vec<PathSeg>) -> Vec<Expr> {
        let items = match &node.kind {
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Null => return Vec::new(),
            other => {
                self.error(
                    Code::InvalidStructure,
                    node.loc,
                    &path,
                    format!(
                        "expected a list of CEL expressions, found {}: write each as a list item starting with `- `",
                        other.describe()
                    ),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let mut p = path.clone();
            p.push(PathSeg::Index(i));
            let Some(text) = item.as_str() else {
                self.error(
                    Code::InvalidExpression,
                    item.loc,
                    &p,
                    format!("an expression is a string, found {}", item.kind.describe()),
                );
                continue;
            };
            match Expr::compile(text) {
                Ok(e) => {
                    if let Some(problem) = unavailable(phase, e.needs()) {
                        self.error(Code::UnknownReference, item.loc, &p, problem);
                        continue;
                    }
                    self.needs[phase.index()].merge(e.needs());
                    self.interpreted[phase.index()].merge(e.interpreted_needs());
                    out.push(e);
                }
                Err(e) => {
                    self.error(Code::of_compile(&e.kind), item.loc, &p, e.message);
                }
            }
        }
        out
    }
}

/// Variables that do not exist yet in `phase`: `req` before a request, `res` before a response.
fn unavailable(phase: Phase, needs: Needs) -> Option<String> {
    match phase {
        Phase::TcpConnect if !needs.req.is_empty() || !needs.res.is_empty() => Some(
            "`req` and `res` do not exist in on_tcp_connect (no HTTP request has been read yet); use `conn.*`"
                .into(),
        ),
        Phase::HttpRequest if !needs.res.is_empty() => Some(
            "`res` does not exist in on_http_request (the upstream has not answered yet); move this to on_http_response"
                .into(),
        ),
        _ => None,
    }
}
