//! `url.parse(s)` / `s.parseUrl()` and `s.isURL()`, following the rules of
//! Go's `url.Parse`, which ngrok uses.

use cel::Env;
use cel::common::types::STRING_TYPE;
use cel::common::value::{CowVal, Val};

use crate::cel_fns::RegisterError;
use crate::cel_fns::encoding::unescape_with;
use crate::cel_fns::query::{parse_query, query_map};
use crate::cel_fns::util::{Args, Ret, bool_val, boxed_str, fail, str_arg, string_map};

/// Registers `url.parse(string)`, `string.parseUrl()` and `string.isURL()`.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_overload("url.parse", "url_parse_string", vec![STRING_TYPE], parse)?;
    env.add_member_overload("parseUrl", "string_parse_url", STRING_TYPE, vec![], parse)?;
    env.add_member_overload("isURL", "string_is_url", STRING_TYPE, vec![], is_url)?;
    Ok(())
}

/// The parts of a URL, as Go's `url.URL` holds them.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ParsedUrl {
    /// Lower-cased scheme, empty for a relative reference.
    pub scheme: String,
    /// Opaque data of a URL like `mailto:x@y`.
    pub opaque: String,
    /// Unescaped user name of the userinfo.
    pub user: String,
    /// Host and port, as written: Go's `URL.Host`.
    pub authority: String,
    /// Host without port or IPv6 brackets: Go's `URL.Hostname()`.
    pub host: String,
    /// Port, empty if none.
    pub port: String,
    /// Unescaped path.
    pub path: String,
    /// Query, without `?`, still escaped.
    pub raw_query: String,
    /// Unescaped fragment.
    pub fragment: String,
}

/// Parses `text` as Go's `url.Parse` does: an absolute URL or a relative
/// reference.
pub(crate) fn parse_url(text: &str) -> Result<ParsedUrl, String> {
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".to_owned());
    }
    let mut url = ParsedUrl::default();
    let (rest, fragment) = text.split_once('#').unwrap_or((text, ""));
    url.fragment = unescape_with(fragment, false)?;
    if rest == "*" {
        url.path = "*".to_owned();
        return Ok(url);
    }
    let (scheme, rest) = split_scheme(rest)?;
    url.scheme = scheme.to_ascii_lowercase();
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    url.raw_query = query.to_owned();
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_owned();
            return Ok(url);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err("first path segment in URL cannot contain colon".to_owned());
        }
    }
    let mut path = rest;
    if let Some(after) = rest.strip_prefix("//")
        && (!url.scheme.is_empty() || !after.starts_with('/'))
    {
        let end = after.find('/').unwrap_or(after.len());
        parse_authority(&after[..end], &mut url)?;
        path = &after[end..];
    }
    url.path = unescape_with(path, false)?;
    Ok(url)
}

/// Splits `scheme:` off `text`, if it starts with one.
fn split_scheme(text: &str) -> Result<(&str, &str), String> {
    for (i, c) in text.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".to_owned()),
            ':' => return Ok((&text[..i], &text[i + 1..])),
            _ => return Ok(("", text)),
        }
    }
    Ok(("", text))
}

/// Parses `[userinfo@]host[:port]` into `url`.
fn parse_authority(authority: &str, url: &mut ParsedUrl) -> Result<(), String> {
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (&authority[..at], &authority[at + 1..]),
        None => ("", authority),
    };
    let name = userinfo.split_once(':').map_or(userinfo, |(name, _)| name);
    url.user = unescape_with(name, false)?;
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let close = v6.find(']').ok_or("missing ']' in host")?;
        let port = &v6[close + 1..];
        if !port.is_empty() && !port.starts_with(':') {
            return Err(format!("invalid port \"{port}\" after host"));
        }
        (&v6[..close], port.strip_prefix(':').unwrap_or(""))
    } else {
        hostport.rsplit_once(':').unwrap_or((hostport, ""))
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port \":{port}\" after host"));
    }
    url.authority = hostport.to_owned();
    url.host = unescape_with(host, false)?;
    url.port = port.to_owned();
    Ok(())
}

/// `url.parse(s)` / `s.parseUrl()`: a map of `scheme`, `host`, `port`,
/// `path`, `raw_query`, `query` (a map of lists), `fragment`, `user`,
/// `opaque` and `authority`.
fn parse<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let url = parse_url(str_arg(&args, 0)?).map_err(|e| fail("url.parse", e))?;
    let query: Box<dyn Val> = Box::new(query_map(parse_query(&url.raw_query).0));
    let map = string_map([
        ("scheme".to_owned(), boxed_str(url.scheme)),
        ("host".to_owned(), boxed_str(url.host)),
        ("port".to_owned(), boxed_str(url.port)),
        ("path".to_owned(), boxed_str(url.path)),
        ("raw_query".to_owned(), boxed_str(url.raw_query)),
        ("query".to_owned(), query),
        ("fragment".to_owned(), boxed_str(url.fragment)),
        ("user".to_owned(), boxed_str(url.user)),
        ("opaque".to_owned(), boxed_str(url.opaque)),
        ("authority".to_owned(), boxed_str(url.authority)),
    ]);
    Ok(CowVal::owned(map))
}

/// `s.isURL()`: whether `s` is an absolute URL with a scheme and a host.
fn is_url<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let valid = parse_url(str_arg(&args, 0)?)
        .is_ok_and(|url| !url.scheme.is_empty() && !url.host.is_empty());
    Ok(bool_val(valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() -> Result<(), String> {
        let url = parse_url("HTTPS://bob:pw@[::1]:8443/a%20b?x=1&y=2#frag")?;
        assert_eq!(url.scheme, "https");
        assert_eq!(url.user, "bob");
        assert_eq!(url.host, "::1");
        assert_eq!(url.port, "8443");
        assert_eq!(url.authority, "[::1]:8443");
        assert_eq!(url.path, "/a b");
        assert_eq!(url.raw_query, "x=1&y=2");
        assert_eq!(url.fragment, "frag");
        assert_eq!(parse_url("mailto:me@x.io")?.opaque, "me@x.io");
        assert_eq!(parse_url("/p?q")?.path, "/p");
        assert!(parse_url(":nope").is_err());
        assert!(parse_url("a:b/c:d").is_ok());
        assert!(parse_url("ab:c/d").is_ok_and(|u| u.opaque == "c/d"));
        assert!(parse_url("x/a:b").is_ok());
        assert!(parse_url("http://h:port/").is_err());
        Ok(())
    }
}
