//! Variables that are strings but also have subfields in ngrok's environment: `req.url` is the
//! URL string, while `req.url.path` reads a field of it. The values hold those subfields in a
//! hidden map beside the string (`req.__url`), and the compiled AST is rewritten to read it:
//! `req.url.path` becomes `req.__url.path`, while `req.url` alone and method calls such as
//! `req.url.startsWith(…)` stay on the string. Done on the parsed AST (see
//! [`super::ast_mut`]), so error positions refer to the text as written.

use cel::IdedExpr;
use cel::common::ast::Expr as Ast;

use super::ast_mut::for_each_child_mut;

/// The string-with-fields variables, as their paths.
const STRING_WITH_FIELDS: &[&[&str]] = &[
    &["req", "url"],
    &["req", "content_type"],
    &["req", "user_agent"],
    &["res", "content_type"],
    &["conn", "client_ip"],
    &["conn", "server_ip"],
    &["conn", "tls", "client", "subject"],
    &["conn", "tls", "client", "issuer"],
    &["conn", "tls", "client", "san"],
    &["actions", "ngrok", "terminate_tls", "client", "subject"],
    &["actions", "ngrok", "terminate_tls", "client", "issuer"],
    &["actions", "ngrok", "terminate_tls", "client", "san"],
];

/// The dotted path a chain of field selections reads (`conn.tls.sni`), if `e` is one.
fn select_path(e: &Ast) -> Option<Vec<&str>> {
    match e {
        Ast::Ident(root) => Some(vec![root.as_str()]),
        Ast::Select(sel) => {
            let mut path = select_path(&sel.operand.expr)?;
            path.push(sel.field.as_str());
            Some(path)
        }
        _ => None,
    }
}

/// Rewrites every `path.sub` in `e` whose `path` is a string-with-fields variable into
/// `path` with its last segment prefixed by `__` (`req.url.path` → `req.__url.path`).
pub(crate) fn rewrite_subfields(e: &mut IdedExpr) {
    for_each_child_mut(e, &mut rewrite_subfields);
    let Ast::Select(outer) = &mut e.expr else {
        return;
    };
    let matches = select_path(&outer.operand.expr)
        .is_some_and(|path| STRING_WITH_FIELDS.contains(&path.as_slice()));
    if !matches {
        return;
    }
    if let Ast::Select(inner) = &mut outer.operand.expr {
        inner.field = format!("__{}", inner.field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cel::policy_env;

    /// `src` compiled and rewritten, printed back as the dotted names it reads.
    fn names(src: &str) -> Vec<String> {
        let mut ast = policy_env()
            .compile(src)
            .expect("compiles")
            .expression()
            .clone();
        rewrite_subfields(&mut ast);
        let mut out = Vec::new();
        collect(&mut ast, &mut out);
        out
    }

    fn collect(e: &mut IdedExpr, out: &mut Vec<String>) {
        if let Some(name) = dotted(e) {
            out.push(name);
            return;
        }
        for_each_child_mut(e, &mut |c| collect(c, out));
    }

    fn dotted(e: &IdedExpr) -> Option<String> {
        match &e.expr {
            Ast::Ident(n) => Some(n.clone()),
            Ast::Select(s) => Some(format!("{}.{}", dotted(&s.operand)?, s.field)),
            _ => None,
        }
    }

    #[test]
    fn rewrites_subfield_access_only() {
        assert_eq!(names("req.url.path.startsWith('/api')"), ["req.__url.path"]);
        assert_eq!(names("req.url.startsWith('https')"), ["req.url"]);
        assert_eq!(names("req.url == 'x'"), ["req.url"]);
        assert_eq!(
            names("conn.client_ip.geo.location.country == 'US'"),
            ["conn.__client_ip.geo.location.country"]
        );
        assert_eq!(names("'req.url.path' == req.url.path"), ["req.__url.path"]);
        assert_eq!(names("x.req.url.path"), ["x.req.url.path"]);
        assert_eq!(names("has(req.url.port)"), ["req.__url.port"]);
        assert_eq!(
            names("conn.tls.client.subject.common_name == 'a' && conn.tls.client.subject == ''"),
            [
                "conn.tls.client.__subject.common_name",
                "conn.tls.client.subject"
            ]
        );
        assert_eq!(
            names("res.content_type.mime == req.content_type.mime"),
            ["res.__content_type.mime", "req.__content_type.mime"]
        );
    }

    #[test]
    fn a_syntax_error_after_a_rewritten_name_points_at_the_text_as_written() {
        let src = "req.url.path == '/' && conn.client_ip.geo.country == 'US' && )";
        let err = crate::cel::Expr::compile(src).expect_err("syntax error");
        // Columns count from 1: the `)` is the 62nd character of the text as written (the
        // rewritten text, `req.__url.path` and `conn.__client_ip`, would put it at 66).
        let column = src.find(')').expect("has a paren") + 1;
        assert_eq!(column, 62);
        assert!(
            err.message.contains(&format!("1:{column}:")),
            "{} (expected column {column})",
            err.message
        );
    }
}
