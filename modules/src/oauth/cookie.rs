//! The two cookies of a login: reading them from `cookie` headers, writing `set-cookie`, and
//! removing them from the request before it goes upstream (the app never sees sealed tokens).
//!
//! Written by hand: the only parsing needed is `name=value` pairs split on `;`, and the only
//! attributes written are fixed ones; a cookie crate would add a dependency for ten lines.

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// Names of the session and pending-login cookies of one action (`auth_id` scopes them).
#[derive(Debug, Clone)]
pub struct CookieNames {
    /// The session cookie.
    pub session: String,
    /// The pending-login cookie (state, nonce, PKCE verifier, original path).
    pub nonce: String,
}

impl CookieNames {
    /// `sluice_session` / `sluice_nonce`, suffixed with `_<auth_id>` when one is set.
    pub fn new(auth_id: Option<&str>) -> Self {
        let suffix = auth_id.map(|id| format!("_{id}")).unwrap_or_default();
        CookieNames {
            session: format!("sluice_session{suffix}"),
            nonce: format!("sluice_nonce{suffix}"),
        }
    }
}

/// The value of the first cookie called `name` in the request's `cookie` headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// Removes the cookies called `names` from the request's `cookie` headers (dropping a
/// header left empty).
pub fn strip(headers: &mut HeaderMap, names: &[&str]) {
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .map(str::trim)
                .filter(|pair| {
                    let name = pair.split_once('=').map_or(*pair, |(n, _)| n).trim();
                    !pair.is_empty() && !names.contains(&name)
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|v| !v.is_empty())
        .collect();
    headers.remove(COOKIE);
    for value in kept {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(COOKIE, v);
        }
    }
}

/// Attributes shared by every cookie an action writes.
#[derive(Debug, Clone)]
pub struct CookieScope {
    /// `Domain=` (`auth_cookie_domain`), so sibling hosts share a login.
    pub domain: Option<String>,
    /// `Secure`, on `https` endpoints.
    pub secure: bool,
}

impl CookieScope {
    /// A `set-cookie` value: `HttpOnly`, `SameSite=Lax` (the IdP's redirect back is a top-level
    /// GET), `Path=/`, and `Max-Age` when given (else a browser-session cookie).
    pub fn set(&self, name: &str, value: &str, max_age: Option<u64>) -> Option<HeaderValue> {
        let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age {
            text.push_str(&format!("; Max-Age={age}"));
        }
        if let Some(domain) = &self.domain {
            text.push_str(&format!("; Domain={domain}"));
        }
        if self.secure {
            text.push_str("; Secure");
        }
        HeaderValue::from_str(&text).ok()
    }

    /// A `set-cookie` value that deletes `name`.
    pub fn clear(&self, name: &str) -> Option<HeaderValue> {
        self.set(name, "", Some(0))
    }
}
