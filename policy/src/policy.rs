//! A loaded policy: compiled rules per phase, ready to run.

use std::sync::Arc;

use crate::action::{Action, Termination};
use crate::cel::{Expr, Needs};
use crate::diag::{Diagnostic, PolicyError};
use crate::phase::Phase;
use crate::source::{Loc, PathSeg};

/// A validated, compiled policy. Cheap to share (`Arc`) between connections.
pub struct Policy {
    /// The file it was loaded from, for diagnostics found later (see [`Policy::prepare`]).
    file: Arc<str>,
    /// Shared so that a streaming phase (`on_event_stream_message`) can outlive the call
    /// that started it.
    phases: [Arc<Vec<Rule>>; 4],
    warnings: Vec<Diagnostic>,
    /// What each phase reads, by [`Phase::index`].
    needs: [Needs; 4],
    /// What the interpreter reads in each phase when the fast expressions answer.
    interpreted: [Needs; 4],
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field(
                "rules",
                &self.phases.iter().map(|p| p.len()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// One rule.
pub struct Rule {
    /// Its `name`, if given.
    pub name: Option<String>,
    /// Its expressions (all must hold; none means always).
    pub exprs: Vec<Expr>,
    /// Its actions, in order.
    pub actions: Vec<PolicyAction>,
    /// Where it starts in the file.
    pub loc: Loc,
}

/// One built action in a rule.
pub struct PolicyAction {
    /// The action's `type`.
    pub type_name: &'static str,
    /// What it does.
    pub about: &'static str,
    /// How it ends the phase.
    pub termination: Termination,
    /// The built action.
    pub action: Arc<dyn Action>,
    /// Where it is written.
    pub loc: Loc,
    /// Its JSON path, e.g. `on_http_request[0].actions[1]`.
    pub path: Vec<PathSeg>,
    /// What its templates and expressions read: `req`/`res` are bound before it runs only
    /// when it reads them.
    pub needs: Needs,
    /// What the interpreter reads of them when `fast_exprs` all answer.
    pub interpreted_needs: Needs,
    /// Its expressions with a fast form, worked out before it runs (see
    /// `phase_scope::bind_for_action`).
    pub fast_exprs: Vec<Expr>,
}

impl Policy {
    pub(crate) fn new(
        file: Arc<str>,
        phases: [Vec<Rule>; 4],
        warnings: Vec<Diagnostic>,
        needs: [Needs; 4],
        interpreted: [Needs; 4],
    ) -> Self {
        Policy {
            file,
            phases: phases.map(Arc::new),
            warnings,
            needs,
            interpreted,
        }
    }

    /// The request/response fields its expressions and templates read, in any phase.
    pub fn needs(&self) -> Needs {
        let mut all = Needs::default();
        for n in self.needs {
            all.merge(n);
        }
        all
    }

    /// What the expressions and templates of one phase read.
    pub fn needs_in(&self, phase: Phase) -> Needs {
        self.needs[phase.index()]
    }

    /// What the interpreter reads in one phase when every fast expression answers: what an
    /// HTTP phase binds for its first interpreted reader.
    pub(crate) fn interpreted_in(&self, phase: Phase) -> Needs {
        self.interpreted[phase.index()]
    }

    /// An empty policy: lets all traffic through.
    pub fn empty() -> Self {
        Policy::new(
            Arc::from(""),
            Default::default(),
            Vec::new(),
            Default::default(),
            Default::default(),
        )
    }

    /// Prepares every action (see [`Action::prepare`]), in document order: the errors of
    /// those that cannot serve, each at its action's line and column. An edge calls this
    /// before a policy serves traffic.
    pub async fn prepare(&self) -> Result<(), PolicyError> {
        let mut diagnostics = Vec::new();
        for action in self
            .phases
            .iter()
            .flat_map(|p| p.iter())
            .flat_map(|r| &r.actions)
        {
            if let Err(e) = action.action.prepare().await {
                let mut path = action.path.clone();
                path.push(PathSeg::Key("config".into()));
                if !e.key.is_empty() {
                    path.push(PathSeg::Key(e.key.clone()));
                }
                diagnostics.push(Diagnostic::error(
                    e.code,
                    &self.file,
                    action.loc,
                    &path,
                    format!("{}: {}", action.type_name, e.message),
                ));
            }
        }
        if diagnostics.is_empty() {
            Ok(())
        } else {
            Err(PolicyError { diagnostics })
        }
    }

    /// The rules of a phase, in order.
    pub fn rules(&self, phase: Phase) -> &[Rule] {
        &self.phases[phase.index()]
    }

    /// Warnings found while loading (e.g. legacy phase names).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Whether the policy has no rules at all.
    pub fn is_empty(&self) -> bool {
        self.phases.iter().all(|p| p.is_empty())
    }

    /// The rules of a phase, shared (for a phase that runs while a body streams).
    pub(crate) fn shared_rules(&self, phase: Phase) -> Arc<Vec<Rule>> {
        self.phases[phase.index()].clone()
    }
}
