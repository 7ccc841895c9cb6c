//! JSON: `json.decode(s)` / `s.decodeJson()`, `json.encode(v)` /
//! `list.encodeJson()` / `map.encodeJson()`, and `s.isJson()`.

use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt, DYN_TYPE,
    LIST_TYPE, MAP_TYPE, STRING_TYPE,
};
use cel::common::value::{CowVal, Val};
use cel::{Env, ExecutionError, Value};
use serde_json::Value as Json;

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, bool_val, fail, str_arg, string_val, unexpected};

/// Registers the JSON functions and methods.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_overload(
        "json.decode",
        "json_decode_string",
        vec![STRING_TYPE],
        decode,
    )?;
    env.add_member_overload(
        "decodeJson",
        "string_decode_json",
        STRING_TYPE,
        vec![],
        decode,
    )?;
    env.add_overload("json.encode", "json_encode_dyn", vec![DYN_TYPE], encode)?;
    env.add_member_overload("encodeJson", "list_encode_json", LIST_TYPE, vec![], encode)?;
    env.add_member_overload("encodeJson", "map_encode_json", MAP_TYPE, vec![], encode)?;
    env.add_member_overload("isJson", "string_is_json", STRING_TYPE, vec![], is_json)?;
    Ok(())
}

/// `json.decode(s)` / `s.decodeJson()`: the CEL value of the JSON text `s`.
/// Integral numbers that fit an `int` decode to `int`, others to `double`.
fn decode<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let json: Json =
        serde_json::from_str(str_arg(&args, 0)?).map_err(|e| fail("json.decode", e))?;
    Ok(CowVal::Owned(from_json(json)))
}

/// `s.isJson()`: whether `s` is one well-formed JSON value.
fn is_json<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let valid = serde_json::from_str::<serde::de::IgnoredAny>(str_arg(&args, 0)?).is_ok();
    Ok(bool_val(valid))
}

/// `json.encode(v)` / `v.encodeJson()`: compact JSON text for `v`, map keys
/// sorted. Bytes encode as base64, timestamps as RFC 3339, durations as
/// nanoseconds (cel's own JSON mapping).
fn encode<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let val = args
        .first()
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?;
    let json = to_json(val.as_ref())?;
    serde_json::to_string(&json)
        .map(string_val)
        .map_err(|e| fail("json.encode", e))
}

/// Converts parsed JSON into a CEL value.
pub(crate) fn from_json<'v>(json: Json) -> Box<dyn Val + 'v> {
    match json {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Box::new(CelInt::from(i)),
            None => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Json::String(s) => Box::new(CelString::from(s)),
        Json::Array(items) => Box::new(CelList::from(
            items.into_iter().map(from_json).collect::<Vec<_>>(),
        )),
        Json::Object(entries) => {
            let map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = entries
                .into_iter()
                .map(|(k, v)| (CelMapKey::from(k), from_json(v)))
                .collect();
            Box::new(CelMap::from(map))
        }
    }
}

/// Converts a CEL value into JSON.
pub(crate) fn to_json(val: &dyn Val) -> Result<Json, ExecutionError> {
    if let Some(s) = val.downcast_ref::<CelString>() {
        return Ok(Json::String(s.inner().to_owned()));
    }
    if let Some(i) = val.downcast_ref::<CelInt>() {
        return Ok(Json::from(*i.inner()));
    }
    if let Some(b) = val.downcast_ref::<CelBool>() {
        return Ok(Json::Bool(*b.inner()));
    }
    if let Some(d) = val.downcast_ref::<CelDouble>() {
        return serde_json::Number::from_f64(*d.inner())
            .map(Json::Number)
            .ok_or_else(|| fail("json.encode", format!("unsupported number {}", d.inner())));
    }
    if let Some(u) = val.downcast_ref::<CelUInt>() {
        return Ok(Json::from(*u.inner()));
    }
    if val.downcast_ref::<CelNull>().is_some() {
        return Ok(Json::Null);
    }
    if let Some(list) = val.downcast_ref::<CelList>() {
        return list
            .inner()
            .iter()
            .map(|item| to_json(item.as_ref()))
            .collect();
    }
    if let Some(map) = val.downcast_ref::<CelMap>() {
        // Sorted keys, so the output is stable whatever the map's iteration order.
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map.iter() {
            entries.push((key_string(key.inner())?, to_json(value.as_ref())?));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        return Ok(Json::Object(entries.into_iter().collect()));
    }
    let value = Value::try_from(val)?;
    value.json().map_err(|e| fail("json.encode", e))
}

/// A map key as a JSON object key: strings as they are, numbers and
/// booleans in decimal / `true` / `false`.
fn key_string(key: &dyn Val) -> Result<String, ExecutionError> {
    if let Some(s) = key.downcast_ref::<CelString>() {
        Ok(s.inner().to_owned())
    } else if let Some(i) = key.downcast_ref::<CelInt>() {
        Ok(i.inner().to_string())
    } else if let Some(u) = key.downcast_ref::<CelUInt>() {
        Ok(u.inner().to_string())
    } else if let Some(b) = key.downcast_ref::<CelBool>() {
        Ok(b.inner().to_string())
    } else {
        Err(unexpected(key, "map key"))
    }
}
