//! A compiled CEL expression, checked for unknown names at load time.

use std::fmt;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr as Ast};
use cel::{Context, IdedExpr, Value};

use super::cost::estimate::estimate_cost;
use super::cost::limits::STATIC_COST_LIMIT;
use super::cost::meter::{self, Exhausted};
use super::env::{KNOWN_VARIABLES, policy_env};
use super::needs::{Needs, fields_of, helper_field, suggestion};
use super::scope::Scope;
use super::subfields::rewrite_subfields;

/// An expression compiled once at load and evaluated per request.
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    /// The compiled AST, its comprehensions rewritten to count iterations (see `cost::meter`).
    ast: Arc<IdedExpr>,
    /// Whether it has a comprehension, so runs against the phase's budget.
    metered: bool,
    /// Worst-case cost estimate.
    cost: u64,
    needs: Needs,
    /// Its fast form, for the shapes `cel::fast` knows.
    fast: Option<Arc<super::fast::Form>>,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expr").field(&self.source).finish()
    }
}

/// Why an expression did not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileErrorKind {
    /// The text is not CEL.
    Syntax,
    /// It names a variable that does not exist.
    UnknownVariable,
    /// It calls a function that does not exist.
    UnknownFunction,
    /// Its worst-case cost estimate is over [`STATIC_COST_LIMIT`].
    TooExpensive,
}

/// A compile error with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// What kind of problem.
    pub kind: CompileErrorKind,
    /// Human text.
    pub message: String,
}

/// An expression failed while running (a missing key, a type mismatch…).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// Human text naming the expression and the failure.
    pub message: String,
    /// Set when the phase's evaluation budget stopped it: the request must be aborted, not
    /// treated as a rule that does not match.
    pub exhausted: Option<Exhausted>,
}

impl Expr {
    /// Compiles `src`, rejecting unknown variables and functions.
    pub fn compile(src: &str) -> Result<Expr, CompileError> {
        Expr::compile_with(src, &[])
    }

    /// Compiles `src` for a context that also has the variables in `extra` (bound at run time
    /// with [`Scope::with_extra`]).
    pub fn compile_with(src: &str, extra: &[&str]) -> Result<Expr, CompileError> {
        let program = policy_env().compile(src).map_err(|e| CompileError {
            kind: CompileErrorKind::Syntax,
            message: syntax_message(&e.to_string()),
        })?;
        let mut ast = program.expression().clone();
        rewrite_subfields(&mut ast);
        let needs = analyze(&ast, extra)?;
        if let Some(name) = crate::cel_fns::unknown_functions(&program)
            .into_iter()
            .next()
        {
            return Err(CompileError {
                kind: CompileErrorKind::UnknownFunction,
                message: format!("unknown function `{name}`"),
            });
        }
        let cost = estimate_cost(&ast);
        if cost > STATIC_COST_LIMIT {
            return Err(CompileError {
                kind: CompileErrorKind::TooExpensive,
                message: format!(
                    "expression too expensive: its estimated worst-case cost is {cost}, over the limit of {STATIC_COST_LIMIT}; \
                     iterate over fewer or smaller lists, do not nest comprehensions (exists, all, map, filter) over request data, \
                     or split the check across rules"
                ),
            });
        }
        let fast = super::fast::compile(&ast).map(Arc::new);
        let metered = meter::instrument(&mut ast);
        Ok(Expr {
            source: Arc::from(src),
            ast: Arc::new(ast),
            metered,
            cost,
            needs,
            fast,
        })
    }

    /// The request/response fields it reads.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// What the interpreter reads when the fast path answers: nothing for an expression with
    /// a fast form (it reads the heads directly), else [`Expr::needs`].
    pub fn interpreted_needs(&self) -> Needs {
        if self.fast.is_some() && super::fast::enabled() {
            Needs::default()
        } else {
            self.needs
        }
    }

    /// The value of a boolean expression from the fast path, or `None` when the interpreter
    /// must answer (no fast form, the fast path is off, or it cannot be sure).
    pub(crate) fn eval_fast(&self, view: &super::fast::View<'_>) -> Option<bool> {
        if !super::fast::enabled() {
            return None;
        }
        match self.fast.as_deref()? {
            super::fast::Form::Bool(c) => c.eval(view),
            super::fast::Form::Text(_) => None,
        }
    }

    /// Whether it has a fast form the engine can evaluate ahead of an action (see
    /// [`Scope::precompute`]).
    pub(crate) fn has_fast_form(&self) -> bool {
        self.fast.is_some() && super::fast::enabled()
    }

    /// Its value from the fast path, or `None` when the interpreter must answer.
    pub(crate) fn eval_fast_value(&self, view: &super::fast::View<'_>) -> Option<Value> {
        if !super::fast::enabled() {
            return None;
        }
        self.fast.as_ref()?.eval(view)
    }

    /// Identifies this compiled expression (and its clones) in a scope's precomputed values.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.ast) as usize
    }

    /// Its fast form, if it has one (whether or not the fast path is on).
    #[cfg(test)]
    pub(crate) fn fast_form(&self) -> Option<&super::fast::Form> {
        self.fast.as_deref()
    }

    /// Its worst-case cost estimate (see README, CEL section).
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the expression.
    pub fn eval(&self, scope: &Scope) -> Result<Value, EvalError> {
        if let Some(v) = scope.precomputed(self.id()) {
            return Ok(v.clone());
        }
        let mut ctx = Context::with_env(policy_env());
        ctx.set_variable_resolver(scope);
        let result = if self.metered {
            meter::metered(scope.budget(), || Value::resolve(&self.ast, &ctx)).map_err(|why| {
                EvalError {
                    message: format!("`{}` stopped: {why}", self.source),
                    exhausted: Some(why),
                }
            })?
        } else {
            Value::resolve(&self.ast, &ctx)
        };
        result.map_err(|e| EvalError {
            message: format!("`{}`: {e}", self.source),
            exhausted: None,
        })
    }

    /// Runs the expression and requires a boolean.
    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, EvalError> {
        match self.eval(scope)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError {
                message: format!(
                    "`{}` must evaluate to a boolean, got {}",
                    self.source,
                    super::value::type_name(&other)
                ),
                exhausted: None,
            }),
        }
    }
}

fn syntax_message(raw: &str) -> String {
    // cel's messages start with "ERROR: <input>:L:C: ..." followed by a caret drawing; keep
    // the first line and our caller adds the policy location.
    let first = raw.lines().next().unwrap_or(raw);
    let trimmed = first
        .trim_start_matches("ERROR: ")
        .trim_start_matches("<input>:");
    format!("invalid expression: {trimmed}")
}

/// Walks the AST: every identifier must be a known variable or a comprehension variable, and
/// fields of `req`/`res`/`conn`/`endpoint`/`time` must exist. Returns what the expression reads.
fn analyze(root: &IdedExpr, extra: &[&str]) -> Result<Needs, CompileError> {
    let mut w = Walk {
        bound: extra.iter().map(|s| s.to_string()).collect(),
        ..Walk::default()
    };
    w.walk(root);
    if let Some(name) = w.unknown_vars.first() {
        return Err(CompileError {
            kind: CompileErrorKind::UnknownVariable,
            message: format!(
                "unknown variable `{name}`; variables are {}",
                KNOWN_VARIABLES.join(", ")
            ),
        });
    }
    if let Some(message) = w.bad_fields.first() {
        return Err(CompileError {
            kind: CompileErrorKind::UnknownVariable,
            message: message.clone(),
        });
    }
    Ok(w.needs)
}

#[derive(Default)]
struct Walk {
    bound: Vec<String>,
    unknown_vars: Vec<String>,
    bad_fields: Vec<String>,
    needs: Needs,
}

/// The dotted name an expression spells (`a.b.c`), if it is one.
fn qualified_name(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Ast::Ident(n) => Some(n.clone()),
        Ast::Select(s) if !s.test => Some(format!("{}.{}", qualified_name(&s.operand)?, s.field)),
        _ => None,
    }
}

impl Walk {
    fn is_bound(&self, name: &str) -> bool {
        self.bound.iter().any(|b| b == name)
    }

    /// A whole variable is read (e.g. `req` passed to a function): build all of it.
    fn whole(&mut self, var: &str) {
        match var {
            "req" => self.needs.req.add_all(),
            "res" => self.needs.res.add_all(),
            "time" => self.needs.time = true,
            "vars" => self.needs.vars = true,
            "actions" => self.needs.actions = true,
            _ => {}
        }
    }

    /// `var.field` is read.
    fn field(&mut self, var: &str, field: &str) {
        let Some(fields) = fields_of(var) else {
            self.whole(var);
            return;
        };
        let Some(index) = fields.iter().position(|f| *f == field) else {
            self.bad_fields.push(suggestion(var, field));
            return;
        };
        match var {
            "req" => self.needs.req.add(index),
            "res" => self.needs.res.add(index),
            "time" => self.needs.time = true,
            _ => {}
        }
    }

    /// A root variable named by an identifier, unless shadowed by a comprehension variable.
    fn root_var<'e>(&self, e: &'e IdedExpr) -> Option<&'e str> {
        match &e.expr {
            Ast::Ident(n) => {
                let n = n.trim_start_matches('.');
                (KNOWN_VARIABLES.contains(&n) && !self.is_bound(n)).then_some(n)
            }
            _ => None,
        }
    }

    /// The path a chain of field selections spells from a policy variable
    /// (`req.__url.path` → `["req", "__url", "path"]`), if it starts at one.
    fn var_path<'e>(&self, e: &'e IdedExpr, out: &mut Vec<&'e str>) -> bool {
        match &e.expr {
            Ast::Select(s) => {
                let ok = self.var_path(&s.operand, out);
                out.push(&s.field);
                ok
            }
            _ => match self.root_var(e) {
                Some(var) => {
                    out.push(var);
                    true
                }
                None => false,
            },
        }
    }

    /// Checks a selection two or more levels below a variable against its shape; records the
    /// error and returns false when a field does not exist.
    fn check_subfields(&mut self, e: &IdedExpr) -> bool {
        let mut path = Vec::new();
        if !self.var_path(e, &mut path) || path.len() < 3 {
            return true;
        }
        match super::fields::check_path(&path) {
            Ok(()) => true,
            Err(message) => {
                self.bad_fields.push(message);
                false
            }
        }
    }

    fn walk(&mut self, e: &IdedExpr) {
        match &e.expr {
            Ast::Unspecified | Ast::Literal(_) => {}
            Ast::Ident(name) => {
                // `.req` (leading dot) is how the request helpers name the root variable.
                let name = name.trim_start_matches('.');
                if name.starts_with('@') || self.is_bound(name) {
                    return;
                }
                if KNOWN_VARIABLES.contains(&name) {
                    self.whole(name);
                } else if !self.unknown_vars.iter().any(|v| v == name) {
                    self.unknown_vars.push(name.to_string());
                }
            }
            Ast::Select(sel) => match self.root_var(&sel.operand) {
                _ if !self.check_subfields(e) => {}
                Some(var) => {
                    let var = var.to_string();
                    self.field(&var, &sel.field);
                }
                None => self.walk(&sel.operand),
            },
            Ast::Call(call) => {
                let mut args = call.args.iter();
                if let Some((var, field)) = helper_field(&call.func_name)
                    && call.args.first().and_then(|a| self.root_var(a)) == Some(var)
                {
                    self.field(var, field);
                    args.next();
                }
                // A call on a namespace (`hash.sha256(x)`) parses as a call on an identifier
                // that is not a variable: skip it; `unknown_functions` checks the name.
                if let Some(target) = &call.target {
                    let namespace = qualified_name(target).is_some_and(|q| {
                        let root = q
                            .trim_start_matches('.')
                            .split('.')
                            .next()
                            .unwrap_or_default();
                        !KNOWN_VARIABLES.contains(&root) && !self.is_bound(root)
                    });
                    if !namespace {
                        self.walk(target);
                    }
                }
                for a in args {
                    self.walk(a);
                }
            }
            Ast::Comprehension(c) => {
                self.walk(&c.iter_range);
                self.walk(&c.accu_init);
                let pushed = 2 + usize::from(c.iter_var2.is_some());
                self.bound.push(c.iter_var.clone());
                self.bound.push(c.accu_var.clone());
                if let Some(v2) = &c.iter_var2 {
                    self.bound.push(v2.clone());
                }
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.bound.truncate(self.bound.len() - pushed);
            }
            Ast::List(l) => {
                for x in &l.elements {
                    self.walk(x);
                }
            }
            Ast::Map(m) => {
                for entry in &m.entries {
                    self.walk_entry(&entry.expr);
                }
            }
            Ast::Struct(st) => {
                for entry in &st.entries {
                    self.walk_entry(&entry.expr);
                }
            }
        }
    }

    fn walk_entry(&mut self, e: &EntryExpr) {
        match e {
            EntryExpr::StructField(f) => self.walk(&f.value),
            EntryExpr::MapEntry(m) => {
                self.walk(&m.key);
                self.walk(&m.value);
            }
        }
    }
}
