//! Helpers for building and rendering CEL values.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Value;
use cel::objects::{Key, Map};

/// A map value from string keys.
pub fn map<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let map: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_string())), v))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// A map value from owned string keys.
pub fn map_owned(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
    let map: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k)), v))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// A string value.
pub fn string(s: impl Into<String>) -> Value {
    Value::String(Arc::new(s.into()))
}

/// A list of strings.
pub fn string_list<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::List(Arc::new(items.into_iter().map(string).collect()))
}

/// The CEL type name of a value, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Function(..) => "function",
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "bool",
        Value::Duration(_) => "duration",
        Value::Timestamp(_) => "timestamp",
        Value::Opaque(_) => "opaque",
        Value::Struct(_) => "struct",
        Value::Null => "null",
    }
}

/// Renders a value into text for string interpolation: strings as they are, numbers and
/// booleans in CEL's spelling, lists and maps as JSON, null as the empty string.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Timestamp(t) => go_timestamp(t),
        Value::Duration(d) => go_duration(d),
        other => to_json(other).to_string(),
    }
}

/// A timestamp as cel-go's `string(timestamp)` writes it (Go's `time.RFC3339Nano` in UTC):
/// `Z`, and a fraction of a second only when it is not zero, without trailing zeros.
fn go_timestamp(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    let utc = t.with_timezone(&chrono::Utc);
    let nanos = utc.timestamp_subsec_nanos() % 1_000_000_000;
    let base = utc.format("%Y-%m-%dT%H:%M:%S");
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{base}.{}Z", fraction.trim_end_matches('0'))
    }
}

/// A duration as cel-go's `string(duration)` writes it: seconds with as many decimals as
/// needed, then `s` (`1.5s`, `90s`, `0.000001s`).
fn go_duration(d: &chrono::Duration) -> String {
    let nanos = d
        .num_nanoseconds()
        .map_or_else(|| d.num_milliseconds() as f64 / 1e3, |n| n as f64 / 1e9);
    format!("{nanos}s")
}

/// Converts a CEL value to JSON.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => {
            let mut entries: Vec<(String, J)> = m
                .map
                .iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            J::Object(entries.into_iter().collect())
        }
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.as_str().to_string()),
        Value::Bool(b) => J::Bool(*b),
        Value::Null => J::Null,
        other => J::String(to_text(other)),
    }
}

/// Converts JSON to a CEL value.
pub fn from_json(j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_u64().map(Value::UInt))
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        J::String(s) => string(s.as_str()),
        J::Array(items) => Value::List(Arc::new(items.iter().map(from_json).collect())),
        J::Object(o) => map_owned(o.iter().map(|(k, v)| (k.clone(), from_json(v)))),
    }
}

fn key_text(k: &Key) -> String {
    match k {
        Key::String(s) => s.as_str().to_string(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
    }
}
