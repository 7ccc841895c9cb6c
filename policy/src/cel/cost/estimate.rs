//! Worst-case cost of a compiled expression, worked out once at load, in the spirit of cel-go's
//! cost estimator (no crate offers one for the `cel` crate's AST, hence this walk).
//!
//! Every node costs 1. A function that scans a string or list costs one more unit per 10
//! bytes or elements of its inputs ([`super::calls`]); `in` on a list scans it whole. A
//! comprehension costs its range, plus the cost of one loop condition and step for each
//! element, so nesting multiplies. Sizes are tracked alongside ([`Size`]): literals have
//! theirs, values read from a request are bounded by the edge's input limits
//! ([`super::limits`]), and `split`, `+`, `map` and `filter` derive their result's bound from
//! their inputs'. Arithmetic saturates.
//!
//! Values read from one request head (header, query-parameter and cookie values and names,
//! the parts of a split string) also carry a bound on their *total* size: many values, or one
//! large value, but not both, since together they fit in the 1 MiB head. A loop over them is
//! bounded through that total ([`spread_bound`]): a regex over every value of a header costs
//! about one scan of the head, not the number of values times the largest value (which
//! refused ngrok's documented `getReqHeader('tier').exists(v, v.matches('(?i)bronze'))` at an
//! estimate of 3.4e9). Every step keeps the estimate an upper bound of the work an
//! evaluation can do on any request the edge accepts, which is what lets expressions without a
//! comprehension run unmetered and keeps a policy from stalling the edge with work the run-time
//! budget ([`super::meter`], which counts iterations, not bytes) would only stop late: a loop
//! nested in another over the same values still costs one head scan per outer element, and
//! is refused.

use cel::IdedExpr;
use cel::common::ast::{ComprehensionExpr, EntryExpr, Expr as Ast, LiteralValue};

use super::super::env::KNOWN_VARIABLES;
use super::calls::call_cost;
use super::limits::{EDGE_STRING_BYTES, HEADER_COUNT, PARAM_COUNT, REQUEST_HEAD_BYTES};
use super::size::{Size, spread_bound, spread_caps};

/// Cost and size of one sub-expression.
#[derive(Debug, Clone)]
struct Estimate {
    cost: u64,
    size: Size,
}

/// The worst-case cost of evaluating `root` once.
pub(crate) fn estimate_cost(root: &IdedExpr) -> u64 {
    Walker {
        bound: Vec::new(),
        spreading: 0,
    }
    .walk(root)
    .cost
}

struct Walker {
    /// Comprehension variables in scope, innermost last, with their size bounds.
    bound: Vec<(String, Size)>,
    /// How many enclosing comprehensions are being estimated with [`spread_bound`].
    spreading: usize,
}

/// Comprehensions nested deeper than this inside ones estimated with [`spread_bound`] are
/// estimated plainly (element count times the largest element): each level walks its body a
/// dozen times, so this keeps loading a policy fast. The plain estimate is also an upper bound.
const MAX_SPREAD_NESTING: usize = 3;

/// The loop step of a `map`/`filter` comprehension, which cel runs by appending to the
/// accumulator in place: `@result + [item]`, or `guard ? @result + [item] : @result`.
#[derive(Clone, Copy)]
struct AppendStep<'e> {
    guard: Option<&'e IdedExpr>,
    item: &'e IdedExpr,
}

fn is_ident(e: &IdedExpr, name: &str) -> bool {
    matches!(&e.expr, Ast::Ident(n) if n == name)
}

/// The append step of `c`, when cel's evaluator recognises it (the same shape as its
/// `AppendStep`: literal loop condition, result the accumulator, accumulator starting as `[]`).
fn append_step(c: &ComprehensionExpr) -> Option<AppendStep<'_>> {
    let accu = c.accu_var.as_str();
    let empty = matches!(&c.accu_init.expr, Ast::List(l) if l.elements.is_empty());
    if !empty || !is_ident(&c.result, accu) || !matches!(c.loop_cond.expr, Ast::Literal(_)) {
        return None;
    }
    fn appended<'e>(e: &'e IdedExpr, accu: &str) -> Option<&'e IdedExpr> {
        let Ast::Call(call) = &e.expr else {
            return None;
        };
        match (
            call.func_name.as_str(),
            call.target.as_deref(),
            call.args.as_slice(),
        ) {
            ("_+_", None, [lhs, rhs]) if is_ident(lhs, accu) => match &rhs.expr {
                Ast::List(l) if l.elements.len() == 1 && l.optional_indices.is_empty() => {
                    l.elements.first()
                }
                _ => None,
            },
            _ => None,
        }
    }
    match &c.loop_step.expr {
        Ast::Call(call) if call.func_name == "_?_:_" && call.target.is_none() => {
            match call.args.as_slice() {
                [guard, step, otherwise] if is_ident(otherwise, accu) => Some(AppendStep {
                    guard: Some(guard),
                    item: appended(step, accu)?,
                }),
                _ => None,
            }
        }
        _ => Some(AppendStep {
            guard: None,
            item: appended(&c.loop_step, accu)?,
        }),
    }
}

/// The size bound of a policy variable read by a field path below it (`["req", "headers"]`).
///
/// Headers, cookies, query and content-type parameters all come from one request head (or one
/// response head), so besides each value's own bound, all of them *together* are no longer
/// than the head ([`Size::total`]): `sum` levels say so. Header maps are name → list of values:
/// at most [`HEADER_COUNT`] values over all names, [`REQUEST_HEAD_BYTES`] of text.
fn variable_size(path: &[&str]) -> Size {
    let head = REQUEST_HEAD_BYTES;
    let lists_of_values =
        |count: u64| Size::with_totals(&[count, count, head], &[count, count, head]);
    match path {
        [_, "headers" | "trailers", ..] => lists_of_values(HEADER_COUNT).skip(path.len() - 2),
        [_, "cookies", ..] => lists_of_values(PARAM_COUNT).skip(path.len() - 2),
        ["req", "__url", "query_params", ..] => lists_of_values(PARAM_COUNT).skip(path.len() - 3),
        [_, "__content_type", "parameters", ..] => {
            Size::with_totals(&[PARAM_COUNT, head], &[PARAM_COUNT, head]).skip(path.len() - 3)
        }
        [_, "content_encoding", ..] => {
            Size::with_totals(&[HEADER_COUNT, head], &[HEADER_COUNT, head]).skip(path.len() - 2)
        }
        ["req" | "res", ..] => Size::unknown(),
        ["conn" | "endpoint" | "time", ..] => Size::of(&[EDGE_STRING_BYTES]),
        _ => Size::unknown(),
    }
}

impl Walker {
    fn var_size(&self, name: &str) -> Option<Size> {
        self.bound
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }

    /// The field path of a selection rooted at a policy variable, if it is one.
    fn var_path<'e>(&self, e: &'e IdedExpr, out: &mut Vec<&'e str>) -> bool {
        match &e.expr {
            Ast::Select(s) => {
                let ok = self.var_path(&s.operand, out);
                out.push(&s.field);
                ok
            }
            Ast::Ident(n) => {
                let n = n.trim_start_matches('.');
                out.push(n);
                self.var_size(n).is_none()
            }
            _ => false,
        }
    }

    fn walk(&mut self, e: &IdedExpr) -> Estimate {
        match &e.expr {
            Ast::Unspecified => Estimate {
                cost: 1,
                size: Size::scalar(),
            },
            Ast::Literal(lit) => Estimate {
                cost: 1,
                size: match lit {
                    LiteralValue::String(s) => Size::of(&[s.inner().len() as u64]),
                    LiteralValue::Bytes(b) => Size::of(&[b.inner().len() as u64]),
                    _ => Size::scalar(),
                },
            },
            Ast::Ident(name) => Estimate {
                cost: 1,
                size: self
                    .var_size(name)
                    .unwrap_or_else(|| variable_size(&[name.trim_start_matches('.')])),
            },
            Ast::Select(sel) => {
                let mut path = Vec::new();
                if self.var_path(e, &mut path) {
                    return Estimate {
                        cost: path.len() as u64,
                        size: variable_size(&path),
                    };
                }
                let operand = self.walk(&sel.operand);
                Estimate {
                    cost: operand.cost.saturating_add(1),
                    size: operand.size.inner(),
                }
            }
            Ast::List(list) => {
                let mut cost = 1u64;
                let mut item = Size::of(&[0]);
                for x in &list.elements {
                    let est = self.walk(x);
                    cost = cost.saturating_add(est.cost);
                    item = item.max(&est.size);
                }
                Estimate {
                    cost,
                    size: Size::collection(list.elements.len() as u64, &item),
                }
            }
            Ast::Map(map) => {
                let mut cost = 1u64;
                let mut item = Size::of(&[0]);
                for entry in &map.entries {
                    let (c, s) = self.entry(&entry.expr);
                    cost = cost.saturating_add(c);
                    item = item.max(&s);
                }
                Estimate {
                    cost,
                    size: Size::collection(map.entries.len() as u64, &item),
                }
            }
            Ast::Struct(st) => {
                let mut cost = 1u64;
                for entry in &st.entries {
                    cost = cost.saturating_add(self.entry(&entry.expr).0);
                }
                Estimate {
                    cost,
                    size: Size::unknown(),
                }
            }
            Ast::Call(call) => {
                // A namespace (`hash.sha256(x)`) is not a value.
                let target = call.target.as_deref().map(|t| match &t.expr {
                    Ast::Ident(n)
                        if self.var_size(n).is_none()
                            && !KNOWN_VARIABLES.contains(&n.trim_start_matches('.')) =>
                    {
                        Estimate {
                            cost: 0,
                            size: Size::of(&[0]),
                        }
                    }
                    _ => self.walk(t),
                });
                let args: Vec<Estimate> = call.args.iter().map(|a| self.walk(a)).collect();
                let mut cost = 1u64;
                for est in target.iter().chain(&args) {
                    cost = cost.saturating_add(est.cost);
                }
                let inputs: Vec<&Size> = target.iter().chain(&args).map(|e| &e.size).collect();
                let (extra, size) =
                    call_cost(&call.func_name, call.target.as_deref(), &call.args, &inputs);
                Estimate {
                    cost: cost.saturating_add(extra),
                    size,
                }
            }
            Ast::Comprehension(c) => self.comprehension(c),
        }
    }

    /// A comprehension costs its range, its initial accumulator, its result, and its loop
    /// condition and step once per element. When the elements' total size is bounded (values
    /// read from one request head, parts of a split string), the loop is bounded by that total
    /// ([`spread_bound`]) rather than by the element count times the largest element.
    fn comprehension(&mut self, c: &ComprehensionExpr) -> Estimate {
        let range = self.walk(&c.iter_range);
        let init = self.walk(&c.accu_init);
        let n = range.size.len();
        let item = range.size.inner();
        // Iterating a map yields its keys: for request maps, strings of the head, together no
        // longer than it.
        let key = self.map_key_len(&c.iter_range);
        let (iter_size, iter_total) = match key {
            Some(key) => (Size::of(&[key]), key),
            None => (item.clone(), range.size.total(1)),
        };
        let append = append_step(c);
        // The accumulator of `exists`, `all`…: their own, small; `map`/`filter` below.
        let accu_plain = Size::collection(n, &item).max(&init.size);
        // One run of the loop condition and step on an element at most `len` long: its cost,
        // and for `map`/`filter` the size of the entry it appends. Their guard and entry cannot
        // read the accumulator (`@result` cannot be written in CEL).
        let once = |w: &mut Walker, len: u64| -> (u64, Size) {
            let iter = iter_size.capped(len);
            match append {
                Some(AppendStep { guard, item: x }) => {
                    w.bind(c, &iter, &item, &Size::scalar());
                    let cond = w.walk(&c.loop_cond).cost;
                    let guard = guard.map_or(0, |g| w.walk(g).cost);
                    let entry = w.walk(x);
                    w.unbind(c);
                    // cel appends to the accumulator in place: no copy of it per element.
                    let cost = cond.saturating_add(guard).saturating_add(entry.cost);
                    (cost.saturating_add(3), entry.size)
                }
                None => {
                    w.bind(c, &iter, &item, &accu_plain);
                    let cond = w.walk(&c.loop_cond).cost;
                    let step = w.walk(&c.loop_step).cost;
                    w.unbind(c);
                    (cond.saturating_add(step), Size::scalar())
                }
            }
        };
        let caps = match c.iter_var2 {
            None if self.spreading < MAX_SPREAD_NESTING => {
                spread_caps(n, iter_size.len(), iter_total)
            }
            _ => None,
        };
        // Through the total: the body once per length threshold; else once, at the largest.
        let (body, entry, entries_total) = match caps {
            Some(caps) => {
                self.spreading += 1;
                let runs: Vec<(u64, Size)> = caps.iter().map(|&u| once(self, u)).collect();
                self.spreading -= 1;
                let costs: Vec<u64> = runs.iter().map(|r| r.0).collect();
                let lens: Vec<u64> = runs.iter().map(|r| r.1.len()).collect();
                let entry = runs.last().map_or_else(Size::scalar, |r| r.1.clone());
                (
                    spread_bound(n, iter_total, &caps, &costs),
                    entry,
                    spread_bound(n, iter_total, &caps, &lens),
                )
            }
            None => {
                let (cost, entry) = once(self, iter_size.len());
                let total = n.saturating_mul(entry.len());
                (n.saturating_mul(cost), entry, total)
            }
        };
        // `map`/`filter` accumulate one entry per element: the element itself (`filter`, a
        // subset of the range), or what the transform makes of it, the entries together
        // bounded as the loop's cost is (a size bound at a length also bounds shorter ones).
        let accu = match append {
            Some(AppendStep { item: x, .. }) if is_ident(x, &c.iter_var) => match key {
                Some(_) => Size::collection(n, &iter_size).limit_total(1, iter_total),
                None => range.size.clone(),
            },
            Some(_) => Size::collection(n, &entry).limit_total(1, entries_total),
            None => accu_plain.clone(),
        }
        .max(&init.size);
        self.bind(c, &iter_size, &item, &accu);
        let result = self.walk(&c.result);
        self.unbind(c);
        Estimate {
            cost: range
                .cost
                .saturating_add(init.cost)
                .saturating_add(body)
                .saturating_add(result.cost),
            size: result.size,
        }
    }

    /// Puts the comprehension's variables in scope with these bounds.
    fn bind(&mut self, c: &ComprehensionExpr, iter: &Size, item: &Size, accu: &Size) {
        self.bound.push((c.iter_var.clone(), iter.clone()));
        if let Some(v2) = &c.iter_var2 {
            self.bound.push((v2.clone(), item.clone()));
        }
        self.bound.push((c.accu_var.clone(), accu.clone()));
    }

    /// Takes them out again.
    fn unbind(&mut self, c: &ComprehensionExpr) {
        let pushed = 2 + usize::from(c.iter_var2.is_some());
        self.bound.truncate(self.bound.len() - pushed);
    }

    /// The key length bound when `range` is a request map (headers, cookies, parameters).
    fn map_key_len(&self, range: &IdedExpr) -> Option<u64> {
        let mut path = Vec::new();
        let is_var = self.var_path(range, &mut path);
        let last = path.last().copied().unwrap_or_default();
        (is_var
            && matches!(
                last,
                "headers" | "cookies" | "trailers" | "query_params" | "parameters"
            ))
        .then_some(REQUEST_HEAD_BYTES)
    }

    fn entry(&mut self, e: &EntryExpr) -> (u64, Size) {
        match e {
            EntryExpr::StructField(f) => {
                let v = self.walk(&f.value);
                (v.cost, v.size)
            }
            EntryExpr::MapEntry(m) => {
                let k = self.walk(&m.key);
                let v = self.walk(&m.value);
                (k.cost.saturating_add(v.cost), v.size)
            }
        }
    }
}

#[cfg(test)]
#[path = "estimate_tests.rs"]
mod tests;
