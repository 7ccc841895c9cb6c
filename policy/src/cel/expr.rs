//! A compiled CEL expression, checked for unknown names at load time.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr as Ast};
use cel::{Context, IdedExpr, Program, Value};

use super::env::{KNOWN_VARIABLES, policy_env};
use super::lexer::rewrite_subfields;
use super::scope::Scope;

/// An expression compiled once at load and evaluated per request.
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    program: Arc<Program>,
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
}

impl Expr {
    /// Compiles `src`, rejecting unknown variables and functions.
    pub fn compile(src: &str) -> Result<Expr, CompileError> {
        let rewritten = rewrite_subfields(src);
        let program = policy_env().compile(&rewritten).map_err(|e| CompileError {
            kind: CompileErrorKind::Syntax,
            message: syntax_message(&e.to_string()),
        })?;
        check_names(program.expression())?;
        if let Some(name) = crate::cel_fns::unknown_functions(&program)
            .into_iter()
            .next()
        {
            return Err(CompileError {
                kind: CompileErrorKind::UnknownFunction,
                message: format!("unknown function `{name}`"),
            });
        }
        Ok(Expr {
            source: Arc::from(src),
            program: Arc::new(program),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the expression.
    pub fn eval(&self, scope: &Scope) -> Result<Value, EvalError> {
        let mut ctx = Context::with_env(policy_env());
        ctx.set_variable_resolver(scope);
        self.program.execute(&ctx).map_err(|e| EvalError {
            message: format!("`{}`: {e}", self.source),
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
/// every function must exist.
fn check_names(root: &IdedExpr) -> Result<(), CompileError> {
    let mut bound: Vec<String> = Vec::new();
    let mut unknown_vars: HashSet<String> = HashSet::new();
    let mut unknown_fns: HashSet<String> = HashSet::new();
    walk(root, &mut bound, &mut unknown_vars, &mut unknown_fns);
    if let Some(name) = sorted(unknown_vars).into_iter().next() {
        return Err(CompileError {
            kind: CompileErrorKind::UnknownVariable,
            message: format!(
                "unknown variable `{name}`; variables are {}",
                KNOWN_VARIABLES.join(", ")
            ),
        });
    }
    if let Some(name) = sorted(unknown_fns).into_iter().next() {
        return Err(CompileError {
            kind: CompileErrorKind::UnknownFunction,
            message: format!("unknown function `{name}`"),
        });
    }
    Ok(())
}

fn sorted(set: HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().collect();
    v.sort();
    v
}

/// The dotted name an expression spells (`a.b.c`), if it is one.
fn qualified_name(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Ast::Ident(n) => Some(n.clone()),
        Ast::Select(s) if !s.test => Some(format!("{}.{}", qualified_name(&s.operand)?, s.field)),
        _ => None,
    }
}

fn walk(
    e: &IdedExpr,
    bound: &mut Vec<String>,
    vars: &mut HashSet<String>,
    fns: &mut HashSet<String>,
) {
    match &e.expr {
        Ast::Unspecified | Ast::Literal(_) => {}
        Ast::Ident(name) => {
            // `.req` (leading dot) is how the request helpers name the root variable.
            let name = &name.trim_start_matches('.').to_string();
            if !name.starts_with('@')
                && !KNOWN_VARIABLES.contains(&name.as_str())
                && !bound.iter().any(|b| b == name)
            {
                vars.insert(name.clone());
            }
        }
        Ast::Call(call) => {
            // A call on a namespace (`hash.sha256(x)`) parses as a call on an identifier that
            // is not a variable: skip such targets; `unknown_functions` checks the name.
            if let Some(target) = &call.target {
                let namespace = qualified_name(target).is_some_and(|q| {
                    let root = q
                        .trim_start_matches('.')
                        .split('.')
                        .next()
                        .unwrap_or_default();
                    !KNOWN_VARIABLES.contains(&root) && !bound.iter().any(|b| b == root)
                });
                if !namespace {
                    walk(target, bound, vars, fns);
                }
            }
            for a in &call.args {
                walk(a, bound, vars, fns);
            }
        }
        Ast::Comprehension(c) => {
            walk(&c.iter_range, bound, vars, fns);
            walk(&c.accu_init, bound, vars, fns);
            let pushed = 2 + usize::from(c.iter_var2.is_some());
            bound.push(c.iter_var.clone());
            bound.push(c.accu_var.clone());
            if let Some(v2) = &c.iter_var2 {
                bound.push(v2.clone());
            }
            walk(&c.loop_cond, bound, vars, fns);
            walk(&c.loop_step, bound, vars, fns);
            walk(&c.result, bound, vars, fns);
            bound.truncate(bound.len() - pushed);
        }
        Ast::List(l) => {
            for x in &l.elements {
                walk(x, bound, vars, fns);
            }
        }
        Ast::Map(m) => {
            for entry in &m.entries {
                walk_entry(&entry.expr, bound, vars, fns);
            }
        }
        Ast::Struct(s) => {
            for entry in &s.entries {
                walk_entry(&entry.expr, bound, vars, fns);
            }
        }
        Ast::Select(s) => walk(&s.operand, bound, vars, fns),
    }
}

fn walk_entry(
    e: &EntryExpr,
    bound: &mut Vec<String>,
    vars: &mut HashSet<String>,
    fns: &mut HashSet<String>,
) {
    match e {
        EntryExpr::StructField(f) => walk(&f.value, bound, vars, fns),
        EntryExpr::MapEntry(m) => {
            walk(&m.key, bound, vars, fns);
            walk(&m.value, bound, vars, fns);
        }
    }
}
