//! `res.cookies[name][i]`: one `Set-Cookie` header read the way ngrok (Go's `net/http`) reads
//! it, with the fields ngrok documents: `name`, `value`, `path`, `domain`, `expires`
//! (timestamp), `max_age` (duration), `secure`, `http_only`, `same_site` and
//! `unparsed_attributes`.
//!
//! Hand-written rather than the `cookie` crate: ngrok's values follow Go's rules, which differ
//! from it where policies can see the difference (an unparseable `Expires` or `Max-Age` lands in
//! `unparsed_attributes`, `Max-Age=0` reads as -1s, `SameSite` is normalised to `Lax`/`Strict`/
//! `None`, an invalid name or value drops the cookie), and `cookie` keeps no unknown attributes.

use chrono::{DateTime, NaiveDateTime, Utc};

/// One response cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetCookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub domain: String,
    /// `0001-01-01T00:00:00Z` (Go's zero time) when absent or unreadable.
    pub expires: DateTime<Utc>,
    /// Seconds: 0 when absent, -1 for `Max-Age=0` or a negative value.
    pub max_age: i64,
    pub secure: bool,
    pub http_only: bool,
    /// `Lax`, `Strict`, `None`, or "" (absent or another value).
    pub same_site: &'static str,
    /// Attributes not read above, as `name → value` ("" for a bare attribute).
    pub unparsed_attributes: Vec<(String, String)>,
}

/// Go's zero `time.Time`, which ngrok gives for a cookie without `Expires`.
fn zero_time() -> DateTime<Utc> {
    NaiveDateTime::parse_from_str("0001-01-01 00:00:00", "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// A cookie value (without its surrounding quotes when `unquote`), when every byte is allowed.
fn cookie_value(raw: &str, unquote: bool) -> Option<&str> {
    let v = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| unquote)
        .unwrap_or(raw);
    v.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\')
        .then_some(v)
}

/// `Expires` in the two forms Go reads (`Mon, 02 Jan 2006 15:04:05 GMT` and
/// `Mon, 02-Jan-2006 15:04:05 GMT`). Like Go, the day name must be one but is not checked
/// against the date, and the zone name is read as UTC.
fn expires(val: &str) -> Option<DateTime<Utc>> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let (day, rest) = val.split_once(", ")?;
    let (stamp, zone) = rest.rsplit_once(' ')?;
    if !DAYS.contains(&day) || zone.is_empty() || !zone.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    ["%d %b %Y %H:%M:%S", "%d-%b-%Y %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(stamp, f).ok())
        .map(|t| t.and_utc())
}

/// Reads one `Set-Cookie` header; `None` when it has no valid `name=value`.
pub(crate) fn parse(line: &str) -> Option<SetCookie> {
    let mut parts = line.trim().split(';');
    let (name, value) = parts.next()?.trim().split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return None;
    }
    let mut c = SetCookie {
        name: name.to_string(),
        value: cookie_value(value, true)?.to_string(),
        path: String::new(),
        domain: String::new(),
        expires: zero_time(),
        max_age: 0,
        secure: false,
        http_only: false,
        same_site: "",
        unparsed_attributes: Vec::new(),
    };
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (attr, raw_val) = part.split_once('=').unwrap_or((part, ""));
        let (attr, raw_val) = (attr.trim(), raw_val.trim());
        if read_attribute(&mut c, attr, raw_val) {
            continue;
        }
        c.unparsed_attributes
            .push((attr.to_string(), raw_val.to_string()));
    }
    Some(c)
}

/// Applies one known attribute; false when it is unknown or its value unreadable.
fn read_attribute(c: &mut SetCookie, attr: &str, raw_val: &str) -> bool {
    let Some(val) = cookie_value(raw_val, false) else {
        return false;
    };
    match attr.to_ascii_lowercase().as_str() {
        "samesite" => {
            c.same_site = match val.to_ascii_lowercase().as_str() {
                "lax" => "Lax",
                "strict" => "Strict",
                "none" => "None",
                _ => "",
            };
        }
        "secure" => c.secure = true,
        "httponly" => c.http_only = true,
        "domain" => c.domain = val.to_string(),
        "path" => c.path = val.to_string(),
        "max-age" => match val.parse::<i64>() {
            Ok(secs) if secs == 0 || !val.starts_with('0') => {
                c.max_age = if secs <= 0 { -1 } else { secs };
            }
            _ => return false,
        },
        "expires" => match expires(val) {
            Some(t) => c.expires = t,
            None => {
                c.expires = zero_time();
                return false;
            }
        },
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_documented_field() {
        let c = parse(
            "sid=\"abc\"; Path=/app; Domain=example.com; Expires=Wed, 21 Oct 2026 07:28:00 GMT; \
             Max-Age=3600; Secure; HttpOnly; SameSite=strict; Priority=High; Partitioned",
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.value.as_str()), ("sid", "abc"));
        assert_eq!(
            (c.path.as_str(), c.domain.as_str()),
            ("/app", "example.com")
        );
        assert_eq!(c.expires.to_rfc3339(), "2026-10-21T07:28:00+00:00");
        assert_eq!(c.max_age, 3600);
        assert!(c.secure && c.http_only);
        assert_eq!(c.same_site, "Strict");
        assert_eq!(
            c.unparsed_attributes,
            vec![
                ("Priority".to_string(), "High".to_string()),
                ("Partitioned".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn absent_attributes_have_go_zero_values() {
        let c = parse("a=1").unwrap();
        assert_eq!(c.expires.to_rfc3339(), "0001-01-01T00:00:00+00:00");
        assert_eq!((c.max_age, c.same_site, c.secure), (0, "", false));
        assert!(c.unparsed_attributes.is_empty());
    }

    #[test]
    fn max_age_and_expires_follow_go() {
        assert_eq!(parse("a=1; Max-Age=0").unwrap().max_age, -1);
        assert_eq!(parse("a=1; Max-Age=-5").unwrap().max_age, -1);
        let bad = parse("a=1; Max-Age=012; Expires=soon").unwrap();
        assert_eq!(bad.max_age, 0);
        assert_eq!(
            bad.unparsed_attributes,
            vec![
                ("Max-Age".to_string(), "012".to_string()),
                ("Expires".to_string(), "soon".to_string())
            ]
        );
        // The day name is not checked against the date (2030-01-01 is a Tuesday), as in Go.
        let dashed = parse("a=1; expires=Sun, 01-Jan-2030 00:00:01 GMT").unwrap();
        assert_eq!(dashed.expires.to_rfc3339(), "2030-01-01T00:00:01+00:00");
        assert_eq!(parse("a=1; SameSite=weird").unwrap().same_site, "");
        let quoted = parse("a=1; Path=\"/x\"").unwrap();
        assert_eq!(quoted.path, "");
        assert_eq!(quoted.unparsed_attributes.len(), 1);
    }

    #[test]
    fn invalid_names_and_values_drop_the_cookie() {
        assert!(parse("novalue").is_none());
        assert!(parse("bad name=1").is_none());
        assert!(parse("a=b\\c").is_none());
        assert!(parse("").is_none());
    }
}
