//! Worst-case cost of a compiled expression, worked out once at load, in the spirit of cel-go's
//! cost estimator (no crate offers one for the `cel` crate's AST, hence this walk).
//!
//! Every node costs 1. A function that scans a string or list costs one more unit per 10
//! bytes or elements of its inputs; `in` on a list scans it whole. A comprehension costs its
//! range, plus its range's size times the cost of one loop condition and step, so nesting
//! multiplies. Sizes are tracked alongside: literals have theirs, values read from a request
//! are bounded by the edge's input limits ([`super::limits`]), and `split`, `+`, `map` and
//! `filter` derive their result's bound from their inputs'. Arithmetic saturates.

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Ast, LiteralValue};

use super::super::env::KNOWN_VARIABLES;
use super::limits::{EDGE_STRING_BYTES, HEADER_COUNT, PARAM_COUNT, REQUEST_HEAD_BYTES};

/// A size bound, level by level: `[0]` is the value's own length (bytes of a string, entries
/// of a list or map), `[1]` its elements' length, and so on; the last level repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Size(Vec<u64>);

impl Size {
    /// A number or boolean: nothing to scan.
    fn scalar() -> Size {
        Size(vec![0])
    }

    fn of(levels: &[u64]) -> Size {
        Size(levels.to_vec())
    }

    /// A value nothing is known about, e.g. `vars.x`: no larger than a request could make it.
    fn unknown() -> Size {
        Size(vec![REQUEST_HEAD_BYTES])
    }

    fn len(&self) -> u64 {
        self.0[0]
    }

    /// The bound of the values inside (list elements, map values).
    fn inner(&self) -> Size {
        if self.0.len() > 1 {
            Size(self.0[1..].to_vec())
        } else {
            self.clone()
        }
    }

    /// The bound `levels` levels down.
    fn skip(self, levels: usize) -> Size {
        let mut s = self;
        for _ in 0..levels {
            s = s.inner();
        }
        s
    }

    fn max(&self, other: &Size) -> Size {
        let n = self.0.len().max(other.0.len());
        Size((0..n).map(|i| self.level(i).max(other.level(i))).collect())
    }

    fn level(&self, i: usize) -> u64 {
        self.0.get(i).or(self.0.last()).copied().unwrap_or(1)
    }

    /// A collection of `n` values of size `item`.
    fn collection(n: u64, item: &Size) -> Size {
        let mut levels = vec![n];
        levels.extend_from_slice(&item.0);
        Size(levels)
    }
}

/// Cost and size of one sub-expression.
#[derive(Debug, Clone)]
struct Estimate {
    cost: u64,
    size: Size,
}

/// Per 10 bytes or elements scanned, as cel-go's string traversal factor.
fn scan(len: u64) -> u64 {
    len.div_ceil(10)
}

/// The worst-case cost of evaluating `root` once.
pub(crate) fn estimate_cost(root: &IdedExpr) -> u64 {
    Walker { bound: Vec::new() }.walk(root).cost
}

struct Walker {
    /// Comprehension variables in scope, innermost last, with their size bounds.
    bound: Vec<(String, Size)>,
}

/// The size bound of a policy variable read by a field path below it (`["req", "headers"]`).
fn variable_size(path: &[&str]) -> Size {
    let head = REQUEST_HEAD_BYTES;
    match path {
        [_, "headers" | "trailers", ..] => {
            Size::of(&[HEADER_COUNT, HEADER_COUNT, head]).skip(path.len() - 2)
        }
        [_, "cookies", ..] => Size::of(&[PARAM_COUNT, PARAM_COUNT, head]).skip(path.len() - 2),
        ["req", "__url", "query_params", ..] => {
            Size::of(&[PARAM_COUNT, PARAM_COUNT, head]).skip(path.len() - 3)
        }
        [_, "__content_type", "parameters", ..] => {
            Size::of(&[PARAM_COUNT, head]).skip(path.len() - 3)
        }
        [_, "content_encoding", ..] => Size::of(&[HEADER_COUNT, head]).skip(path.len() - 2),
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
            Ast::Comprehension(c) => {
                let range = self.walk(&c.iter_range);
                let init = self.walk(&c.accu_init);
                let n = range.size.len();
                let item = range.size.inner();
                // Iterating a map yields its keys: for request maps, strings up to the head.
                let iter_size = match self.map_key_len(&c.iter_range) {
                    Some(key) => Size::of(&[key]),
                    None => item.clone(),
                };
                self.bound.push((c.iter_var.clone(), iter_size));
                if let Some(v2) = &c.iter_var2 {
                    self.bound.push((v2.clone(), item.clone()));
                }
                // The accumulator of `map`/`filter` grows to one entry per element.
                let accu = Size::collection(n, &item).max(&init.size);
                self.bound.push((c.accu_var.clone(), accu.clone()));
                let cond = self.walk(&c.loop_cond).cost;
                let step = self.walk(&c.loop_step).cost;
                let result = self.walk(&c.result);
                let pushed = 2 + usize::from(c.iter_var2.is_some());
                self.bound.truncate(self.bound.len() - pushed);
                let body = n.saturating_mul(cond.saturating_add(step));
                Estimate {
                    cost: range
                        .cost
                        .saturating_add(init.cost)
                        .saturating_add(body)
                        .saturating_add(result.cost),
                    size: result.size,
                }
            }
        }
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

/// The extra cost of calling `name` on inputs of sizes `inputs` (target first), and the size
/// of its result.
fn call_cost(
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
            let mut size = widest;
            size.0[0] = len(0).saturating_add(len(1));
            (scan(size.len()), size)
        }
        // `x in list` compares against every element; a map lookup is one probe.
        "@in" => (len(1), Size::scalar()),
        "startsWith" | "endsWith" => (scan(len(1)), Size::scalar()),
        "split" => (scan(total), Size::of(&[len(0).saturating_add(1), len(0)])),
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
        "getReqHeader" | "getResHeader" => (0, Size::of(&[HEADER_COUNT, REQUEST_HEAD_BYTES])),
        "getQueryParam" | "getReqCookie" | "getResCookie" => {
            (0, Size::of(&[PARAM_COUNT, REQUEST_HEAD_BYTES]))
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cel::env::policy_env;

    fn cost(src: &str) -> u64 {
        let mut ast = policy_env()
            .compile(src)
            .expect("compiles")
            .expression()
            .clone();
        crate::cel::subfields::rewrite_subfields(&mut ast);
        estimate_cost(&ast)
    }

    fn list(n: usize) -> String {
        let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        format!("[{}]", items.join(","))
    }

    #[test]
    fn plain_expressions_cost_their_nodes() {
        assert_eq!(cost("1 + 2 == 3"), 5);
        assert_eq!(cost("true"), 1);
    }

    #[test]
    fn literal_list_sizes_multiply_through_nesting() {
        let one = cost(&format!("{}.exists(a, a == -1)", list(1000)));
        let two = cost(&format!(
            "{}.exists(a, {}.exists(b, a + b == -1))",
            list(1000),
            list(1000)
        ));
        let three = cost(&format!(
            "{l}.exists(a, {l}.exists(b, {l}.exists(c, a + b + c == -1)))",
            l = list(1000)
        ));
        assert!((5_000..20_000).contains(&one), "{one}");
        assert!(two > 1000 * one / 2, "{two} vs {one}");
        assert!(three > 1000 * two / 2, "{three} vs {two}");
        assert!(
            three > 1_000 * super::super::limits::STATIC_COST_LIMIT,
            "{three}"
        );
    }

    #[test]
    fn request_derived_values_are_bounded_by_input_limits() {
        // A regex over the URL path scans at most the largest request head.
        let m = cost("req.url.path.matches('^/api/')");
        assert!(
            m > REQUEST_HEAD_BYTES / 10 && m < REQUEST_HEAD_BYTES / 10 + 10,
            "{m}"
        );
        // One pass over the headers is fine; one nested in another is not.
        let one = cost("req.headers.exists(k, k.startsWith('x-'))");
        assert!(
            (HEADER_COUNT..super::super::limits::STATIC_COST_LIMIT).contains(&one),
            "{one}"
        );
        let two = cost("req.headers.exists(k, req.headers.exists(j, j == k))");
        assert!(two > super::super::limits::STATIC_COST_LIMIT, "{two}");
    }

    #[test]
    fn the_bench_policy_is_far_below_the_limit() {
        let worst = [
            "req.url.path == '/healthz'",
            "req.url.path.startsWith('/admin')",
            "!inCidrRange(conn.client_ip, '10.0.0.0/8')",
            "req.user_agent.is_bot",
            "req.url.path.matches('^/api/v[0-9]+/')",
            "hasReqHeader('x-tenant')",
            "getReqHeader('x-tenant')[0]",
            "req.url.path.endsWith('.bin') || req.url.path.startsWith('/static/')",
            "hasResHeader('server')",
        ]
        .into_iter()
        .map(cost)
        .max()
        .unwrap_or_default();
        assert!(worst < 110_000, "{worst}");
        assert!(worst * 50 < super::super::limits::STATIC_COST_LIMIT);
    }

    #[test]
    fn split_and_map_derive_their_sizes() {
        let split = cost("'a,b,c'.split(',').exists(x, x == 'b')");
        assert!(split < 100, "{split}");
        let header_split = cost("getReqHeader('x')[0].split(',').exists(x, x == 'b')");
        assert!(header_split > REQUEST_HEAD_BYTES, "{header_split}");
        let mapped = cost(&format!(
            "{}.map(x, x * 2).exists(y, {}.exists(z, z == y))",
            list(100),
            list(100)
        ));
        assert!(mapped > 100 * 100, "{mapped}");
    }
}
