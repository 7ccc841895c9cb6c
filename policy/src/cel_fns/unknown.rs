//! Load-time detection of calls to functions the environment doesn't know.

use std::collections::BTreeSet;

use cel::Program;
use cel::common::ast::{EntryExpr, Expr, IdedExpr};

use crate::cel_fns::names::{function_names, is_known_function};

/// The calls of `program` to functions the environment doesn't know, sorted
/// and deduplicated.
///
/// Use this rather than matching `Program::references().functions()`
/// against [`function_names`]: the parser keeps `hash.sha256(x)` as a call
/// of `sha256` on a variable `hash`, and only the interpreter joins the two.
/// This walk resolves such calls the same way, and reports unknown ones by
/// their full name.
pub fn unknown_functions(program: &Program) -> Vec<String> {
    let mut unknown = BTreeSet::new();
    visit(program.expression(), &mut unknown);
    unknown.into_iter().collect()
}

/// Whether `name` is the namespace of a known function, as `hash` is.
fn is_namespace(name: &str) -> bool {
    function_names()
        .iter()
        .any(|known| known.split_once('.').is_some_and(|(ns, _)| ns == name))
}

/// The segments of the qualified name `expr` spells (`a.b.c`), if it does.
fn qualified_name<'a>(expr: &'a Expr, out: &mut Vec<&'a str>) -> bool {
    match expr {
        Expr::Ident(name) => {
            out.push(name.trim_start_matches('.'));
            true
        }
        Expr::Select(select) if !select.test => {
            let ok = qualified_name(&select.operand.expr, out);
            out.push(&select.field);
            ok
        }
        _ => false,
    }
}

fn visit(expr: &IdedExpr, unknown: &mut BTreeSet<String>) {
    match &expr.expr {
        Expr::Call(call) => {
            let mut namespace = Vec::new();
            let qualified = call
                .target
                .as_ref()
                .filter(|target| qualified_name(&target.expr, &mut namespace))
                .map(|_| format!("{}.{}", namespace.join("."), call.func_name));
            match qualified {
                // `hash.sha256(x)`: a namespaced call, not a method of a variable.
                Some(name) if is_known_function(&name) => {}
                Some(name) if namespace.first().is_some_and(|ns| is_namespace(ns)) => {
                    unknown.insert(name);
                }
                _ => {
                    if !is_known_function(&call.func_name) {
                        unknown.insert(call.func_name.clone());
                    }
                    if let Some(target) = &call.target {
                        visit(target, unknown);
                    }
                }
            }
            call.args.iter().for_each(|arg| visit(arg, unknown));
        }
        Expr::Comprehension(comp) => {
            for part in [
                &comp.iter_range,
                &comp.accu_init,
                &comp.loop_cond,
                &comp.loop_step,
                &comp.result,
            ] {
                visit(part, unknown);
            }
        }
        Expr::List(list) => list.elements.iter().for_each(|e| visit(e, unknown)),
        Expr::Map(map) => map
            .entries
            .iter()
            .for_each(|e| visit_entry(&e.expr, unknown)),
        Expr::Struct(st) => st
            .entries
            .iter()
            .for_each(|e| visit_entry(&e.expr, unknown)),
        Expr::Select(select) => visit(&select.operand, unknown),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn visit_entry(entry: &EntryExpr, unknown: &mut BTreeSet<String>) {
    match entry {
        EntryExpr::StructField(field) => visit(&field.value, unknown),
        EntryExpr::MapEntry(entry) => {
            visit(&entry.key, unknown);
            visit(&entry.value, unknown);
        }
    }
}
