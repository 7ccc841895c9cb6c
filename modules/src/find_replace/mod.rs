//! Regex find/replace shared by `redirect`, `url-rewrite` and the body find/replace actions:
//! `from` patterns (compiled at load when static, per request with a bounded cache when they
//! interpolate `${…}`), `to` templates with `$1`/`${1}` capture references, and URL-escaping.

pub(crate) mod body;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use sluice_policy::cel::{EvalError, Scope, Template};
use sluice_policy::{ActionError, BuildCx, Code};

/// Largest compiled program a pattern may produce (bounds memory for interpolated patterns).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Most interpolated patterns remembered per action before the cache is emptied.
const CACHE_CAP: usize = 256;
/// Runtime code for an interpolated `from` that is not a valid regular expression.
pub(crate) const INVALID_RUNTIME_REGEX: u16 = 3901;

/// A regex flavour (`regex::Regex` for URLs, `regex::bytes::Regex` for bodies).
pub(crate) trait Compile: Sized + Send + Sync + 'static {
    /// Compiles `pattern` with the size limit.
    fn compile(pattern: &str) -> Result<Self, regex::Error>;
}

impl Compile for regex::Regex {
    fn compile(pattern: &str) -> Result<Self, regex::Error> {
        regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
    }
}

impl Compile for regex::bytes::Regex {
    fn compile(pattern: &str) -> Result<Self, regex::Error> {
        regex::bytes::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
    }
}

/// The last line of a regex error (the useful part).
fn short(e: &regex::Error) -> String {
    e.to_string().lines().last().unwrap_or_default().to_string()
}

/// A `from` pattern.
pub(crate) struct Pattern<R> {
    template: Template,
    fixed: Option<Arc<R>>,
    cache: Mutex<HashMap<String, Arc<R>>>,
}

impl<R: Compile> Pattern<R> {
    /// Compiles the template at `rel`, and the regex too when it has no `${…}`.
    pub(crate) fn build(cx: &mut BuildCx<'_>, rel: &str, text: &str) -> Option<Self> {
        if text.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                rel,
                "must not be an empty regular expression",
            );
            return None;
        }
        let template = cx.template(rel, text)?;
        let fixed = match template.as_static() {
            Some(p) => match R::compile(p) {
                Ok(r) => Some(Arc::new(r)),
                Err(e) => {
                    cx.error_at(
                        Code::InvalidRegex,
                        rel,
                        format!("invalid regular expression {p:?}: {}", short(&e)),
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(Pattern {
            template,
            fixed,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The pattern as written.
    pub(crate) fn source(&self) -> &str {
        self.template.source()
    }

    /// The regex for this request: the static one, or the interpolated pattern compiled (and
    /// cached). An interpolated pattern that does not compile is a 500 with code 3901.
    pub(crate) fn resolve(
        &self,
        scope: &Scope,
        escape: impl Fn(String) -> String,
        action: &str,
        field: &str,
    ) -> Result<Arc<R>, ActionError> {
        if let Some(r) = &self.fixed {
            return Ok(r.clone());
        }
        let text = self
            .template
            .render_with(scope, escape)
            .map_err(|e| ActionError::interpolation(action, field, e))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = cache.get(&text) {
            return Ok(r.clone());
        }
        let compiled = R::compile(&text).map_err(|e| ActionError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: INVALID_RUNTIME_REGEX,
            message: format!(
                "action {action} field {field}: the interpolated value {text:?} is not a valid regular expression: {}",
                short(&e)
            ),
        })?;
        let compiled = Arc::new(compiled);
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(text, compiled.clone());
        Ok(compiled)
    }
}

/// Compiles a `to` template at `rel`. `${1}`-style capture references (digits only) are kept
/// for the regex replacement instead of being read as CEL; `$1` and `$name` need no care.
pub(crate) fn to_template(cx: &mut BuildCx<'_>, rel: &str, text: &str) -> Option<Template> {
    cx.template(rel, &protect_numeric_refs(text))
}

/// Rewrites `${<digits>}` into `$${<digits>}` so the template renders it literally.
fn protect_numeric_refs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("$${");
            rest = after;
            continue;
        }
        if let Some(after) = tail.strip_prefix("${")
            && let Some(close) = after.find('}')
            && close > 0
            && after[..close].bytes().all(|b| b.is_ascii_digit())
        {
            out.push_str("$${");
            out.push_str(&after[..=close]);
            rest = &after[close + 1..];
            continue;
        }
        out.push('$');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// Renders a `to` template. Interpolated values go through `escape`, and, when the result is
/// a regex replacement (`for_regex`), their `$` signs are doubled so they stay literal.
pub(crate) fn render_to(
    to: &Template,
    scope: &Scope,
    escape: impl Fn(String) -> String,
    for_regex: bool,
) -> Result<String, EvalError> {
    to.render_with(scope, |v| {
        let v = escape(v);
        if for_regex { v.replace('$', "$$") } else { v }
    })
}

/// No escaping.
pub(crate) fn verbatim(s: String) -> String {
    s
}

/// Escapes a value for a URL path segment like Go's `url.PathEscape`: unreserved characters
/// and `$&+,:;=@` stay, everything else (space, `/`, `?`, `#`, `%`, non-ASCII…) is `%XX`.
pub(crate) fn url_escape(s: String) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-_.~$&+,:;=@".contains(&b);
    if s.bytes().all(keep) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every capture group of `caps` (unmatched ones as empty strings).
pub(crate) fn groups(caps: &regex::Captures<'_>) -> Vec<String> {
    caps.iter()
        .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_refs_are_protected() {
        assert_eq!(protect_numeric_refs("/a/${1}/$2"), "/a/$${1}/$2");
        assert_eq!(
            protect_numeric_refs("${req.host}/${12}"),
            "${req.host}/$${12}"
        );
        assert_eq!(protect_numeric_refs("$${1}"), "$${1}");
        assert_eq!(protect_numeric_refs("cost $"), "cost $");
    }

    #[test]
    fn escapes_like_path_escape() {
        assert_eq!(url_escape("San Francisco".into()), "San%20Francisco");
        assert_eq!(url_escape("a/b?c#d".into()), "a%2Fb%3Fc%23d");
        assert_eq!(url_escape("ü".into()), "%C3%BC");
        assert_eq!(url_escape("x-y_z.~:@".into()), "x-y_z.~:@");
    }
}
