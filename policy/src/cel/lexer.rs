//! A small CEL tokenizer, just enough to rewrite field accesses and to split `${…}` templates
//! without being fooled by string literals.

/// A token's kind and byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident,
    Dot,
    OpenParen,
    OpenBrace,
    CloseBrace,
    Str,
    Other,
}

/// Splits `src` into tokens: `(kind, start, end)`.
pub(crate) fn tokens(src: &str) -> Vec<(Tok, usize, usize)> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if is_ident_start(c) {
            // String prefixes: r"", b"", rb"", br"" (any case).
            let mut j = i;
            while j < bytes.len() && is_ident_char(bytes[j]) {
                j += 1;
            }
            let word = &src[i..j];
            let is_prefix = matches!(word.to_ascii_lowercase().as_str(), "r" | "b" | "rb" | "br");
            if is_prefix && j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') {
                let raw = word.to_ascii_lowercase().contains('r');
                let end = skip_string(bytes, j, raw);
                out.push((Tok::Str, start, end));
                i = end;
                continue;
            }
            out.push((Tok::Ident, i, j));
            i = j;
            continue;
        }
        match c {
            b'"' | b'\'' => {
                let end = skip_string(bytes, i, false);
                out.push((Tok::Str, start, end));
                i = end;
            }
            b'.' if !(i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit()) => {
                out.push((Tok::Dot, i, i + 1));
                i += 1;
            }
            b'(' => {
                out.push((Tok::OpenParen, i, i + 1));
                i += 1;
            }
            b'{' => {
                out.push((Tok::OpenBrace, i, i + 1));
                i += 1;
            }
            b'}' => {
                out.push((Tok::CloseBrace, i, i + 1));
                i += 1;
            }
            _ => {
                // Numbers and operators: one "other" token per char is enough for our needs,
                // except that a number's digits must not look like identifiers.
                let mut j = i + 1;
                if c.is_ascii_digit() {
                    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'.')
                    {
                        j += 1;
                    }
                }
                out.push((Tok::Other, i, j));
                i = j;
            }
        }
    }
    out
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Returns the index just past the string literal starting at `i` (a quote character).
pub(crate) fn skip_string(bytes: &[u8], i: usize, raw: bool) -> usize {
    let quote = bytes[i];
    let triple = i + 2 < bytes.len() && bytes[i + 1] == quote && bytes[i + 2] == quote;
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < bytes.len() {
        let c = bytes[j];
        if c == b'\\' && !raw {
            j += 2;
            continue;
        }
        if c == quote {
            if !triple {
                return j + 1;
            }
            if j + 2 < bytes.len() && bytes[j + 1] == quote && bytes[j + 2] == quote {
                return j + 3;
            }
        }
        j += 1;
    }
    bytes.len()
}

/// Variables that are strings but also carry subfields in ngrok's environment.
/// `req.url.path` reads the hidden `req.__url` map, while `req.url` alone stays a string.
const STRING_WITH_FIELDS: &[(&str, &str)] = &[
    ("req", "url"),
    ("req", "content_type"),
    ("req", "user_agent"),
    ("res", "content_type"),
    ("conn", "client_ip"),
    ("conn", "server_ip"),
];

/// The hidden key that holds the subfields of a string-with-fields variable.
pub(crate) fn hidden_key(field: &str) -> String {
    format!("__{field}")
}

/// Rewrites `req.url.path` into `req.__url.path` (and likewise for the other
/// string-with-fields variables), leaving method calls such as `req.url.startsWith(…)` alone.
pub(crate) fn rewrite_subfields(src: &str) -> String {
    let toks = tokens(src);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for w in 0..toks.len() {
        // Pattern: Ident(root) Dot Ident(field) Dot Ident(sub), not followed by '('.
        let Some(&(t0, s0, e0)) = toks.get(w) else {
            continue;
        };
        let (Some(&(t1, ..)), Some(&(t2, s2, e2)), Some(&(t3, ..)), Some(&(t4, ..))) = (
            toks.get(w + 1),
            toks.get(w + 2),
            toks.get(w + 3),
            toks.get(w + 4),
        ) else {
            continue;
        };
        if t0 != Tok::Ident || t1 != Tok::Dot || t2 != Tok::Ident || t3 != Tok::Dot {
            continue;
        }
        if t4 != Tok::Ident {
            continue;
        }
        if w > 0 && toks[w - 1].0 == Tok::Dot {
            continue;
        }
        if toks.get(w + 5).is_some_and(|t| t.0 == Tok::OpenParen) {
            continue;
        }
        let root = &src[s0..e0];
        let field = &src[s2..e2];
        if STRING_WITH_FIELDS
            .iter()
            .any(|(r, f)| *r == root && *f == field)
        {
            edits.push((s2, e2, hidden_key(field)));
        }
    }
    if edits.is_empty() {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len() + 8 * edits.len());
    let mut last = 0;
    for (s, e, rep) in edits {
        out.push_str(&src[last..s]);
        out.push_str(&rep);
        last = e;
    }
    out.push_str(&src[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_subfield_access_only() {
        assert_eq!(
            rewrite_subfields("req.url.path.startsWith('/api')"),
            "req.__url.path.startsWith('/api')"
        );
        assert_eq!(
            rewrite_subfields("req.url.startsWith('https')"),
            "req.url.startsWith('https')"
        );
        assert_eq!(rewrite_subfields("req.url == 'x'"), "req.url == 'x'");
        assert_eq!(
            rewrite_subfields("conn.client_ip.geo.location.country == 'US'"),
            "conn.__client_ip.geo.location.country == 'US'"
        );
        assert_eq!(
            rewrite_subfields("'req.url.path' == req.url.path"),
            "'req.url.path' == req.__url.path"
        );
        assert_eq!(rewrite_subfields("x.req.url.path"), "x.req.url.path");
        assert_eq!(
            rewrite_subfields("has(req.url.port)"),
            "has(req.__url.port)"
        );
    }

    #[test]
    fn strings_are_skipped() {
        let t = tokens(r#"'a}b' + "c\"d" + '''x'y''' + r'\'"#);
        assert!(t.iter().all(|(k, ..)| *k == Tok::Str || *k == Tok::Other));
    }
}
