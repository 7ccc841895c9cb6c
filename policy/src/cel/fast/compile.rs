//! From a compiled CEL AST to a fast [`Cond`], when the expression is one of the shapes the
//! fast path knows; `None` for anything else, which then stays with the interpreter.

use std::sync::Arc;

use cel::IdedExpr;
use cel::common::ast::operators;
use cel::common::ast::{CallExpr, Expr as Ast, LiteralValue};
use http::HeaderName;
use ipnet::IpNet;

use super::{Cond, Form, IntOp, Side, StrOp, Text};
use crate::values::user_agent::UserAgent;

/// The fast form of an expression, if it has one. `ast` is the expression after
/// `rewrite_subfields` (`req.url.path` reads `req.__url.path`).
pub(crate) fn compile(ast: &IdedExpr) -> Option<Form> {
    if let Some(c) = cond(ast) {
        return Some(Form::Bool(c));
    }
    match text(ast)? {
        Text::Lit(_) => None,
        t => Some(Form::Text(t)),
    }
}

fn cond(e: &IdedExpr) -> Option<Cond> {
    match &e.expr {
        Ast::Literal(LiteralValue::Boolean(b)) => Some(Cond::Lit(*b.inner())),
        Ast::Select(_) => user_agent_flag(e),
        Ast::Call(call) => call_cond(call),
        _ => None,
    }
}

fn call_cond(call: &CallExpr) -> Option<Cond> {
    let args = call.args.as_slice();
    match (call.func_name.as_str(), &call.target, args) {
        (operators::LOGICAL_NOT, None, [a]) => Some(Cond::Not(Box::new(cond(a)?))),
        (operators::LOGICAL_AND, None, [a, b]) => {
            Some(Cond::And(Box::new(cond(a)?), Box::new(cond(b)?)))
        }
        (operators::LOGICAL_OR, None, [a, b]) => {
            Some(Cond::Or(Box::new(cond(a)?), Box::new(cond(b)?)))
        }
        (operators::EQUALS, None, [a, b]) => compare(a, b, StrOp::Eq, IntOp::Eq),
        (operators::NOT_EQUALS, None, [a, b]) => compare(a, b, StrOp::Ne, IntOp::Ne),
        (operators::LESS, None, [a, b]) => status(a, b, IntOp::Lt),
        (operators::LESS_EQUALS, None, [a, b]) => status(a, b, IntOp::Le),
        (operators::GREATER, None, [a, b]) => status(a, b, IntOp::Gt),
        (operators::GREATER_EQUALS, None, [a, b]) => status(a, b, IntOp::Ge),
        (operators::IN, None, [a, list]) => {
            let Ast::List(list) = &list.expr else {
                return None;
            };
            let items = list
                .elements
                .iter()
                .map(|x| string_literal(x).map(Box::from))
                .collect::<Option<Box<[Box<str>]>>>()?;
            Some(Cond::In(text(a)?, items))
        }
        ("startsWith", Some(t), [a]) => Some(Cond::Str(text(t)?, StrOp::StartsWith, text(a)?)),
        ("endsWith", Some(t), [a]) => Some(Cond::Str(text(t)?, StrOp::EndsWith, text(a)?)),
        ("contains", Some(t), [a]) => Some(Cond::Str(text(t)?, StrOp::Contains, text(a)?)),
        ("matches", Some(t), [p]) => matches(t, p),
        ("matches", None, [t, p]) => matches(t, p),
        ("inCidrRange", None, [ip, net]) => {
            if !is_field(ip, "conn", "client_ip") {
                return None;
            }
            // As the interpreter: a network that does not parse contains nothing.
            Some(match string_literal(net)?.trim().parse::<IpNet>() {
                Ok(net) => Cond::ClientIn(net),
                Err(_) => Cond::Lit(false),
            })
        }
        ("hasReqHeader", None, [root, name]) if is_ident(root, ".req") => header(Side::Req, name),
        ("hasResHeader", None, [root, name]) if is_ident(root, ".res") => header(Side::Res, name),
        _ => None,
    }
}

/// `text.matches('literal')`, the pattern compiled as the interpreter compiles it.
fn matches(t: &IdedExpr, pattern: &IdedExpr) -> Option<Cond> {
    let re = crate::cel_fns::compile_regex(string_literal(pattern)?).ok()?;
    Some(Cond::Matches(text(t)?, Arc::new(re)))
}

/// `==` / `!=` between two strings, or between `res.status_code` and an integer literal.
fn compare(a: &IdedExpr, b: &IdedExpr, str_op: StrOp, int_op: IntOp) -> Option<Cond> {
    match (text(a), text(b)) {
        (Some(a), Some(b)) => Some(Cond::Str(a, str_op, b)),
        _ => status(a, b, int_op),
    }
}

/// `res.status_code <op> n` (either way round).
fn status(a: &IdedExpr, b: &IdedExpr, op: IntOp) -> Option<Cond> {
    let flipped = match op {
        IntOp::Lt => IntOp::Gt,
        IntOp::Le => IntOp::Ge,
        IntOp::Gt => IntOp::Lt,
        IntOp::Ge => IntOp::Le,
        same => same,
    };
    if is_field(a, "res", "status_code") {
        Some(Cond::Status(op, int_literal(b)?))
    } else if is_field(b, "res", "status_code") {
        Some(Cond::Status(flipped, int_literal(a)?))
    } else {
        None
    }
}

fn header(side: Side, name: &IdedExpr) -> Option<Cond> {
    let name = string_literal(name)?.to_ascii_lowercase();
    // A name that is not a valid header name is in no head.
    Some(match HeaderName::from_bytes(name.as_bytes()) {
        Ok(name) => Cond::HasHeader(side, name),
        Err(_) => Cond::Lit(false),
    })
}

/// A string operand: a literal or one of the fields [`Text`] reads.
fn text(e: &IdedExpr) -> Option<Text> {
    if let Some(s) = string_literal(e) {
        return Some(Text::Lit(Box::from(s)));
    }
    if let Ast::Call(call) = &e.expr {
        return first_header_value(call);
    }
    let Ast::Select(sel) = &e.expr else {
        return None;
    };
    if sel.test {
        return None;
    }
    match (root_name(&sel.operand)?, sel.field.as_str()) {
        ("req", "method") => Some(Text::Method),
        ("req", "user_agent") => Some(Text::UserAgent),
        ("conn", "client_ip") => Some(Text::ClientIp),
        ("req.__url", "path" | "raw_path") => Some(Text::Path),
        ("req.__url", "query") => Some(Text::Query),
        _ => None,
    }
}

/// `getReqHeader('name')[0]`.
fn first_header_value(call: &CallExpr) -> Option<Text> {
    let (operators::INDEX, None, [list, index]) =
        (call.func_name.as_str(), &call.target, call.args.as_slice())
    else {
        return None;
    };
    if int_literal(index)? != 0 {
        return None;
    }
    let Ast::Call(get) = &list.expr else {
        return None;
    };
    let ("getReqHeader", None, [root, name]) =
        (get.func_name.as_str(), &get.target, get.args.as_slice())
    else {
        return None;
    };
    if !is_ident(root, ".req") {
        return None;
    }
    let name = string_literal(name)?.to_ascii_lowercase();
    HeaderName::from_bytes(name.as_bytes())
        .ok()
        .map(Text::ReqHeader)
}

/// `req.user_agent.is_bot` and its siblings (`req.__user_agent.*` after the rewrite).
fn user_agent_flag(e: &IdedExpr) -> Option<Cond> {
    let Ast::Select(sel) = &e.expr else {
        return None;
    };
    if sel.test || root_name(&sel.operand)? != "req.__user_agent" {
        return None;
    }
    let flag: fn(&UserAgent) -> bool = match sel.field.as_str() {
        "is_bot" => |ua| ua.is_bot,
        "is_mobile" => |ua| ua.is_mobile,
        "is_tablet" => |ua| ua.is_tablet,
        "is_desktop" => |ua| ua.is_desktop,
        _ => return None,
    };
    Some(Cond::UserAgentFlag(flag))
}

/// `var` or `var.field` as a dotted name, for the roots the fast path reads.
fn root_name(e: &IdedExpr) -> Option<&'static str> {
    match &e.expr {
        Ast::Ident(n) => match n.as_str() {
            "req" => Some("req"),
            "conn" => Some("conn"),
            "res" => Some("res"),
            _ => None,
        },
        Ast::Select(sel) if !sel.test && root_name(&sel.operand)? == "req" => {
            match sel.field.as_str() {
                "__url" => Some("req.__url"),
                "__user_agent" => Some("req.__user_agent"),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_field(e: &IdedExpr, var: &str, field: &str) -> bool {
    matches!(&e.expr, Ast::Select(sel) if !sel.test && sel.field == field && root_name(&sel.operand) == Some(var))
}

fn is_ident(e: &IdedExpr, name: &str) -> bool {
    matches!(&e.expr, Ast::Ident(n) if n == name)
}

fn string_literal(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Ast::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}

fn int_literal(e: &IdedExpr) -> Option<i64> {
    match &e.expr {
        Ast::Literal(LiteralValue::Int(n)) => Some(*n.inner()),
        _ => None,
    }
}
