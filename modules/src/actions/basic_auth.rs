//! `basic-auth`: requires `Authorization: Basic <base64(user:password)>` matching one of the
//! configured credentials (RFC 7617).
//!
//! Usernames and passwords are compared as SHA-256 digests in constant time, against every
//! credential without stopping at the first match. A request without matching credentials is
//! answered `401` with `www-authenticate: Basic realm="<realm>"`, unless `enforce: false`.
//! ngrok documents no error code for this rejection; sluice uses `ERR_SLUICE_2801`.
//! Result variables: `actions.ngrok.basic_auth.credentials.{presented,username,authorized}`.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cel::Value;
use http::{HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};
use subtle::{Choice, ConstantTimeEq};

use crate::credential::{CredentialEntry, CredentialPair};

/// Error code of a rejected request (`ERR_SLUICE_2801`; ngrok documents none).
pub const ERROR_CODE: u16 = 2801;
const MAX_CREDENTIALS: usize = 10;
const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;
const MAX_REALM: usize = 128;

/// Config of `basic-auth`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// 1 to 10 credentials, each a `username:password` string (`${…}` allowed on either side
    /// of the first `:`, or as the whole credential, never spanning it) or a
    /// `{username, password}` map. Passwords are 8 to 128 characters.
    #[schemars(length(min = 1, max = 10))]
    pub credentials: Vec<CredentialEntry>,
    /// Realm sent in `www-authenticate`. Default `ngrok`; at most 128 ASCII characters.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Reject requests without valid credentials. Default true.
    #[serde(default = "default_enforce")]
    pub enforce: bool,
}

fn default_realm() -> String {
    "ngrok".into()
}

fn default_enforce() -> bool {
    true
}

impl Default for BasicAuthConfig {
    fn default() -> Self {
        BasicAuthConfig {
            credentials: Vec::new(),
            realm: default_realm(),
            enforce: true,
        }
    }
}

/// One side of a credential: a digest known at load time, or a template rendered per request.
enum Part {
    Static([u8; 32]),
    Dynamic(Template),
}

/// SHA-256 digests of a username and a password.
type DigestPair = ([u8; 32], [u8; 32]);

/// A configured credential.
enum Credential {
    /// `user:password`, each side static or templated.
    Split(Part, Part),
    /// `${expr}` producing the whole `user:password`.
    Whole(Template),
}

/// The built action.
pub struct BasicAuth {
    credentials: Vec<Credential>,
    challenge: HeaderValue,
    enforce: bool,
}

fn digest(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The first RFC 7617 problem with a username or password, if any.
fn rfc7617_problem(user: &str, password: &str) -> Option<String> {
    if user.is_empty() {
        return Some("the username must not be empty".into());
    }
    if user.contains(':') {
        return Some("the username must not contain `:` (RFC 7617)".into());
    }
    if user.chars().chain(password.chars()).any(char::is_control) {
        return Some("username and password must not contain control characters (RFC 7617)".into());
    }
    if !PASSWORD_LEN.contains(&password.chars().count()) {
        return Some("the password must be 8 to 128 characters long".into());
    }
    None
}

/// Byte offset of the first `:` outside any `${…}`, or `None`; `Err` when a `${` is unclosed.
fn split_point(raw: &str) -> Result<Option<usize>, ()> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Bytes, not `&raw[i..]`: `i` steps through multi-byte characters.
        if b[i..].starts_with(b"$${") {
            i += 3;
        } else if b[i..].starts_with(b"${") {
            i = close_of(b, i + 2).ok_or(())? + 1;
        } else if b[i] == b':' {
            return Ok(Some(i));
        } else {
            i += 1;
        }
    }
    Ok(None)
}

/// Index of the `}` closing an interpolation whose expression starts at `i`.
fn close_of(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Compiles one `credentials[i]` entry, reporting problems at `rel`.
fn compile(cx: &mut BuildCx<'_>, rel: &str, raw: &str) -> Option<Credential> {
    let Ok(split) = split_point(raw) else {
        // Let the template compiler report the unclosed `${`.
        cx.template(rel, raw)?;
        return None;
    };
    let Some(at) = split else {
        let whole = cx.template(rel, raw)?;
        if whole.is_dynamic() && raw.starts_with("${") && split_point_end(raw) {
            return Some(Credential::Whole(whole));
        }
        let msg = if whole.is_dynamic() {
            "a `${…}` may not span the `:`: write `${user}:${password}`, `${user}:password` or one `${…}` for the whole credential"
        } else {
            "must be `username:password` (RFC 7617)"
        };
        cx.error_at(Code::InvalidValue, rel, msg);
        return None;
    };
    let (user, password) = (
        cx.template(rel, &raw[..at])?,
        cx.template(rel, &raw[at + 1..])?,
    );
    match (user.as_static(), password.as_static()) {
        (Some(u), Some(p)) => {
            if let Some(problem) = rfc7617_problem(u, p) {
                cx.error_at(Code::InvalidValue, rel, problem);
                return None;
            }
        }
        (Some(u), None) => {
            if let Some(problem) = rfc7617_problem(u, "password") {
                cx.error_at(Code::InvalidValue, rel, problem);
                return None;
            }
        }
        (None, Some(p)) => {
            if let Some(problem) = rfc7617_problem("user", p) {
                cx.error_at(Code::InvalidValue, rel, problem);
                return None;
            }
        }
        (None, None) => {}
    }
    let part = |t: Template| match t.as_static() {
        Some(s) => Part::Static(digest(s.as_bytes())),
        None => Part::Dynamic(t),
    };
    Some(Credential::Split(part(user), part(password)))
}

/// Compiles one `credentials[i]` entry written as a `{username, password}` map.
fn compile_pair(cx: &mut BuildCx<'_>, rel: &str, pair: &CredentialPair) -> Option<Credential> {
    let user = cx.template(&format!("{rel}.username"), pair.username.as_str());
    let password = cx.template(&format!("{rel}.password"), pair.password.as_str());
    let (user, password) = (user?, password?);
    let problem = match (user.as_static(), password.as_static()) {
        (Some(u), Some(p)) => rfc7617_problem(u, p).map(|m| (m, rel.to_string())),
        (Some(u), None) => rfc7617_problem(u, "password").map(|m| (m, format!("{rel}.username"))),
        (None, Some(p)) => rfc7617_problem("user", p).map(|m| (m, format!("{rel}.password"))),
        (None, None) => None,
    };
    if let Some((message, at)) = problem {
        cx.error_at(Code::InvalidValue, &at, message);
        return None;
    }
    let part = |t: Template| match t.as_static() {
        Some(s) => Part::Static(digest(s.as_bytes())),
        None => Part::Dynamic(t),
    };
    Some(Credential::Split(part(user), part(password)))
}

/// Whether `raw` is exactly one `${…}` (starting at 0 and closing at the last byte).
fn split_point_end(raw: &str) -> bool {
    close_of(raw.as_bytes(), 2) == Some(raw.len() - 1)
}

impl BasicAuth {
    /// Digests of each credential's user and password, rendering templates.
    fn resolve(&self, cx: &HttpCx<'_>) -> Result<Vec<DigestPair>, ActionError> {
        let render = |i: usize, t: &Template| {
            t.render(cx.scope()).map_err(|e| {
                ActionError::interpolation(Self::TYPE, &format!("credentials[{i}]"), e)
            })
        };
        let bad = |i: usize, why: String| {
            ActionError::interpolation(Self::TYPE, &format!("credentials[{i}]"), why)
        };
        let mut out = Vec::with_capacity(self.credentials.len());
        for (i, cred) in self.credentials.iter().enumerate() {
            match cred {
                Credential::Split(u, p) => {
                    let side = |part: &Part| -> Result<(String, [u8; 32]), ActionError> {
                        match part {
                            Part::Static(d) => Ok((String::new(), *d)),
                            Part::Dynamic(t) => {
                                let s = render(i, t)?;
                                let d = digest(s.as_bytes());
                                Ok((s, d))
                            }
                        }
                    };
                    let ((us, ud), (ps, pd)) = (side(u)?, side(p)?);
                    let check_user = if matches!(u, Part::Dynamic(_)) {
                        us.as_str()
                    } else {
                        "user"
                    };
                    let check_pass = if matches!(p, Part::Dynamic(_)) {
                        ps.as_str()
                    } else {
                        "password"
                    };
                    if let Some(problem) = rfc7617_problem(check_user, check_pass) {
                        return Err(bad(i, problem));
                    }
                    out.push((ud, pd));
                }
                Credential::Whole(t) => {
                    let s = render(i, t)?;
                    let Some((u, p)) = s.split_once(':') else {
                        return Err(bad(i, "did not produce `username:password`".into()));
                    };
                    if let Some(problem) = rfc7617_problem(u, p) {
                        return Err(bad(i, problem));
                    }
                    out.push((digest(u.as_bytes()), digest(p.as_bytes())));
                }
            }
        }
        Ok(out)
    }
}

/// The `(username, password)` of an `Authorization: Basic` header, if it has a valid one.
fn presented(cx: &HttpCx<'_>) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = cx.request().headers.get(http::header::AUTHORIZATION)?;
    let text = value.to_str().ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASE64.decode(token.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[async_trait]
impl Action for BasicAuth {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let known = self.resolve(cx)?;
        let given = presented(cx);
        let authorized = match &given {
            Some((user, password)) => {
                let (u, p) = (digest(user), digest(password));
                let mut any = Choice::from(0);
                for (ku, kp) in &known {
                    any |= ku.ct_eq(&u) & kp.ct_eq(&p);
                }
                bool::from(any)
            }
            None => false,
        };
        let username = given
            .as_ref()
            .map(|(u, _)| String::from_utf8_lossy(u).into_owned())
            .unwrap_or_default();
        cx.set_result(
            "basic_auth",
            map([(
                "credentials",
                map([
                    ("presented", Value::Bool(given.is_some())),
                    ("username", string(username)),
                    ("authorized", Value::Bool(authorized)),
                ]),
            )]),
        );
        if authorized || !self.enforce {
            return Ok(Flow::Continue);
        }
        let mut response =
            SyntheticResponse::error(StatusCode::UNAUTHORIZED, ERROR_CODE, "Unauthorized");
        response
            .headers
            .insert(http::header::WWW_AUTHENTICATE, self.challenge.clone());
        Ok(Flow::Respond(response))
    }

    fn summary(&self) -> String {
        let mode = if self.enforce { "requires" } else { "checks" };
        format!(
            "{mode} HTTP Basic credentials ({} configured)",
            self.credentials.len()
        )
    }
}

impl TypedAction for BasicAuth {
    type Config = BasicAuthConfig;
    const TYPE: &'static str = "basic-auth";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const AUTH: bool = true;
    const ABOUT: &'static str =
        "Requires HTTP Basic credentials matching one of the configured `user:password` pairs.";

    fn build(config: BasicAuthConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.credentials.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                "credentials",
                "give at least one `username:password`",
            );
        } else if config.credentials.len() > MAX_CREDENTIALS {
            cx.error_at(
                Code::TooManyEntries,
                "credentials",
                format!(
                    "at most {MAX_CREDENTIALS} credentials, found {}",
                    config.credentials.len()
                ),
            );
        }
        let realm = &config.realm;
        if realm.len() > MAX_REALM || !realm.is_ascii() {
            cx.error_at(
                Code::InvalidValue,
                "realm",
                "must be at most 128 ASCII characters",
            );
        } else if realm.chars().any(|c| c.is_ascii_control()) {
            cx.error_at(
                Code::InvalidValue,
                "realm",
                "must not contain control characters",
            );
        }
        if cx.failed() {
            return None;
        }
        let mut credentials = Vec::with_capacity(config.credentials.len());
        for (i, entry) in config.credentials.iter().enumerate() {
            let rel = format!("credentials[{i}]");
            let built = match entry {
                CredentialEntry::Text(raw) => compile(cx, &rel, raw),
                CredentialEntry::Pair(pair) => compile_pair(cx, &rel, pair),
            };
            if let Some(c) = built {
                credentials.push(c);
            }
        }
        let quoted = realm.replace('\\', "\\\\").replace('"', "\\\"");
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{quoted}\"")).ok()?;
        (!cx.failed()).then_some(BasicAuth {
            credentials,
            challenge,
            enforce: config.enforce,
        })
    }
}

#[cfg(test)]
mod split_tests {
    use super::split_point;

    /// Found by fuzzing (agent_config): a credential starting with a multi-byte character
    /// panicked the policy loader by slicing the string inside that character.
    #[test]
    fn split_point_steps_over_multibyte_characters() {
        assert_eq!(split_point("يser:p$assword1"), Ok(Some(5)));
        assert_eq!(split_point("é${'x'}:ü"), Ok(Some(8)));
        assert_eq!(split_point("ü$${x:y"), Ok(Some(6)));
    }
}
