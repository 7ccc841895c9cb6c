//! `req.content_type` / `res.content_type`: the bare media type (`application/json`), with the
//! header as sent in `.raw` and its parameters in `.parameters`, as ngrok gives them.
//!
//! Hand-written rather than the `mime` crate: ngrok's values follow Go's `mime.ParseMediaType`,
//! which keeps parameter values as sent (`charset=UTF-8` stays `UTF-8`), while `mime` lowercases
//! the charset value; the few lines below read a header the way Go does.

/// A `Content-Type` header split into media type and parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MediaType {
    /// `type/subtype`, lower-case and trimmed; empty when there is no header.
    pub essence: String,
    /// Parameter names (lower-case) and values (unquoted), in header order. A malformed
    /// parameter is left out; a repeated one keeps its first value.
    pub parameters: Vec<(String, String)>,
}

/// Reads a `Content-Type` header value.
pub(crate) fn parse(raw: &str) -> MediaType {
    let (essence, mut rest) = raw.split_once(';').unwrap_or((raw, ""));
    let mut parameters: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let Some((param, after)) = parameter(rest) else {
            // Skip to the next `;`: this parameter is malformed.
            rest = rest.split_once(';').map_or("", |(_, r)| r);
            continue;
        };
        rest = after;
        if !parameters.iter().any(|(k, _)| *k == param.0) {
            parameters.push(param);
        }
    }
    MediaType {
        essence: essence.trim().to_ascii_lowercase(),
        parameters,
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c)
}

/// One `name=value` (value a token or a quoted string) at the start of `s`, and what follows.
fn parameter(s: &str) -> Option<((String, String), &str)> {
    let name_end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    let name = &s[..name_end];
    let rest = s[name_end..].trim_start().strip_prefix('=')?.trim_start();
    if name.is_empty() {
        return None;
    }
    let (value, after) = if let Some(quoted) = rest.strip_prefix('"') {
        unquote(quoted)?
    } else {
        let end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        (rest[..end].to_string(), &rest[end..])
    };
    let after = after.trim_start();
    if !(after.is_empty() || after.starts_with(';')) {
        return None;
    }
    Some(((name.to_ascii_lowercase(), value), after))
}

/// The body of a quoted string (after its opening `"`), with `\x` read as `x`.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Vec<(String, String)> {
        parse(raw).parameters
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn the_media_type_is_bare_and_lower_case() {
        assert_eq!(parse("application/json").essence, "application/json");
        assert_eq!(
            parse("Application/JSON; charset=utf-8").essence,
            "application/json"
        );
        assert_eq!(parse(" text/html ;q=1").essence, "text/html");
        assert_eq!(parse(""), MediaType::default());
    }

    #[test]
    fn parameters_keep_their_values_as_sent() {
        assert_eq!(
            params("text/html; Charset=UTF-8"),
            vec![pair("charset", "UTF-8")]
        );
        assert_eq!(
            params(r#"multipart/form-data; boundary="a b;c\"d"; x=1"#),
            vec![pair("boundary", "a b;c\"d"), pair("x", "1")]
        );
        assert_eq!(
            params("text/plain;a=1;;b=2"),
            vec![pair("a", "1"), pair("b", "2")]
        );
    }

    #[test]
    fn malformed_or_repeated_parameters_are_left_out() {
        assert_eq!(
            params("text/plain; junk; a=1; b=; c=\"open; d=4"),
            vec![pair("a", "1"), pair("d", "4")]
        );
        assert_eq!(params("text/plain; a=1; A=2"), vec![pair("a", "1")]);
    }
}
