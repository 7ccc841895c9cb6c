//! A loaded policy: compiled rules per phase, ready to run.

use std::sync::Arc;

use crate::action::{Action, Termination};
use crate::cel::{Expr, Needs};
use crate::diag::Diagnostic;
use crate::phase::Phase;
use crate::source::Loc;

/// A validated, compiled policy. Cheap to share (`Arc`) between connections.
pub struct Policy {
    phases: [Vec<Rule>; 3],
    warnings: Vec<Diagnostic>,
    /// What each phase reads, by [`Phase::index`].
    needs: [Needs; 3],
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field(
                "rules",
                &self.phases.iter().map(Vec::len).collect::<Vec<_>>(),
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
}

impl Policy {
    pub(crate) fn new(
        phases: [Vec<Rule>; 3],
        warnings: Vec<Diagnostic>,
        needs: [Needs; 3],
    ) -> Self {
        Policy {
            phases,
            warnings,
            needs,
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

    /// An empty policy: lets all traffic through.
    pub fn empty() -> Self {
        Policy::new(Default::default(), Vec::new(), Default::default())
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
        self.phases.iter().all(Vec::is_empty)
    }
}
