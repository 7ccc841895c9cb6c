//! Request and response helpers: `getReqHeader`, `hasReqHeader`,
//! `getQueryParam`, `hasQueryParam`, `getReqCookie`, `hasReqCookie`,
//! `getResHeader`, `hasResHeader`, `getResCookie` and `hasResCookie`.
//!
//! cel 0.15 overloads are plain `fn(Vec<CowVal>)`: they can't see the
//! evaluation context. So each helper is also a parse-time macro that adds
//! the variable it reads as a first argument: `getReqHeader('X-Id')` is
//! compiled as `getReqHeader(.req, 'X-Id')`. The interpreter resolves `.req`
//! (the leading dot skips comprehension scopes) from the `Context` at call
//! time, borrowed, and the overload walks it; nothing is copied on the way.

use std::borrow::Cow;

use cel::common::ast::{CallExpr, Expr};
use cel::common::types::{DYN_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::parser::Macro;
use cel::{Env, ExecutionError};

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{
    Args, Ret, as_str, bool_val, empty_list, fail, for_each_item, lookup, project, str_arg,
};

/// Which variable a helper reads, with its overload.
const HELPERS: &[(&str, &str, cel::common::functions::Function)] = &[
    ("getReqHeader", "req", get_header),
    ("hasReqHeader", "req", has_header),
    ("getQueryParam", "req", get_query_param),
    ("hasQueryParam", "req", has_query_param),
    ("getReqCookie", "req", get_req_cookie),
    ("hasReqCookie", "req", has_cookie),
    ("getResHeader", "res", get_header),
    ("hasResHeader", "res", has_header),
    ("getResCookie", "res", get_res_cookie),
    ("hasResCookie", "res", has_cookie),
];

/// Registers each helper as a one-argument macro and as the two-argument
/// overload `helper(dyn, string)` it expands to.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    for &(name, variable, op) in HELPERS {
        env.add_overload(
            name,
            &format!("{name}_dyn_string"),
            vec![DYN_TYPE, STRING_TYPE],
            op,
        )?;
        let absolute = format!(".{variable}");
        env.add_macro(Macro::global(name, 1, move |helper, _, args| {
            let Some(arg) = args.pop() else {
                return Ok(None);
            };
            let source = helper.next_expr(Expr::Ident(absolute.clone()));
            Ok(Some(helper.next_expr(Expr::Call(CallExpr {
                func_name: name.to_owned(),
                target: None,
                args: vec![source, arg],
            }))))
        }))?;
    }
    Ok(())
}

/// Follows `keys` down nested maps from `root`: `None` as soon as one is
/// missing.
fn walk<'a, 'v>(
    root: &'a (dyn Val + 'v),
    keys: &[&str],
) -> Result<Option<CowVal<'a, 'v>>, ExecutionError> {
    let mut current = CowVal::Borrowed(root);
    for key in keys {
        let next = match current {
            CowVal::Borrowed(val) => lookup(val, key)?,
            CowVal::Owned(val) => {
                lookup(val.as_ref(), key)?.map(|found| CowVal::Owned(found.into_owned()))
            }
        };
        match next {
            Some(next) => current = next,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Splits the expanded call's arguments into the variable and the name.
fn split<'b, 'v>(args: Args<'b, 'v>) -> Result<(CowVal<'b, 'v>, CowVal<'b, 'v>), ExecutionError> {
    let count = args.len();
    let mut args = args.into_iter();
    match (args.next(), args.next()) {
        (Some(source), Some(name)) => Ok((source, name)),
        _ => Err(ExecutionError::invalid_argument_count(2, count)),
    }
}

/// The variable a `has*` helper reads: its first argument.
fn source_arg<'a, 'v>(args: &'a [CowVal<'_, 'v>]) -> Result<&'a (dyn Val + 'v), ExecutionError> {
    args.first()
        .map(|source| source.as_ref())
        .ok_or_else(|| ExecutionError::invalid_argument_count(2, args.len()))
}

/// Header names are stored lower-cased.
fn header_key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// `getReqHeader(name)` / `getResHeader(name)`: the header's values, `[]`
/// if absent. The name is case-insensitive.
fn get_header<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (source, name) = split(args)?;
    let key = header_key(str_arg(std::slice::from_ref(&name), 0)?);
    project(source, |source| {
        Ok(walk(source, &["headers", &key])?.unwrap_or_else(empty_list))
    })
}

/// `hasReqHeader(name)` / `hasResHeader(name)`.
fn has_header<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let key = header_key(str_arg(&args, 1)?);
    let source = source_arg(&args)?;
    Ok(bool_val(walk(source, &["headers", &key])?.is_some()))
}

/// `getQueryParam(name)`: the parameter's values, `[]` if absent.
fn get_query_param<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (source, name) = split(args)?;
    let key = str_arg(std::slice::from_ref(&name), 0)?;
    project(source, |source| {
        Ok(walk(source, &["__url", "query_params", key])?.unwrap_or_else(empty_list))
    })
}

/// `hasQueryParam(name)`.
fn has_query_param<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let key = str_arg(&args, 1)?;
    let source = source_arg(&args)?;
    Ok(bool_val(
        walk(source, &["__url", "query_params", key])?.is_some(),
    ))
}

/// `hasReqCookie(name)` / `hasResCookie(name)`: whether a cookie of that
/// name is set.
fn has_cookie<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let key = str_arg(&args, 1)?;
    let source = source_arg(&args)?;
    let found = match walk(source, &["cookies", key])? {
        Some(list) => list.as_sizer().is_none_or(|s| *s.size().inner() > 0),
        None => false,
    };
    Ok(bool_val(found))
}

/// `getReqCookie(name)`: the first cookie of that name; an error if none.
fn get_req_cookie<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (source, name) = split(args)?;
    let key = str_arg(std::slice::from_ref(&name), 0)?;
    project(source, |source| {
        pick_cookie(source, key, "getReqCookie", |_, _| false)
    })
}

/// `getResCookie(name)`: of the cookies of that name, the one with the
/// longest path; an error if none.
fn get_res_cookie<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (source, name) = split(args)?;
    let key = str_arg(std::slice::from_ref(&name), 0)?;
    project(source, |source| {
        pick_cookie(source, key, "getResCookie", |best, item| {
            path_len(item) > path_len(best)
        })
    })
}

/// The length of a cookie's `path`, 0 if it has none.
fn path_len(cookie: &dyn Val) -> usize {
    lookup(cookie, "path")
        .ok()
        .flatten()
        .and_then(|path| as_str(path.as_ref()).map(str::len))
        .unwrap_or(0)
}

/// The cookie named `key` in `source.cookies`: the first one, replaced by a
/// later one whenever `better(current, later)`.
fn pick_cookie<'a, 'v>(
    source: &'a (dyn Val + 'v),
    key: &str,
    function: &str,
    better: impl Fn(&dyn Val, &dyn Val) -> bool,
) -> Ret<'a, 'v> {
    let no_such_cookie = || fail(function, format!("no such cookie: {key}"));
    match walk(source, &["cookies", key])? {
        Some(CowVal::Borrowed(list)) => choose(list, &better)?
            .map(CowVal::Borrowed)
            .ok_or_else(no_such_cookie),
        Some(CowVal::Owned(list)) => choose(list.as_ref(), &better)?
            .map(|cookie| CowVal::Owned(cookie.clone_as_boxed()))
            .ok_or_else(no_such_cookie),
        None => Err(no_such_cookie()),
    }
}

/// The element of `list` that no later one is `better` than.
fn choose<'a, 'v>(
    list: &'a (dyn Val + 'v),
    better: &impl Fn(&dyn Val, &dyn Val) -> bool,
) -> Result<Option<&'a (dyn Val + 'v)>, ExecutionError> {
    let mut chosen: Option<&'a (dyn Val + 'v)> = None;
    for_each_item(list, |item| {
        if chosen.is_none_or(|best| better(best, item)) {
            chosen = Some(item);
        }
        Ok(())
    })?;
    Ok(chosen)
}
