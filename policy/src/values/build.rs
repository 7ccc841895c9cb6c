//! Builders for the interpreter's own value representation (`Box<dyn Val>`), so per-request
//! variables are made once, directly, without an intermediate copy.

use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelBytes, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelString, CelTimestamp,
};
use cel::common::value::Val;

/// An owned interpreter value.
pub(crate) type BoxVal = Box<dyn Val>;

pub(crate) fn s(v: impl Into<String>) -> BoxVal {
    Box::new(CelString::from(v.into()))
}

pub(crate) fn int(v: i64) -> BoxVal {
    Box::new(CelInt::from(v))
}

pub(crate) fn boolean(v: bool) -> BoxVal {
    Box::new(CelBool::from(v))
}

pub(crate) fn bytes(v: Vec<u8>) -> BoxVal {
    Box::new(CelBytes::from(v))
}

pub(crate) fn list(items: Vec<BoxVal>) -> BoxVal {
    Box::new(CelList::from(items))
}

pub(crate) fn timestamp(t: std::time::SystemTime) -> BoxVal {
    date_time(t.into())
}

pub(crate) fn date_time(dt: chrono::DateTime<chrono::Utc>) -> BoxVal {
    Box::new(CelTimestamp::from(dt.fixed_offset()))
}

/// A duration of whole seconds.
pub(crate) fn duration(secs: i64) -> BoxVal {
    Box::new(CelDuration::from(chrono::Duration::seconds(secs)))
}

/// A map with fixed field names.
pub(crate) fn map(fields: Vec<(&'static str, BoxVal)>) -> BoxVal {
    let map: HashMap<CelMapKey<'static>, BoxVal> = fields
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(map))
}

/// A map with data-dependent keys.
pub(crate) fn map_owned(fields: impl IntoIterator<Item = (String, BoxVal)>) -> BoxVal {
    let map: HashMap<CelMapKey<'static>, BoxVal> = fields
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(map))
}

/// Groups `(name, value)` pairs into `name → list`, keeping first-seen order of values.
pub(crate) fn grouped(pairs: impl IntoIterator<Item = (String, BoxVal)>) -> BoxVal {
    let mut groups: HashMap<String, Vec<BoxVal>> = HashMap::new();
    for (k, v) in pairs {
        groups.entry(k).or_default().push(v);
    }
    map_owned(groups.into_iter().map(|(k, v)| (k, list(v))))
}
