//! `list.sort(x, y, less)`: sorting with a comparator, the form ngrok's `set-vars` example
//! uses (`.sort(a, b, a.latency < b.latency)`). cel's lists extension only has `sort()` and
//! `sortBy(x, key)`, so this adds the three-argument form as a macro.
//!
//! The call expands, at parse time, to plain CEL: each element's rank is the number of
//! elements that `less` puts before it, and the list is stably sorted by those ranks with the
//! same internal overload `sortBy` uses:
//!
//! ```text
//! cel.bind(@in, list,
//!   @in.@sortByAssociatedKeys(
//!     @in.map(y, @in.filter(x, less).size())))
//! ```
//!
//! For a strict weak order (what `<` on numbers, strings or timestamps is) an element that
//! must come first has a strictly smaller rank, and equivalent elements share a rank and
//! keep their order, so the result is a stable sort. It costs n² comparisons, which the
//! policy cost estimate sees as the nested comprehension it is.
//!
//! The usual comparator compares one key of both elements, `K(x) < K(y)` (or `>`, `<=`,
//! `>=`, or the sides swapped). That form expands to the same n·log n sort as `sortBy(x, K(x))`
//! instead; a descending order sorts the reversed list and reverses the result, so equal keys
//! still keep their order.

use cel::Env;
use cel::common::ast::{CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue};
use cel::parser::{Macro, MacroExprHelper, ParseError};

use crate::cel_fns::RegisterError;

/// The variable the list is bound to, so that it is evaluated once.
const INPUT: &str = "@__sort_input__";
/// The accumulator of the ranks (or keys).
const RANKS: &str = "@__sort_ranks__";
/// The accumulator of one element's rank.
const BEFORE: &str = "@__sort_before__";
/// The overload of cel's lists extension that sorts a list by a list of keys.
const SORT_BY_KEYS: &str = "@sortByAssociatedKeys";

/// Registers the `list.sort(x, y, less)` macro.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_macro(Macro::receiver("sort", 3, expand))?;
    Ok(())
}

fn ident(helper: &mut MacroExprHelper<'_>, name: &str) -> IdedExpr {
    helper.next_expr(Expr::Ident(name.to_owned()))
}

fn call(
    helper: &mut MacroExprHelper<'_>,
    func: &str,
    target: Option<IdedExpr>,
    args: Vec<IdedExpr>,
) -> IdedExpr {
    helper.next_expr(Expr::Call(CallExpr {
        func_name: func.to_owned(),
        target: target.map(Box::new),
        args,
    }))
}

fn int(helper: &mut MacroExprHelper<'_>, v: i64) -> IdedExpr {
    helper.next_expr(Expr::Literal(LiteralValue::Int(v.into())))
}

fn boolean(helper: &mut MacroExprHelper<'_>, v: bool) -> IdedExpr {
    helper.next_expr(Expr::Literal(LiteralValue::Boolean(v.into())))
}

fn simple_name(helper: &MacroExprHelper<'_>, e: &IdedExpr) -> Result<String, ParseError> {
    match &e.expr {
        Expr::Ident(name) => Ok(name.clone()),
        _ => Err(helper.new_error(
            e.id,
            "sort(x, y, less): the first two arguments must be simple names",
        )),
    }
}

/// When `less` compares one key of both elements, that key (written over `first`) and whether
/// the order is descending.
fn key_comparison(less: &IdedExpr, first: &str, second: &str) -> Option<(IdedExpr, bool)> {
    let Expr::Call(call) = &less.expr else {
        return None;
    };
    let descending = match call.func_name.as_str() {
        "_<_" | "_<=_" => false,
        "_>_" | "_>=_" => true,
        _ => return None,
    };
    let [left, right] = call.args.as_slice() else {
        return None;
    };
    if call.target.is_some() {
        return None;
    }
    if same_key(left, right, first, second) {
        Some((left.clone(), descending))
    } else if same_key(right, left, first, second) {
        Some((right.clone(), !descending))
    } else {
        None
    }
}

/// Whether `b` is `a` with the name `x` replaced by `y` (and `a` never names `y`).
fn same_key(a: &IdedExpr, b: &IdedExpr, x: &str, y: &str) -> bool {
    let all = |a: &[IdedExpr], b: &[IdedExpr]| {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_key(a, b, x, y))
    };
    match (&a.expr, &b.expr) {
        (Expr::Ident(na), Expr::Ident(nb)) => {
            (na == x && nb == y) || (na == nb && na != x && na != y)
        }
        (Expr::Select(sa), Expr::Select(sb)) => {
            sa.field == sb.field && sa.test == sb.test && same_key(&sa.operand, &sb.operand, x, y)
        }
        (Expr::Call(ca), Expr::Call(cb)) => {
            ca.func_name == cb.func_name
                && match (&ca.target, &cb.target) {
                    (None, None) => true,
                    (Some(ta), Some(tb)) => same_key(ta, tb, x, y),
                    _ => false,
                }
                && all(&ca.args, &cb.args)
        }
        (Expr::Literal(la), Expr::Literal(lb)) => la == lb,
        (Expr::List(la), Expr::List(lb)) => {
            la.optional_indices == lb.optional_indices && all(&la.elements, &lb.elements)
        }
        _ => false,
    }
}

/// `cel.bind(@in, list, @in.@sortByAssociatedKeys(@in.map(name, key)))`; when descending,
/// the list is reversed first and the result reversed again, which keeps equal keys in order.
fn by_key(
    helper: &mut MacroExprHelper<'_>,
    list: IdedExpr,
    name: String,
    key: IdedExpr,
    descending: bool,
) -> IdedExpr {
    let keys_so_far = ident(helper, RANKS);
    let one_key = helper.next_expr(Expr::List(ListExpr::new(vec![key])));
    let append = call(helper, "_+_", None, vec![keys_so_far, one_key]);
    let keys = ComprehensionExpr {
        iter_range: ident(helper, INPUT),
        iter_var: name,
        iter_var2: None,
        accu_var: RANKS.to_owned(),
        accu_init: helper.next_expr(Expr::List(ListExpr::new(Vec::new()))),
        loop_cond: boolean(helper, true),
        loop_step: append,
        result: ident(helper, RANKS),
    };
    let keys = helper.next_expr(Expr::Comprehension(Box::new(keys)));
    let input = ident(helper, INPUT);
    let mut sorted = call(helper, SORT_BY_KEYS, Some(input), vec![keys]);
    let mut list = list;
    if descending {
        list = call(helper, "reverse", Some(list), Vec::new());
        sorted = call(helper, "reverse", Some(sorted), Vec::new());
    }
    bind_input(helper, list, sorted)
}

/// `cel.bind(@in, list, body)`.
fn bind_input(helper: &mut MacroExprHelper<'_>, list: IdedExpr, body: IdedExpr) -> IdedExpr {
    let bind = ComprehensionExpr {
        iter_range: helper.next_expr(Expr::List(ListExpr::new(Vec::new()))),
        iter_var: "#unused".to_owned(),
        iter_var2: None,
        accu_var: INPUT.to_owned(),
        accu_init: list,
        loop_cond: boolean(helper, false),
        loop_step: ident(helper, INPUT),
        result: body,
    };
    helper.next_expr(Expr::Comprehension(Box::new(bind)))
}

fn expand(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    let first = simple_name(helper, &args[0])?;
    let second = simple_name(helper, &args[1])?;
    if first == second {
        return Err(helper.new_error(
            args[1].id,
            "sort(x, y, less): the two element names must differ",
        ));
    }
    let less = args.remove(2);
    args.clear();
    let Some(list) = target.take() else {
        return Ok(None);
    };
    if let Some((key, descending)) = key_comparison(&less, &first, &second) {
        return Ok(Some(by_key(helper, list, first, key, descending)));
    }

    // @in.filter(first, less).size(), counted directly: how many elements come before `second`.
    let before = ident(helper, BEFORE);
    let one = int(helper, 1);
    let plus_one = call(helper, "_+_", None, vec![before, one]);
    let unchanged = ident(helper, BEFORE);
    let count_step = call(helper, "_?_:_", None, vec![less, plus_one, unchanged]);
    let rank = ComprehensionExpr {
        iter_range: ident(helper, INPUT),
        iter_var: first,
        iter_var2: None,
        accu_var: BEFORE.to_owned(),
        accu_init: int(helper, 0),
        loop_cond: boolean(helper, true),
        loop_step: count_step,
        result: ident(helper, BEFORE),
    };
    let rank = helper.next_expr(Expr::Comprehension(Box::new(rank)));

    // @in.map(second, rank)
    let ranks_so_far = ident(helper, RANKS);
    let one_rank = helper.next_expr(Expr::List(ListExpr::new(vec![rank])));
    let append = call(helper, "_+_", None, vec![ranks_so_far, one_rank]);
    let ranks = ComprehensionExpr {
        iter_range: ident(helper, INPUT),
        iter_var: second,
        iter_var2: None,
        accu_var: RANKS.to_owned(),
        accu_init: helper.next_expr(Expr::List(ListExpr::new(Vec::new()))),
        loop_cond: boolean(helper, true),
        loop_step: append,
        result: ident(helper, RANKS),
    };
    let ranks = helper.next_expr(Expr::Comprehension(Box::new(ranks)));

    let input = ident(helper, INPUT);
    let sorted = call(helper, SORT_BY_KEYS, Some(input), vec![ranks]);

    Ok(Some(bind_input(helper, list, sorted)))
}
