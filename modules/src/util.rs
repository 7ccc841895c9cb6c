//! Small helpers shared by several actions.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use sluice_policy::cel::Template;

use crate::scalar_text::ScalarText;
use sluice_policy::{ActionError, BuildCx, Code};

/// Header names actions may neither add nor remove.
pub(crate) const PROTECTED_HEADERS: &[&str] = &["user-agent"];

/// A header name and its compiled value template.
pub(crate) type HeaderTemplates = Vec<(HeaderName, Template)>;

/// Compiles `headers` (a map of name → `${…}` value) with validation: lower-cased names, valid
/// header syntax, at most `max` entries, none of `forbidden`.
pub(crate) fn header_templates(
    cx: &mut BuildCx<'_>,
    field: &str,
    headers: &BTreeMap<String, ScalarText>,
    max: usize,
    forbidden: &[&str],
) -> Option<HeaderTemplates> {
    if headers.len() > max {
        cx.error_at(
            Code::TooManyEntries,
            field,
            format!("at most {max} headers, found {}", headers.len()),
        );
        return None;
    }
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let rel = format!("{field}.{name}");
        if forbidden.contains(&lower.as_str()) {
            cx.error_at(
                Code::InvalidValue,
                &rel,
                format!("the `{lower}` header cannot be changed by a policy"),
            );
            continue;
        }
        let Ok(header) = HeaderName::from_bytes(lower.as_bytes()) else {
            cx.error_at(
                Code::InvalidValue,
                &rel,
                format!("`{name}` is not a valid header name"),
            );
            continue;
        };
        if let Some(t) = cx.template(&rel, value.as_str()) {
            out.push((header, t));
        }
    }
    (!cx.failed()).then_some(out)
}

/// Renders header templates into a header map.
pub(crate) fn render_headers(
    scope: &sluice_policy::cel::Scope,
    action: &str,
    templates: &HeaderTemplates,
) -> Result<Vec<(HeaderName, HeaderValue)>, ActionError> {
    templates
        .iter()
        .map(|(name, t)| {
            let text = t
                .render(scope)
                .map_err(|e| ActionError::interpolation(action, name.as_str(), e))?;
            let value = HeaderValue::from_str(&text).map_err(|_| {
                ActionError::interpolation(action, name.as_str(), "not a valid header value")
            })?;
            Ok((name.clone(), value))
        })
        .collect()
}

/// Appends (or for `host`, replaces) headers.
pub(crate) fn add_to(map: &mut HeaderMap, headers: Vec<(HeaderName, HeaderValue)>) {
    for (name, value) in headers {
        if name == http::header::HOST {
            map.insert(name, value);
        } else {
            map.append(name, value);
        }
    }
}

/// A JSON value whose strings are `${…}` templates: used by `set-vars` and `log`.
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    /// A literal non-string value.
    Literal(serde_json::Value),
    /// A string template (typed when it is exactly one `${…}`).
    Text(Template),
    /// A list.
    List(Vec<JsonTemplate>),
    /// A map.
    Map(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Compiles every string in `value`; `rel` locates errors.
    pub(crate) fn compile(
        cx: &mut BuildCx<'_>,
        rel: &str,
        value: &serde_json::Value,
    ) -> Option<JsonTemplate> {
        use serde_json::Value as J;
        Some(match value {
            J::String(s) => JsonTemplate::Text(cx.template(rel, s)?),
            J::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(JsonTemplate::compile(cx, &format!("{rel}[{i}]"), item)?);
                }
                JsonTemplate::List(out)
            }
            J::Object(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    out.push((
                        k.clone(),
                        JsonTemplate::compile(cx, &format!("{rel}.{k}"), v)?,
                    ));
                }
                JsonTemplate::Map(out)
            }
            other => JsonTemplate::Literal(other.clone()),
        })
    }

    /// Evaluates to a CEL value.
    pub(crate) fn eval(
        &self,
        scope: &sluice_policy::cel::Scope,
    ) -> Result<cel::Value, sluice_policy::cel::EvalError> {
        use sluice_policy::cel::value::{from_json, map_owned};
        Ok(match self {
            JsonTemplate::Literal(v) => from_json(v),
            JsonTemplate::Text(t) => t.render_value(scope)?,
            JsonTemplate::List(items) => cel::Value::List(std::sync::Arc::new(
                items
                    .iter()
                    .map(|i| i.eval(scope))
                    .collect::<Result<Vec<_>, _>>()?,
            )),
            JsonTemplate::Map(entries) => map_owned(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.eval(scope)?)))
                    .collect::<Result<Vec<_>, sluice_policy::cel::EvalError>>()?,
            ),
        })
    }
}
