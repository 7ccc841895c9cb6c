//! Decoding `jwt-validation`'s `jws.keys`, which ngrok documents both as an object
//! (`{sources: {additional_jkus}, identification}`, as every example writes it) and as a list.

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sluice_policy::{BuildCx, Code};

use super::MAX_JWKS_SOURCES;

/// An object, or a list of them.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// `jws.keys`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysSpec {
    /// Where keys come from.
    #[schemars(with = "OneOrMany<SourcesSpec>")]
    sources: serde_json::Value,
    /// How a token names its key.
    #[serde(default)]
    identification: Option<IdentificationSpec>,
}

/// `jws.keys.sources`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourcesSpec {
    /// JWKS URLs (static), 1 to 100.
    #[serde(default)]
    additional_jkus: Vec<String>,
}

/// `jws.keys.identification`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentificationSpec {
    /// Claims naming the key; only `kid`.
    #[serde(default)]
    token_claims: Vec<String>,
}

/// Decodes `value` as one `T` or a list of them, reporting problems at `rel`.
pub(crate) fn one_or_many<T: DeserializeOwned>(
    cx: &mut BuildCx<'_>,
    rel: &str,
    value: &serde_json::Value,
) -> Option<Vec<T>> {
    let items: Vec<(String, &serde_json::Value)> = match value {
        serde_json::Value::Array(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{rel}[{i}]"), v))
            .collect(),
        serde_json::Value::Object(_) => vec![(rel.to_owned(), value)],
        _ => {
            cx.error_at(
                Code::InvalidConfig,
                rel,
                "must be an object (or a non-empty list of objects)",
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (path, v) in items {
        match serde_json::from_value::<T>(v.clone()) {
            Ok(t) => out.push(t),
            Err(e) => cx.error_at(Code::InvalidConfig, &path, e.to_string()),
        }
    }
    (out.len() == value.as_array().map_or(1, Vec::len)).then_some(out)
}

/// Compiles `jws.keys`: the JWKS URLs and whether `kid` is required.
pub(crate) fn keys(cx: &mut BuildCx<'_>, value: &serde_json::Value) -> Option<(Vec<String>, bool)> {
    let specs: Vec<KeysSpec> = one_or_many(cx, "jws.keys", value)?;
    let (mut urls, mut require_kid) = (Vec::new(), false);
    for (k, spec) in specs.iter().enumerate() {
        let base = if value.is_array() {
            format!("jws.keys[{k}]")
        } else {
            "jws.keys".to_owned()
        };
        let sources_rel = format!("{base}.sources");
        let sources: Vec<SourcesSpec> = one_or_many(cx, &sources_rel, &spec.sources)?;
        for (s, source) in sources.iter().enumerate() {
            let rel = if spec.sources.is_array() {
                format!("{sources_rel}[{s}].additional_jkus")
            } else {
                format!("{sources_rel}.additional_jkus")
            };
            for (i, url) in source.additional_jkus.iter().enumerate() {
                let path = format!("{rel}[{i}]");
                let Some(t) = cx.template(&path, url) else {
                    continue;
                };
                match t.as_static() {
                    Some(url) if jwks_url_ok(url) => urls.push(url.to_owned()),
                    Some(_) => cx.error_at(
                        Code::InvalidValue,
                        &path,
                        "must be an http(s) URL with a host",
                    ),
                    None => cx.error_at(
                        Code::InvalidValue,
                        &path,
                        "must be a static URL (keys are cached per action)",
                    ),
                }
            }
        }
        for (i, claim) in spec
            .identification
            .iter()
            .flat_map(|id| &id.token_claims)
            .enumerate()
        {
            if claim == "kid" {
                require_kid = true;
            } else {
                let path = format!("{base}.identification.token_claims[{i}]");
                cx.error_at(Code::InvalidValue, &path, "only `kid` is supported");
            }
        }
    }
    if urls.is_empty() && !cx.failed() {
        cx.error_at(
            Code::InvalidValue,
            "jws.keys.sources.additional_jkus",
            "give at least one JWKS URL",
        );
    } else if urls.len() > MAX_JWKS_SOURCES {
        let msg = format!("at most {MAX_JWKS_SOURCES} JWKS URLs, found {}", urls.len());
        cx.error_at(
            Code::TooManyEntries,
            "jws.keys.sources.additional_jkus",
            msg,
        );
    }
    Some((urls, require_kid))
}

fn jwks_url_ok(url: &str) -> bool {
    url.parse::<http::Uri>().is_ok_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    })
}
