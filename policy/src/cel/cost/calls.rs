//! What calling one function costs, beyond its arguments, and the size of its result: the
//! per-function table of the cost estimator ([`super::estimate`]).

use cel::IdedExpr;
use cel::common::ast::{Expr as Ast, LiteralValue};

use super::limits::{HEADER_COUNT, PARAM_COUNT, REQUEST_HEAD_BYTES};
use super::size::Size;

/// Per 10 bytes or elements scanned, as cel-go's string traversal factor.
fn scan(len: u64) -> u64 {
    len.div_ceil(10)
}

/// A list of up to `count` values read from one request or response head: together no longer
/// than the head.
fn values_of_one_head(count: u64) -> Size {
    Size::with_totals(&[count, REQUEST_HEAD_BYTES], &[count, REQUEST_HEAD_BYTES])
}

/// The extra cost of calling `name` on inputs of sizes `inputs` (target first), and the size
/// of its result.
pub(super) fn call_cost(
    name: &str,
    target: Option<&IdedExpr>,
    args: &[IdedExpr],
    inputs: &[&Size],
) -> (u64, Size) {
    let len = |i: usize| inputs.get(i).map_or(1, |s| s.len());
    let total: u64 = inputs.iter().fold(0u64, |a, s| a.saturating_add(s.len()));
    let widest = inputs.iter().fold(Size::scalar(), |acc, s| acc.max(s));
    match name {
        // Operators that never scan.
        "_&&_"
        | "_||_"
        | "!_"
        | "-_"
        | "_-_"
        | "_*_"
        | "_/_"
        | "_%_"
        | "@not_strictly_false"
        | "size"
        | "int"
        | "uint"
        | "double"
        | "bool"
        | "type"
        | "dyn"
        | "has" => (0, Size::scalar()),
        "_?_:_" => (
            0,
            inputs
                .get(1..)
                .unwrap_or_default()
                .iter()
                .fold(Size::scalar(), |acc, s| acc.max(s)),
        ),
        "_[_]" | "_[?_]" => (0, inputs.first().map_or_else(Size::unknown, |s| s.inner())),
        "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" => {
            (scan(len(0).min(len(1))), Size::scalar())
        }
        "_+_" => {
            let size = match inputs {
                [a, b] => a.concat(b),
                _ => widest,
            };
            (scan(size.len()), size)
        }
        // `x in list` compares against every element; a map lookup is one probe.
        "@in" => (len(1), Size::scalar()),
        "startsWith" | "endsWith" => (scan(len(1)), Size::scalar()),
        // The parts together are no longer than the string.
        "split" => {
            let n = len(0).saturating_add(1);
            (scan(total), Size::with_totals(&[n, len(0)], &[n, len(0)]))
        }
        // Joined values of one request are no longer than its head, plus the separators.
        "join" => {
            let list = inputs.first().map_or_else(Size::unknown, |s| (*s).clone());
            let separators = list.len().saturating_mul(len(1));
            let out = list
                .len()
                .saturating_mul(list.inner().len())
                .min(REQUEST_HEAD_BYTES)
                .saturating_add(separators);
            (scan(out), Size::of(&[out]))
        }
        // ngrok's request helpers: lists of header values, query parameters or cookies.
        "getReqHeader" | "getResHeader" => (0, values_of_one_head(HEADER_COUNT)),
        "getQueryParam" | "getReqCookie" | "getResCookie" => (0, values_of_one_head(PARAM_COUNT)),
        "replace" => {
            let out = len(0).saturating_mul(len(2).max(1));
            (scan(len(0).saturating_add(out)), Size::of(&[out]))
        }
        // `lists.range(n)` makes n elements; n is known when written as a literal.
        "range" if target.is_some_and(|t| matches!(&t.expr, Ast::Ident(n) if n == "lists")) => {
            let n = match args.first().map(|a| &a.expr) {
                Some(Ast::Literal(LiteralValue::Int(n))) => u64::try_from(*n.inner()).unwrap_or(0),
                Some(Ast::Literal(LiteralValue::UInt(n))) => *n.inner(),
                _ => REQUEST_HEAD_BYTES,
            };
            (n, Size::of(&[n, 1]))
        }
        "flatten" => {
            let l = inputs.first().map_or_else(Size::unknown, |s| (*s).clone());
            let n = l.len().saturating_mul(l.inner().len());
            (n, Size::collection(n, &l.inner().inner()))
        }
        "sort" | "@sortByAssociatedKeys" | "distinct" => {
            let n = len(0);
            (n.saturating_mul(64 - n.leading_zeros() as u64 + 1), widest)
        }
        _ => (scan(total), widest),
    }
}
