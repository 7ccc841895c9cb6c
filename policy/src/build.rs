//! What an action factory sees while building: its config, its place in the document, and a
//! place to report every problem with its line and column.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::cel::{CompileErrorKind, Expr, Needs, Template};
use crate::counters::SharedCounters;
use crate::diag::{Code, Diagnostic};
use crate::ip_policy::IpPolicyNames;
use crate::phase::Phase;
use crate::source::{Loc, Node, NodeDeserializer, PathSeg};

/// Build context for one action.
pub struct BuildCx<'a> {
    file: &'a Arc<str>,
    phase: Phase,
    action_path: Vec<PathSeg>,
    action_loc: Loc,
    config: Option<&'a Node>,
    diagnostics: &'a mut Vec<Diagnostic>,
    failed: bool,
    needs: Needs,
    /// What the interpreter reads of `needs` when `fast` answer.
    interpreted: Needs,
    /// Its expressions with a fast form, worked out before the action runs.
    fast: Vec<Expr>,
    local_secrets: bool,
    ip_policies: IpPolicyNames,
    shared_counters: Option<SharedCounters>,
}

impl<'a> BuildCx<'a> {
    pub(crate) fn new(
        file: &'a Arc<str>,
        phase: Phase,
        action_path: Vec<PathSeg>,
        action_loc: Loc,
        config: Option<&'a Node>,
        diagnostics: &'a mut Vec<Diagnostic>,
    ) -> Self {
        BuildCx {
            file,
            phase,
            action_path,
            action_loc,
            config,
            diagnostics,
            failed: false,
            needs: Needs::default(),
            interpreted: Needs::default(),
            fast: Vec::new(),
            local_secrets: false,
            ip_policies: IpPolicyNames::Unavailable,
            shared_counters: None,
        }
    }

    pub(crate) fn set_local_secrets(&mut self, allowed: bool) {
        self.local_secrets = allowed;
    }

    pub(crate) fn set_ip_policies(&mut self, names: IpPolicyNames) {
        self.ip_policies = names;
    }

    pub(crate) fn set_shared_counters(&mut self, counters: Option<SharedCounters>) {
        self.shared_counters = counters;
    }

    /// The counters shared with other edges, when the edge has them (`rate_limit.redis`).
    pub fn shared_counters(&self) -> Option<&SharedCounters> {
        self.shared_counters.as_ref()
    }

    /// Where the action sits in its document, e.g. `on_http_request[0].actions[1]`.
    pub fn action_path(&self) -> String {
        PathSeg::render(&self.action_path)
    }

    /// What named IP policies (`restrict-ips`' `ip_policies`) resolve against here.
    pub fn ip_policies(&self) -> &IpPolicyNames {
        &self.ip_policies
    }

    /// Whether the action may read secrets from this machine's environment or files (see
    /// [`crate::LoadOptions::local_secrets`]).
    pub fn local_secrets(&self) -> bool {
        self.local_secrets
    }

    /// The phase the action is being built for.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What the templates and expressions compiled so far read.
    pub(crate) fn needs(&self) -> Needs {
        self.needs
    }

    /// What the interpreter reads when the fast expressions answer.
    pub(crate) fn interpreted_needs(&self) -> Needs {
        self.interpreted
    }

    /// The expressions with a fast form, for the engine to work out before the action runs.
    pub(crate) fn take_fast_exprs(&mut self) -> Vec<Expr> {
        std::mem::take(&mut self.fast)
    }

    /// Whether any error was reported.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The raw config node, for actions that read free-form values.
    pub fn config_node(&self) -> Option<&'a Node> {
        self.config
    }

    /// Decodes the config into its typed form.
    pub fn config<T: DeserializeOwned + Default>(&mut self, optional: bool) -> Option<T> {
        let Some(node) = self.config else {
            if optional {
                return Some(T::default());
            }
            let path = self.action_path.clone();
            self.push(
                Code::InvalidConfig,
                self.action_loc,
                &path,
                "missing `config`: this action needs one".into(),
            );
            return None;
        };
        match NodeDeserializer::deserialize::<T>(node) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut path = self.config_path();
                path.extend(e.path);
                let loc = e.loc.unwrap_or(node.loc);
                self.push(Code::InvalidConfig, loc, &path, e.message);
                None
            }
        }
    }

    /// Reports an error about the config value at `rel` (a path such as `capacity`,
    /// `credentials[2]` or `headers.x-api-key`).
    pub fn error_at(&mut self, code: Code, rel: &str, message: impl Into<String>) {
        let (path, loc) = self.locate(rel);
        self.push(code, loc, &path, message.into());
    }

    /// Reports a warning about the config value at `rel`.
    pub fn warn_at(&mut self, code: Code, rel: &str, message: impl Into<String>) {
        let (path, loc) = self.locate(rel);
        self.diagnostics
            .push(Diagnostic::warning(code, self.file, loc, &path, message));
    }

    /// Counts what a compiled expression reads, and keeps it for the fast path if it can.
    fn register(&mut self, e: &Expr) {
        self.needs.merge(e.needs());
        if e.has_fast_form() {
            self.fast.push(e.clone());
        } else {
            self.interpreted.merge(e.needs());
        }
    }

    /// Compiles a `${…}` template written at `rel`.
    pub fn template(&mut self, rel: &str, text: &str) -> Option<Template> {
        match Template::compile(text) {
            Ok(t) => {
                for e in t.exprs() {
                    self.register(e);
                }
                Some(t)
            }
            Err(e) => {
                let code = match e.cel.as_ref().map(|c| &c.kind) {
                    None | Some(CompileErrorKind::Syntax) => Code::InvalidTemplate,
                    Some(kind) => Code::of_compile(kind),
                };
                self.error_at(code, rel, e.message);
                None
            }
        }
    }

    /// Compiles a CEL expression written at `rel`.
    pub fn expr(&mut self, rel: &str, text: &str) -> Option<Expr> {
        self.expr_with(rel, text, &[])
    }

    /// Compiles a CEL expression written at `rel` that may also name the variables in `extra`.
    pub fn expr_with(&mut self, rel: &str, text: &str, extra: &[&str]) -> Option<Expr> {
        match Expr::compile_with(text, extra) {
            Ok(e) => {
                self.register(&e);
                Some(e)
            }
            Err(e) => {
                self.error_at(Code::of_compile(&e.kind), rel, e.message);
                None
            }
        }
    }

    /// Compiles a regular expression written at `rel`.
    pub fn regex(&mut self, rel: &str, pattern: &str) -> Option<regex::Regex> {
        match regex::Regex::new(pattern) {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().to_string();
                self.error_at(
                    Code::InvalidRegex,
                    rel,
                    format!("invalid regular expression {pattern:?}: {first}"),
                );
                None
            }
        }
    }

    fn config_path(&self) -> Vec<PathSeg> {
        let mut path = self.action_path.clone();
        path.push(PathSeg::Key("config".into()));
        path
    }

    fn locate(&self, rel: &str) -> (Vec<PathSeg>, Loc) {
        let rel_path = parse_rel(rel);
        let mut path = self.config_path();
        path.extend(rel_path.iter().cloned());
        let loc = self
            .config
            .map(|n| {
                // The deepest node that exists along the path.
                let mut loc = n.loc;
                for depth in 0..=rel_path.len() {
                    if let Some(found) = n.at(&rel_path[..depth]) {
                        loc = found.loc;
                    }
                }
                loc
            })
            .unwrap_or(self.action_loc);
        (path, loc)
    }

    fn push(&mut self, code: Code, loc: Loc, path: &[PathSeg], message: String) {
        self.failed = true;
        self.diagnostics
            .push(Diagnostic::error(code, self.file, loc, path, message));
    }
}

/// Parses `a.b[2].c` into path segments.
fn parse_rel(rel: &str) -> Vec<PathSeg> {
    let mut out = Vec::new();
    for part in rel.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            let key = &rest[..i];
            if !key.is_empty() {
                out.push(PathSeg::Key(key.to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else {
                    break;
                };
                if let Ok(n) = stripped[..close].parse() {
                    out.push(PathSeg::Index(n));
                }
                rest = &stripped[close + 1..];
            }
        } else {
            out.push(PathSeg::Key(rest.to_string()));
        }
    }
    out
}
