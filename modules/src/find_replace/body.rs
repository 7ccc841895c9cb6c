//! The shared half of `request-body-find-replace` and `response-body-find-replace`: the
//! compiled replacements and the buffering [`BodyTransform`] that applies them.

use std::sync::Arc;

use bytes::Bytes;
use cel::Value;
use regex::bytes::Regex;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::map;
use sluice_policy::{ActionError, BodyError, BodyTransform, BuildCx, Code, HttpCx, PhaseCx};

use super::{Pattern, render_to, to_template, verbatim};

/// How much of a body the find/replace actions buffer (10 MiB).
pub(crate) const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// One regex and its rendered replacement, ready for a body.
pub(crate) type Ready = Vec<(Arc<Regex>, Vec<u8>)>;

/// The configured replacements of one body find/replace action.
pub(crate) struct BodyRules {
    rules: Vec<(Pattern<Regex>, Template)>,
}

impl BodyRules {
    /// Compiles `(from, to)` pairs from `replacements[i]`.
    pub(crate) fn build<'a>(
        cx: &mut BuildCx<'_>,
        entries: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Self> {
        if entries.len() == 0 {
            cx.error_at(
                Code::InvalidValue,
                "replacements",
                "give at least one replacement",
            );
            return None;
        }
        let mut rules = Vec::new();
        for (i, (from, to)) in entries.enumerate() {
            let from = Pattern::build(cx, &format!("replacements[{i}].from"), from);
            let to = to_template(cx, &format!("replacements[{i}].to"), to);
            if let (Some(from), Some(to)) = (from, to) {
                rules.push((from, to));
            }
        }
        (!cx.failed()).then_some(BodyRules { rules })
    }

    /// Renders every `from` and `to` for this exchange.
    pub(crate) fn prepare(&self, cx: &HttpCx<'_>, action: &str) -> Result<Ready, ActionError> {
        let mut out = Vec::with_capacity(self.rules.len());
        for (i, (from, to)) in self.rules.iter().enumerate() {
            let field = format!("replacements[{i}].from");
            let regex = from.resolve(cx.scope(), verbatim, action, &field)?;
            let to = render_to(to, cx.scope(), verbatim, true).map_err(|e| {
                ActionError::interpolation(action, &format!("replacements[{i}].to"), e)
            })?;
            out.push((regex, to.into_bytes()));
        }
        Ok(out)
    }

    /// The result variable: `{replacements: [{replacement_index: i}, …]}`. What each rule
    /// matched is only known once the body has streamed, after the policy phase, so
    /// `matched_content` is not exposed.
    pub(crate) fn result(&self) -> Value {
        let items = (0..self.rules.len())
            .map(|i| map([("replacement_index", Value::Int(i as i64))]))
            .collect();
        map([("replacements", Value::List(Arc::new(items)))])
    }

    /// The `from` patterns, for `policy explain`.
    pub(crate) fn summary(&self) -> String {
        let froms: Vec<&str> = self.rules.iter().map(|(f, _)| f.source()).collect();
        format!("replaces {}", froms.join(", "))
    }
}

/// Applies every replacement in order, each to all its matches.
pub(crate) fn apply(rules: &Ready, body: &[u8]) -> Vec<u8> {
    let mut data = body.to_vec();
    for (regex, to) in rules {
        if let std::borrow::Cow::Owned(changed) = regex.replace_all(&data, to.as_slice()) {
            data = changed;
        }
    }
    data
}

/// Buffers a body (up to a limit), then replaces at its end.
pub(crate) struct FindReplaceBody {
    rules: Ready,
    buf: Vec<u8>,
    limit: usize,
}

impl FindReplaceBody {
    /// A transform applying `rules`, buffering at most `limit` bytes.
    pub(crate) fn new(rules: Ready, limit: usize) -> Self {
        FindReplaceBody {
            rules,
            buf: Vec::new(),
            limit,
        }
    }
}

impl BodyTransform for FindReplaceBody {
    fn transform(&mut self, chunk: Bytes, end: bool) -> Result<Bytes, BodyError> {
        if self.buf.len().saturating_add(chunk.len()) > self.limit {
            self.buf = Vec::new();
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(&chunk);
        if !end {
            return Ok(Bytes::new());
        }
        let body = std::mem::take(&mut self.buf);
        Ok(Bytes::from(apply(&self.rules, &body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, &str)]) -> Ready {
        pairs
            .iter()
            .map(|(f, t)| {
                (
                    Arc::new(Regex::new(f).expect("regex")),
                    t.as_bytes().to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn buffers_across_chunks() {
        let mut t = FindReplaceBody::new(rules(&[("foo", "bar")]), 100);
        assert_eq!(
            t.transform(Bytes::from_static(b"xxfo"), false),
            Ok(Bytes::new())
        );
        assert_eq!(
            t.transform(Bytes::from_static(b"o foo"), true),
            Ok(Bytes::from_static(b"xxbar bar"))
        );
    }

    #[test]
    fn limit_counts_all_chunks() {
        let mut t = FindReplaceBody::new(rules(&[("a", "b")]), 5);
        assert!(t.transform(Bytes::from_static(b"abc"), false).is_ok());
        assert_eq!(
            t.transform(Bytes::from_static(b"abc"), true),
            Err(BodyError::TooLarge { limit: 5 })
        );
    }

    #[test]
    fn rules_apply_in_order_with_captures() {
        let r = rules(&[(r"(\w+)@example\.com", "$1@example.org"), ("org", "net")]);
        assert_eq!(
            apply(&r, b"a@example.com, b@example.com"),
            b"a@example.net, b@example.net"
        );
    }
}
