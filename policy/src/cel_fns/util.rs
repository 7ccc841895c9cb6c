//! Small helpers shared by the overload implementations: argument
//! extraction, result construction and map lookups on `dyn Val`.

use std::collections::HashMap;
use std::sync::LazyLock;

use cel::ExecutionError;
use cel::common::types::{CelBool, CelBytes, CelInt, CelList, CelMap, CelMapKey, CelString};
use cel::common::value::{CowVal, Val};

/// The result type of every overload.
pub(crate) type Ret<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

/// The arguments every overload receives (a member call's target first).
pub(crate) type Args<'b, 'v> = Vec<CowVal<'b, 'v>>;

static TRUE: LazyLock<CelBool> = LazyLock::new(|| CelBool::from(true));
static FALSE: LazyLock<CelBool> = LazyLock::new(|| CelBool::from(false));
static EMPTY_LIST: LazyLock<CelList<'static>> = LazyLock::new(|| CelList::from(Vec::new()));

/// A `bool` result, borrowed from a static: no allocation.
pub(crate) fn bool_val<'b, 'v>(value: bool) -> CowVal<'b, 'v> {
    if value {
        CowVal::Borrowed(&*TRUE)
    } else {
        CowVal::Borrowed(&*FALSE)
    }
}

/// An empty `list` result, borrowed from a static: no allocation.
pub(crate) fn empty_list<'b, 'v>() -> CowVal<'b, 'v> {
    CowVal::Borrowed(&*EMPTY_LIST)
}

/// An owned `string` result.
pub(crate) fn string_val<'b, 'v>(value: String) -> CowVal<'b, 'v> {
    CowVal::owned(CelString::from(value))
}

/// Boxes a `string` for use as a list element or map value.
pub(crate) fn boxed_str<'v>(value: impl Into<String>) -> Box<dyn Val + 'v> {
    Box::new(CelString::from(value.into()))
}

/// A `list(string)` value.
pub(crate) fn string_list<'v, S: Into<String>>(items: impl IntoIterator<Item = S>) -> CelList<'v> {
    CelList::from(items.into_iter().map(boxed_str).collect::<Vec<_>>())
}

/// A `map(string, dyn)` value built from string keys.
pub(crate) fn string_map<'v>(
    entries: impl IntoIterator<Item = (String, Box<dyn Val + 'v>)>,
) -> CelMap<'v> {
    let map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    CelMap::from(map)
}

/// An error raised by `function`, as cel reports function failures.
pub(crate) fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// The error for an argument of an unexpected type.
pub(crate) fn unexpected(val: &dyn Val, want: &str) -> ExecutionError {
    ExecutionError::UnexpectedType {
        got: val.get_type().name().to_owned(),
        want: want.to_owned(),
    }
}

/// Argument `idx` as a `&str`; the overload declaration guarantees the type,
/// so a mismatch is reported rather than assumed away.
pub(crate) fn str_arg<'a>(
    args: &'a [CowVal<'_, '_>],
    idx: usize,
) -> Result<&'a str, ExecutionError> {
    let val = args
        .get(idx)
        .ok_or_else(|| ExecutionError::invalid_argument_count(idx + 1, args.len()))?;
    as_str(val.as_ref()).ok_or_else(|| unexpected(val.as_ref(), "string"))
}

/// Argument `idx` as an `i64`.
pub(crate) fn int_arg(args: &[CowVal<'_, '_>], idx: usize) -> Result<i64, ExecutionError> {
    let val = args
        .get(idx)
        .ok_or_else(|| ExecutionError::invalid_argument_count(idx + 1, args.len()))?;
    val.downcast_ref::<CelInt>()
        .map(|i| *i.inner())
        .ok_or_else(|| unexpected(val.as_ref(), "int"))
}

/// `val` as a `&str` if it is a `string`.
pub(crate) fn as_str(val: &dyn Val) -> Option<&str> {
    val.downcast_ref::<CelString>().map(CelString::inner)
}

/// Argument `idx` as raw bytes: a `string`'s UTF-8 or a `bytes` value.
pub(crate) fn bytes_arg<'a>(
    args: &'a [CowVal<'_, '_>],
    idx: usize,
) -> Result<&'a [u8], ExecutionError> {
    let val = args
        .get(idx)
        .ok_or_else(|| ExecutionError::invalid_argument_count(idx + 1, args.len()))?;
    let val = val.as_ref();
    if let Some(s) = val.downcast_ref::<CelString>() {
        Ok(s.inner().as_bytes())
    } else if let Some(b) = val.downcast_ref::<CelBytes>() {
        Ok(b.inner())
    } else {
        Err(unexpected(val, "string or bytes"))
    }
}

/// Looks up the string `key` of a map-like value: `Ok(None)` when absent.
///
/// Works on any value with an `Indexer`, built-in maps and lazily resolved
/// ones alike. Presence is checked first, when the value can tell, so that
/// a miss costs no error allocation.
pub(crate) fn lookup<'b, 'v>(
    map: &'b (dyn Val + 'v),
    key: &str,
) -> Result<Option<CowVal<'b, 'v>>, ExecutionError> {
    let key = CelString::from(key);
    if let Some(container) = map.as_container()
        && !container.contains(&key)?
    {
        return Ok(None);
    }
    let indexer = map.as_indexer().ok_or_else(|| unexpected(map, "map"))?;
    match indexer.get(&key) {
        Ok(found) => Ok(Some(found)),
        Err(ExecutionError::NoSuchKey(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Applies `f` to the value held by `root`, keeping the result borrowed from
/// the context when `root` is, and owning a copy otherwise.
pub(crate) fn project<'b, 'v>(
    root: CowVal<'b, 'v>,
    f: impl for<'a> FnOnce(&'a (dyn Val + 'v)) -> Ret<'a, 'v>,
) -> Ret<'b, 'v> {
    match root {
        CowVal::Borrowed(val) => f(val),
        CowVal::Owned(val) => f(val.as_ref()).map(|found| CowVal::Owned(found.into_owned())),
    }
}

/// The elements of an iterable value, in order.
pub(crate) fn for_each_item<'b, 'v>(
    list: &'b (dyn Val + 'v),
    mut f: impl FnMut(&'b (dyn Val + 'v)) -> Result<(), ExecutionError>,
) -> Result<(), ExecutionError> {
    let iterable = list.as_iterable().ok_or_else(|| unexpected(list, "list"))?;
    let mut items = iterable.iter();
    while let Some(item) = items.next() {
        f(item)?;
    }
    Ok(())
}
