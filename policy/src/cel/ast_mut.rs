//! Rewriting a compiled CEL AST in place. cel 0.15 has no evaluation hooks, but its AST is
//! public and `Value::resolve` evaluates any AST, so the policy environment changes the
//! compiled tree once at load (string-with-fields names in [`super::subfields`], iteration
//! counting in [`super::cost::meter`]) rather than the source text or the interpreter.

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Ast};

/// Calls `f` on each direct child of `e`, in source order (a comprehension's range, initial
/// accumulator, condition, step and result, in that order).
pub(crate) fn for_each_child_mut(e: &mut IdedExpr, f: &mut dyn FnMut(&mut IdedExpr)) {
    match &mut e.expr {
        Ast::Unspecified | Ast::Literal(_) | Ast::Ident(_) => {}
        Ast::Select(s) => f(&mut s.operand),
        Ast::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                f(t);
            }
            for a in &mut c.args {
                f(a);
            }
        }
        Ast::List(l) => {
            for x in &mut l.elements {
                f(x);
            }
        }
        Ast::Map(m) => {
            for entry in &mut m.entries {
                if let EntryExpr::MapEntry(me) = &mut entry.expr {
                    f(&mut me.key);
                    f(&mut me.value);
                }
            }
        }
        Ast::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(field) = &mut entry.expr {
                    f(&mut field.value);
                }
            }
        }
        Ast::Comprehension(c) => {
            f(&mut c.iter_range);
            f(&mut c.accu_init);
            f(&mut c.loop_cond);
            f(&mut c.loop_step);
            f(&mut c.result);
        }
    }
}
