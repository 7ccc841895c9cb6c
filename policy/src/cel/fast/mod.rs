//! The fast path for the expression shapes most rules are made of: comparisons of request
//! fields with literals, `in` a literal list, `startsWith`/`endsWith`/`contains`, `matches`
//! with a literal pattern, `inCidrRange` of the client's address, `has…Header`, the
//! User-Agent's flags and `res.status_code`, joined by `!`, `&&` and `||`.
//!
//! In `${…}` templates it also takes the string fields (`req.method`, `req.url.path`,
//! `conn.client_ip`, `getReqHeader('name')[0]`…): the engine works those out before the action
//! runs and the action's interpreter finds them ready (`Scope::precomputed`).
//!
//! Such an expression is compiled at load into a small tree ([`Form`]) that reads the request
//! head directly, so a phase whose rules and templates are all of this kind builds no
//! `req`/`res` value for the interpreter at all (see `phase_scope`). Everything else, and every case where the fast
//! tree cannot be sure to give the interpreter's answer (a header that is not text, a response
//! that is not there yet), goes to the interpreter: [`Cond::eval`] returns `None` and the
//! caller evaluates the expression the ordinary way. `SLUICE_CEL_FAST=0` turns the fast path
//! off, so the conformance suite can prove both paths give the same answers.

mod compile;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use crate::connection::ConnInfo;
use crate::values::user_agent;

pub(crate) use compile::compile;

/// Whether the fast path is on (`SLUICE_CEL_FAST=0` turns it off, for the conformance run
/// that checks both paths agree).
pub(crate) fn enabled() -> bool {
    static ON: LazyLock<bool> =
        LazyLock::new(|| std::env::var("SLUICE_CEL_FAST").map_or(true, |v| v != "0"));
    *ON
}

/// What a fast expression reads: the heads and the connection, borrowed.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    /// The request head.
    pub req: &'a http::request::Parts,
    /// The response head (response phase only).
    pub res: Option<&'a http::response::Parts>,
    /// The connection.
    pub conn: &'a ConnInfo,
}

/// A string-valued operand.
#[derive(Debug)]
pub(crate) enum Text {
    /// A literal.
    Lit(Box<str>),
    /// `req.method`
    Method,
    /// `req.url.path` (and `raw_path`, which is the same).
    Path,
    /// `req.url.query`
    Query,
    /// `req.user_agent`
    UserAgent,
    /// `conn.client_ip`
    ClientIp,
    /// `getReqHeader('name')[0]`: the header's first value (absent: the interpreter's error).
    ReqHeader(HeaderName),
}

/// The string comparisons.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StrOp {
    Eq,
    Ne,
    StartsWith,
    EndsWith,
    Contains,
}

/// The integer comparisons.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IntOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Which head a header test reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    Req,
    Res,
}

/// An expression with a fast form: a condition, or (in `${…}` templates) a string.
#[derive(Debug)]
pub(crate) enum Form {
    Bool(Cond),
    Text(Text),
}

impl Form {
    /// The expression's value, or `None` when the interpreter must answer.
    pub(crate) fn eval(&self, v: &View<'_>) -> Option<cel::Value> {
        Some(match self {
            Form::Bool(c) => cel::Value::Bool(c.eval(v)?),
            Form::Text(t) => crate::cel::value::string(t.read(v)?.into_owned()),
        })
    }
}

/// A boolean expression the fast path evaluates.
#[derive(Debug)]
pub(crate) enum Cond {
    Lit(bool),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Str(Text, StrOp, Text),
    Matches(Text, Arc<Regex>),
    In(Text, Box<[Box<str>]>),
    /// `inCidrRange(conn.client_ip, 'net')` with a valid network.
    ClientIn(IpNet),
    HasHeader(Side, HeaderName),
    /// A boolean of `req.user_agent.*`.
    UserAgentFlag(fn(&user_agent::UserAgent) -> bool),
    /// `res.status_code <op> literal`.
    Status(IntOp, i64),
}

impl Text {
    /// The operand's text, or `None` when only the interpreter can say (not valid text).
    fn read<'a>(&'a self, v: &View<'a>) -> Option<Cow<'a, str>> {
        Some(match self {
            Text::Lit(s) => Cow::Borrowed(s),
            Text::Method => Cow::Borrowed(v.req.method.as_str()),
            Text::Path => Cow::Borrowed(v.req.uri.path()),
            Text::Query => Cow::Borrowed(v.req.uri.query().unwrap_or_default()),
            Text::UserAgent => user_agent_text(v)?,
            Text::ClientIp => Cow::Owned(v.conn.client.ip().to_string()),
            Text::ReqHeader(name) => {
                Cow::Borrowed(std::str::from_utf8(v.req.headers.get(name)?.as_bytes()).ok()?)
            }
        })
    }
}

/// The User-Agent header as `req.user_agent` holds it: the first value, "" when absent.
fn user_agent_text<'a>(v: &View<'a>) -> Option<Cow<'a, str>> {
    match v.req.headers.get(http::header::USER_AGENT) {
        None => Some(Cow::Borrowed("")),
        Some(h) => std::str::from_utf8(h.as_bytes()).ok().map(Cow::Borrowed),
    }
}

impl Cond {
    /// The expression's value, or `None` when the interpreter must answer.
    pub(crate) fn eval(&self, v: &View<'_>) -> Option<bool> {
        Some(match self {
            Cond::Lit(b) => *b,
            Cond::Not(c) => !c.eval(v)?,
            Cond::And(a, b) => a.eval(v)? && b.eval(v)?,
            Cond::Or(a, b) => a.eval(v)? || b.eval(v)?,
            Cond::Str(a, op, b) => {
                let (a, b) = (a.read(v)?, b.read(v)?);
                match op {
                    StrOp::Eq => a == b,
                    StrOp::Ne => a != b,
                    StrOp::StartsWith => a.starts_with(&*b),
                    StrOp::EndsWith => a.ends_with(&*b),
                    StrOp::Contains => a.contains(&*b),
                }
            }
            Cond::Matches(t, re) => re.is_match(&t.read(v)?),
            Cond::In(t, list) => {
                let t = t.read(v)?;
                list.iter().any(|item| **item == *t)
            }
            Cond::ClientIn(net) => net.contains(&unmapped(v.conn.client.ip())),
            Cond::HasHeader(Side::Req, name) => v.req.headers.contains_key(name),
            Cond::HasHeader(Side::Res, name) => v.res?.headers.contains_key(name),
            Cond::UserAgentFlag(flag) => flag(&user_agent::parse(&user_agent_text(v)?)),
            Cond::Status(op, n) => {
                let s = i64::from(v.res?.status.as_u16());
                match op {
                    IntOp::Eq => s == *n,
                    IntOp::Ne => s != *n,
                    IntOp::Lt => s < *n,
                    IntOp::Le => s <= *n,
                    IntOp::Gt => s > *n,
                    IntOp::Ge => s >= *n,
                }
            }
        })
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it maps, as `inCidrRange` reads it.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}
