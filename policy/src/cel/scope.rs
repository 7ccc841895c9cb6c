//! The variables one evaluation sees, lent to the interpreter without copying.

use std::sync::Arc;

use cel::Value;
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;

use super::cost::meter::Budget;

/// The top-level variables of the policy environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeVar {
    /// `conn.*`
    Conn,
    /// `req.*`
    Req,
    /// `res.*`
    Res,
    /// `endpoint.*`
    Endpoint,
    /// `time.*`
    Time,
    /// `vars.*`
    Vars,
    /// `actions.*`
    Actions,
}

impl ScopeVar {
    fn index(self) -> usize {
        self as usize
    }

    fn from_name(name: &str) -> Option<ScopeVar> {
        Some(match name {
            "conn" => ScopeVar::Conn,
            "req" => ScopeVar::Req,
            "res" => ScopeVar::Res,
            "endpoint" => ScopeVar::Endpoint,
            "time" => ScopeVar::Time,
            "vars" => ScopeVar::Vars,
            "actions" => ScopeVar::Actions,
            _ => return None,
        })
    }
}

/// Values for the variables of one phase evaluation. Each variable is converted to the
/// interpreter's representation once when set, then borrowed by every expression that runs.
#[derive(Default)]
pub struct Scope {
    slots: [Option<Arc<dyn Val>>; 7],
    /// Extra variables some action expressions get (e.g. `attempts` in a retry condition).
    extra: Vec<(String, Arc<dyn Val>)>,
    /// What is left of this phase's evaluation budget.
    budget: Budget,
    /// Values of an action's expressions that the fast path worked out before it ran, by
    /// [`crate::cel::Expr`] id: the action then needs no `req` built for them.
    pre: Vec<(usize, Value)>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl Scope {
    /// An empty scope.
    pub fn new() -> Self {
        Scope::default()
    }

    /// Sets a variable.
    pub fn set(&mut self, var: ScopeVar, value: Value) {
        self.slots[var.index()] = Box::<dyn Val>::try_from(value).ok().map(Arc::from);
    }

    /// Sets a variable to a value already in the interpreter's representation.
    pub fn set_val(&mut self, var: ScopeVar, value: Box<dyn Val>) {
        self.slots[var.index()] = Some(Arc::from(value));
    }

    /// Sets a variable to a value shared with other scopes (e.g. a connection's `conn`,
    /// built once and lent to every request on it).
    pub fn set_shared(&mut self, var: ScopeVar, value: Arc<dyn Val>) {
        self.slots[var.index()] = Some(value);
    }

    /// A copy of this scope with an extra variable, for expressions compiled with
    /// [`crate::cel::Expr::compile_with`].
    pub fn with_extra(&self, name: &str, value: Value) -> Scope {
        let mut extra = self.extra.clone();
        if let Some(v) = Box::<dyn Val>::try_from(value).ok().map(Arc::from) {
            extra.retain(|(n, _)| n != name);
            extra.push((name.to_string(), v));
        }
        Scope {
            slots: self.slots.clone(),
            extra,
            budget: self.budget.clone(),
            pre: self.pre.clone(),
        }
    }

    /// Records the value of expression `id` worked out ahead (see [`Scope::precomputed`]).
    pub(crate) fn precompute(&mut self, id: usize, value: Value) {
        self.pre.push((id, value));
    }

    /// Forgets the values worked out ahead for the previous action.
    pub(crate) fn clear_precomputed(&mut self) {
        self.pre.clear();
    }

    /// The value of expression `id`, if it was worked out ahead.
    pub(crate) fn precomputed(&self, id: usize) -> Option<&Value> {
        self.pre.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    /// The shared value of a variable, to lend to a later scope.
    pub fn shared(&self, var: ScopeVar) -> Option<Arc<dyn Val>> {
        self.slots[var.index()].clone()
    }

    /// Removes a variable (expressions naming it then fail to evaluate).
    pub fn clear(&mut self, var: ScopeVar) {
        self.slots[var.index()] = None;
    }

    /// The evaluation budget of the phase this scope serves.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Whether a variable is set.
    pub fn has(&self, var: ScopeVar) -> bool {
        self.slots[var.index()].is_some()
    }
}

impl VariableResolver for Scope {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let Some(var) = ScopeVar::from_name(variable) else {
            return self
                .extra
                .iter()
                .find(|(n, _)| n == variable)
                .map(|(_, v)| CowVal::Borrowed(&**v));
        };
        self.slots[var.index()].as_deref().map(CowVal::Borrowed)
    }
}

/// Converts a value once into the shared form [`Scope::set_shared`] takes.
pub fn shared(value: Value) -> Option<Arc<dyn Val>> {
    Box::<dyn Val>::try_from(value).ok().map(Arc::from)
}
