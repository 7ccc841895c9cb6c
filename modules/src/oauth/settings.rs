//! Turning the config keys `oauth` and `openid-connect` share into a [`Gate`]: client
//! credentials (the secret inline, from an environment variable, or from a file, so it can stay
//! out of the policy file), durations, scopes and cookie options, each problem reported at
//! its line and column.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_policy::{BuildCx, Code};
use sluice_wire::parse_duration;

use super::cookie::CookieNames;
use super::gate::{CALLBACK_PATH, Gate, Idp, Secret};
use crate::http_call::Caller;

/// Sessions end this long after login unless `max_session_duration` says otherwise.
pub const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(24 * 60 * 60);
/// Authorization-request parameters the flow sets, which `authz_url_params` may not repeat.
const RESERVED_PARAMS: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "scope",
];
/// Largest response the identity provider may send (discovery, tokens, user info).
const MAX_RESPONSE: usize = 256 * 1024;

/// The config keys both actions have, borrowed from their typed configs.
pub struct Common<'a> {
    /// Who the provider is, for messages (`github`, or the issuer URL).
    pub provider_label: &'a str,
    /// `client_id`.
    pub client_id: Option<&'a str>,
    /// `client_secret`.
    pub client_secret: Option<&'a str>,
    /// `client_secret_env`.
    pub client_secret_env: Option<&'a str>,
    /// `client_secret_file`.
    pub client_secret_file: Option<&'a str>,
    /// `scopes` (already defaulted).
    pub scopes: Vec<String>,
    /// `authz_url_params`.
    pub authz_url_params: &'a BTreeMap<String, String>,
    /// `max_session_duration`.
    pub max_session_duration: Option<&'a str>,
    /// The idle key's name (`idle_session_duration` or `idle_session_timeout`) and value.
    pub idle: (&'static str, Option<&'a str>),
    /// `userinfo_refresh_interval`.
    pub userinfo_refresh_interval: Option<&'a str>,
    /// `allow_cors_preflight`.
    pub allow_cors_preflight: bool,
    /// `auth_cookie_domain`.
    pub auth_cookie_domain: Option<&'a str>,
    /// `auth_id`.
    pub auth_id: Option<&'a str>,
}

fn duration(cx: &mut BuildCx<'_>, key: &str, text: Option<&str>) -> Option<Option<Duration>> {
    let Some(text) = text else {
        return Some(None);
    };
    match parse_duration(text) {
        Ok(d) if d >= Duration::from_secs(1) => Some(Some(d)),
        Ok(_) => {
            cx.error_at(Code::OutOfRange, key, "must be at least 1s");
            None
        }
        Err(e) => {
            cx.error_at(Code::InvalidValue, key, e.to_string());
            None
        }
    }
}

fn secret(cx: &mut BuildCx<'_>, c: &Common<'_>) -> Option<Secret> {
    let given = [
        c.client_secret.is_some(),
        c.client_secret_env.is_some(),
        c.client_secret_file.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given > 1 {
        cx.error_at(
            Code::InvalidConfig,
            "client_secret",
            "give only one of client_secret, client_secret_env and client_secret_file",
        );
        return None;
    }
    if !cx.local_secrets() {
        for (given, key) in [
            (c.client_secret_env.is_some(), "client_secret_env"),
            (c.client_secret_file.is_some(), "client_secret_file"),
        ] {
            if given {
                cx.error_at(
                    Code::InvalidValue,
                    key,
                    "only a policy in the edge's own config may read the edge's environment or \
                     files; a policy sent by an agent gives client_secret",
                );
                return None;
            }
        }
    }
    if let Some(text) = c.client_secret {
        if text.is_empty() {
            cx.error_at(Code::InvalidValue, "client_secret", "must not be empty");
            return None;
        }
        return cx.template("client_secret", text).map(Secret::Template);
    }
    if let Some(name) = c.client_secret_env {
        return match std::env::var(name) {
            Ok(v) if !v.is_empty() => Some(Secret::Literal(v)),
            _ => {
                cx.error_at(
                    Code::InvalidValue,
                    "client_secret_env",
                    format!("the environment variable `{name}` is not set (or empty)"),
                );
                None
            }
        };
    }
    if let Some(path) = c.client_secret_file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Some(Secret::Literal(v.trim().to_string())),
            Ok(_) => {
                cx.error_at(
                    Code::InvalidValue,
                    "client_secret_file",
                    format!("`{path}` is empty"),
                );
                None
            }
            Err(e) => {
                cx.error_at(
                    Code::InvalidValue,
                    "client_secret_file",
                    format!("cannot read `{path}`: {e}"),
                );
                None
            }
        };
    }
    cx.error_at(
        Code::InvalidConfig,
        "client_secret",
        format!(
            "missing `client_secret` (or `client_secret_env` / `client_secret_file`): a \
             self-hosted edge has no managed OAuth apps; give the secret of the app you \
             registered with {}",
            c.provider_label
        ),
    );
    None
}

/// Builds the gate; problems are reported through `cx`.
pub fn build_gate(
    cx: &mut BuildCx<'_>,
    c: Common<'_>,
    idp: Idp,
    result: &'static str,
    action: &'static str,
) -> Option<Gate> {
    let client_id = match c.client_id {
        Some(id) if !id.is_empty() => cx.template("client_id", id),
        _ => {
            cx.error_at(
                Code::InvalidConfig,
                "client_id",
                format!(
                    "missing `client_id`: a self-hosted edge has no managed OAuth apps; \
                     register an app with {} (redirect URI: <endpoint URL>{CALLBACK_PATH}) \
                     and give its client id and secret",
                    c.provider_label
                ),
            );
            None
        }
    };
    let client_secret = secret(cx, &c);
    let max_session = duration(cx, "max_session_duration", c.max_session_duration);
    let idle = duration(cx, c.idle.0, c.idle.1);
    let userinfo_refresh = duration(cx, "userinfo_refresh_interval", c.userinfo_refresh_interval);
    if let Some(id) = c.auth_id
        && (id.is_empty()
            || !id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    {
        cx.error_at(
            Code::InvalidValue,
            "auth_id",
            "use letters, digits, `-` and `_` only (it names a cookie)",
        );
    }
    if let Some(domain) = c.auth_cookie_domain
        && (domain.is_empty() || domain.contains([';', ' ', ',', '=']))
    {
        cx.error_at(
            Code::InvalidValue,
            "auth_cookie_domain",
            "must be a domain name",
        );
    }
    for key in c.authz_url_params.keys() {
        if RESERVED_PARAMS.contains(&key.as_str()) {
            cx.error_at(
                Code::InvalidValue,
                &format!("authz_url_params.{key}"),
                format!("`{key}` is set by the login flow itself; use `scopes` for the scope"),
            );
        }
    }
    let caller = match Caller::new(MAX_RESPONSE) {
        Ok(c) => Some(c),
        Err(e) => {
            cx.error_at(Code::InvalidValue, "", e);
            None
        }
    };
    let (
        Some(client_id),
        Some(client_secret),
        Some(max_session),
        Some(idle),
        Some(userinfo_refresh),
        Some(caller),
    ) = (
        client_id,
        client_secret,
        max_session,
        idle,
        userinfo_refresh,
        caller,
    )
    else {
        return None;
    };
    if cx.failed() {
        return None;
    }
    Some(Gate {
        idp,
        result,
        action,
        client_id,
        client_secret,
        scopes: c.scopes,
        authz_params: c
            .authz_url_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        max_session: max_session.unwrap_or(DEFAULT_MAX_SESSION),
        idle,
        userinfo_refresh,
        allow_cors_preflight: c.allow_cors_preflight,
        cookie_domain: c.auth_cookie_domain.map(str::to_string),
        auth_id: c.auth_id.map(str::to_string),
        cookies: CookieNames::new(c.auth_id),
        caller,
    })
}
