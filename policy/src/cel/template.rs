//! `${…}` interpolation in action config strings, compiled once at load.
//!
//! A string that is exactly one `${expr}` keeps the expression's CEL type; any other string
//! with interpolations renders to text. `$${` writes a literal `${`.

use cel::Value;

use super::expr::{CompileError, EvalError, Expr};
use super::lexer::skip_string;
use super::scope::Scope;
use super::value::{string, to_text};

/// A compiled config string.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Expr(Expr),
}

/// A template that does not compile, with the byte offset of the bad `${`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Offset in the string of the interpolation at fault.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// The expression's own error, when it is a CEL error.
    pub cel: Option<CompileError>,
}

impl Template {
    /// Compiles a config string.
    pub fn compile(src: &str) -> Result<Template, TemplateError> {
        let bytes = src.as_bytes();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' && src[i..].starts_with("$${") {
                lit.push_str("${");
                i += 3;
                continue;
            }
            if bytes[i] == b'$' && src[i..].starts_with("${") {
                let start = i + 2;
                let end = find_close(bytes, start).ok_or_else(|| TemplateError {
                    offset: i,
                    message: "unterminated `${`: add the closing `}`".into(),
                    cel: None,
                })?;
                let inner = &src[start..end];
                if inner.trim().is_empty() {
                    return Err(TemplateError {
                        offset: i,
                        message: "empty `${}`: write an expression inside".into(),
                        cel: None,
                    });
                }
                let expr = Expr::compile(inner).map_err(|e| TemplateError {
                    offset: i,
                    message: format!("in `${{{inner}}}`: {e}"),
                    cel: Some(e),
                })?;
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Expr(expr));
                i = end + 1;
                continue;
            }
            let ch_len = src[i..].chars().next().map_or(1, char::len_utf8);
            lit.push_str(&src[i..i + ch_len]);
            i += ch_len;
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            parts,
            source: src.to_string(),
        })
    }

    /// The string as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text when the template has no interpolation.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Whether it contains at least one `${…}`.
    pub fn is_dynamic(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Expr(_)))
    }

    /// The expressions inside, in order.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Lit(_) => None,
        })
    }

    /// The request/response fields its expressions read.
    pub fn needs(&self) -> super::Needs {
        let mut n = super::Needs::default();
        for e in self.exprs() {
            n.merge(e.needs());
        }
        n
    }

    /// Renders to text.
    pub fn render(&self, scope: &Scope) -> Result<String, EvalError> {
        self.render_with(scope, |s| s)
    }

    /// Renders to text, passing each interpolated value through `escape` (e.g. URL-escaping).
    pub fn render_with(
        &self,
        scope: &Scope,
        escape: impl Fn(String) -> String,
    ) -> Result<String, EvalError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(e) => out.push_str(&escape(to_text(&e.eval(scope)?))),
            }
        }
        Ok(out)
    }

    /// Renders keeping the CEL type when the template is exactly one `${…}`.
    pub fn render_value(&self, scope: &Scope) -> Result<Value, EvalError> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => e.eval(scope),
            _ => Ok(string(self.render(scope)?)),
        }
    }
}

/// Finds the `}` that closes an interpolation starting at `start`, skipping string literals
/// and nested braces (CEL map literals).
fn find_close(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}
