//! Query strings: `queryString.decode(s)` / `s.decodeQueryString()`,
//! `queryString.encode(map)` / `map.encodeQueryString()` and
//! `s.isQueryString()`, as Go's `url.ParseQuery` and `url.Values.Encode`.

use std::collections::HashMap;

use cel::Env;
use cel::common::types::{CelList, CelMap, MAP_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, Val};

use crate::cel_fns::RegisterError;
use crate::cel_fns::encoding::{query_escape, query_unescape};
use crate::cel_fns::util::{
    Args, Ret, as_str, bool_val, boxed_str, fail, for_each_item, str_arg, string_list, string_map,
    unexpected,
};

/// Registers the query string functions and methods.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_overload(
        "queryString.decode",
        "query_string_decode_string",
        vec![STRING_TYPE],
        decode,
    )?;
    env.add_member_overload(
        "decodeQueryString",
        "string_decode_query_string",
        STRING_TYPE,
        vec![],
        decode,
    )?;
    env.add_overload(
        "queryString.encode",
        "query_string_encode_map",
        vec![MAP_TYPE],
        encode,
    )?;
    env.add_member_overload(
        "encodeQueryString",
        "map_encode_query_string",
        MAP_TYPE,
        vec![],
        encode,
    )?;
    env.add_member_overload(
        "isQueryString",
        "string_is_query_string",
        STRING_TYPE,
        vec![],
        is_query_string,
    )?;
    Ok(())
}

/// The values of each key of a query string, in the order given.
pub(crate) type QueryValues = HashMap<String, Vec<String>>;

/// Parses `raw` as Go's `url.ParseQuery`: `&`-separated `key=value` pairs,
/// each unescaped. Invalid pairs are skipped; the first problem is returned
/// alongside, as Go does.
pub(crate) fn parse_query(raw: &str) -> (QueryValues, Option<String>) {
    let mut values = QueryValues::new();
    let mut error = None;
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        if pair.contains(';') {
            error.get_or_insert_with(|| "invalid semicolon separator in query".to_owned());
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (query_unescape(key), query_unescape(value)) {
            (Ok(key), Ok(value)) => values.entry(key).or_default().push(value),
            (Err(e), _) | (_, Err(e)) => {
                error.get_or_insert(e);
            }
        }
    }
    (values, error)
}

/// `values` as a CEL `map(string, list(string))`.
pub(crate) fn query_map<'v>(values: QueryValues) -> CelMap<'v> {
    string_map(values.into_iter().map(|(key, values)| {
        let list: Box<dyn Val> = Box::new(string_list(values));
        (key, list)
    }))
}

/// `queryString.decode(s)` / `s.decodeQueryString()`: a map of each key to its value, as
/// ngrok's docs use it (`queryString.decode('a=b')['a'] == 'b'`); a key given several times maps
/// to the list of its values, in order, which is what `queryString.encode` takes back. An
/// invalid query string is an error.
fn decode<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    match parse_query(str_arg(&args, 0)?) {
        (values, None) => Ok(CowVal::owned(string_map(values.into_iter().map(
            |(key, mut values)| {
                let value: Box<dyn Val> = if values.len() == 1 {
                    boxed_str(values.remove(0))
                } else {
                    Box::new(string_list(values))
                };
                (key, value)
            },
        )))),
        (_, Some(e)) => Err(fail("queryString.decode", e)),
    }
}

/// `s.isQueryString()`: whether `s` could be the query of a URL: it decodes without error (as
/// Go's `url.ParseQuery`) and holds no character a URL must escape in its query (white space,
/// control characters, `#`), so prose such as `'not a query string'` is not one.
fn is_query_string<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let raw = str_arg(&args, 0)?;
    let allowed = !raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#');
    Ok(bool_val(allowed && parse_query(raw).1.is_none()))
}

/// `queryString.encode(m)` / `m.encodeQueryString()`: `key=value` pairs
/// sorted by key, escaped, as Go's `url.Values.Encode`. A value is a string
/// or a list of strings.
fn encode<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let map = args.first().map(|m| m.as_ref());
    let map = map
        .and_then(|m| m.downcast_ref::<CelMap>())
        .ok_or_else(|| fail("queryString.encode", "expected a map"))?;
    let mut pairs: Vec<(&str, Vec<&str>)> = Vec::with_capacity(map.len());
    for (key, value) in map.iter() {
        let key = as_str(key.inner()).ok_or_else(|| unexpected(key.inner(), "string key"))?;
        let mut values = Vec::new();
        if let Some(single) = as_str(value.as_ref()) {
            values.push(single);
        } else if value.downcast_ref::<CelList>().is_some() {
            for_each_item(value.as_ref(), |item| {
                values.push(as_str(item).ok_or_else(|| unexpected(item, "string"))?);
                Ok(())
            })?;
        } else {
            return Err(unexpected(value.as_ref(), "string or list(string)"));
        }
        pairs.push((key, values));
    }
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (key, values) in pairs {
        let key = query_escape(key);
        for value in values {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&key);
            out.push('=');
            out.push_str(&query_escape(value));
        }
    }
    Ok(CowVal::owned(cel::common::types::CelString::from(out)))
}
