//! The login gate both `oauth` and `openid-connect` run: it serves the special paths
//! (`/ngrok/login`, `/ngrok/logout`, and the callback [`CALLBACK_PATH`] on the endpoint's own
//! host), lets requests with a valid session through with the user's identity, and sends the
//! others to the identity provider with a fresh `state`, `nonce` and PKCE challenge bound to
//! the original path. The callback's checks are in `callback`, session renewal in `refresh`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cel::Value;
use http::header::SET_COOKIE;
use http::{HeaderName, HeaderValue, Method};
use sha2::{Digest as _, Sha256};
use sluice_policy::cel::Template;
use sluice_policy::{ActionError, Code, Flow, HttpCx, LoginDecision, PhaseCx, PrepareError};

use super::cookie::{self, CookieNames, CookieScope};
use super::discovery::Discovery;
use super::error::AuthError;
use super::provider::{Endpoints, Provider};
use super::seal::{self, SealKey};
use super::session::{self, Session};
use crate::http_call::Caller;

/// Where the identity provider sends the browser back, on the endpoint's own host. Register
/// `<endpoint URL>/ngrok/oauth2/callback` as the redirect URI of your OAuth app.
pub const CALLBACK_PATH: &str = "/ngrok/oauth2/callback";
/// Starts a login (even with a session), then returns to `redirect_path`.
pub const LOGIN_PATH: &str = "/ngrok/login";
/// Ends the session.
pub const LOGOUT_PATH: &str = "/ngrok/logout";
/// How long a started login may take before its callback is refused.
pub(super) const LOGIN_TTL: u64 = 10 * 60;
/// The upstream never receives these from the client: the gate sets them.
const IDENTITY_HEADERS: [&str; 3] = [
    "ngrok-auth-user-email",
    "ngrok-auth-user-id",
    "ngrok-auth-user-name",
];
/// A cookie past this many bytes drops the ID and refresh tokens.
const MAX_COOKIE: usize = 3800;
/// The session cookie is rewritten (for the idle timeout) at most this often.
const TOUCH_EVERY: u64 = 5;
/// Longest an edge waits for the issuer's discovery document when it takes a policy in.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who the identity provider is.
pub enum Idp {
    /// An OpenID Connect issuer, discovered.
    Oidc(Discovery),
    /// A plain OAuth 2.0 provider.
    OAuth {
        /// The built-in provider.
        provider: &'static Provider,
        /// Its endpoints, as configured.
        endpoints: Endpoints,
    },
}

/// The client secret: a `${…}` template, or text read at load from an environment variable
/// or a file (kept out of the policy file).
pub enum Secret {
    /// From the policy (may interpolate).
    Template(Template),
    /// Read at load.
    Literal(String),
}

/// A configured gate.
pub struct Gate {
    /// The provider.
    pub idp: Idp,
    /// `actions.ngrok.<result>`: `oidc` or `oauth`.
    pub result: &'static str,
    /// The action type, for interpolation errors.
    pub action: &'static str,
    /// The client id.
    pub client_id: Template,
    /// The client secret.
    pub client_secret: Secret,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Extra authorization-request parameters.
    pub authz_params: Vec<(String, String)>,
    /// Longest a session lasts after login.
    pub max_session: Duration,
    /// Longest a session may go unused (`None`: no idle limit).
    pub idle: Option<Duration>,
    /// How often the user info is read again (`None`: never).
    pub userinfo_refresh: Option<Duration>,
    /// Let CORS preflight requests through without a session.
    pub allow_cors_preflight: bool,
    /// `Domain=` of the cookies.
    pub cookie_domain: Option<String>,
    /// Scopes the cookies and the special paths.
    pub auth_id: Option<String>,
    /// Cookie names.
    pub cookies: CookieNames,
    /// The HTTP client.
    pub caller: Caller,
}

/// The request facts the gate works from.
pub(super) struct Here {
    /// Now, in Unix seconds.
    pub now: u64,
    /// `scheme://host` of the request.
    pub origin: String,
    /// Where the cookies apply.
    pub scope: CookieScope,
    /// The client id, rendered.
    pub client_id: String,
}

/// What a session check found.
enum Check {
    Valid(Box<Session>),
    Missing,
    TimedOut,
    MaxReached,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(super) fn timestamp(secs: u64) -> Value {
    let at = chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        .unwrap_or_default();
    Value::Timestamp(at.fixed_offset())
}

pub(super) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A path on this host (never `//evil` or a full URL), else `/`.
pub(super) fn safe_path(path: Option<String>) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/".to_string(),
    }
}

pub(super) fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(super) fn internal(e: String) -> AuthError {
    AuthError::Internal(e)
}

impl Gate {
    fn render(&self, t: &Template, cx: &HttpCx<'_>, field: &str) -> Result<String, ActionError> {
        t.render(cx.scope())
            .map_err(|e| ActionError::interpolation(self.action, field, e))
    }

    pub(super) fn secret(&self, cx: &HttpCx<'_>) -> Result<String, ActionError> {
        match &self.client_secret {
            Secret::Template(t) => self.render(t, cx, "client_secret"),
            Secret::Literal(s) => Ok(s.clone()),
        }
    }

    /// A digest naming this configuration: sessions from another provider, client or
    /// `auth_id` do not open here.
    pub(super) fn fingerprint(&self, client_id: &str) -> String {
        let provider = match &self.idp {
            Idp::Oidc(d) => d.issuer().to_string(),
            Idp::OAuth { provider, .. } => provider.name.to_string(),
        };
        let auth_id = self.auth_id.as_deref().unwrap_or_default();
        let digest = Sha256::digest(format!("{provider}\n{client_id}\n{auth_id}").as_bytes());
        hex::encode(&digest[..8])
    }

    fn here(&self, cx: &HttpCx<'_>) -> Result<Here, ActionError> {
        let endpoint = cx.endpoint();
        let secure = endpoint.url.starts_with("https://");
        let req = cx.request();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| endpoint.host.clone());
        let scheme = if secure { "https" } else { "http" };
        Ok(Here {
            now: unix(cx.now()),
            origin: format!("{scheme}://{host}"),
            scope: CookieScope {
                domain: self.cookie_domain.clone(),
                secure,
            },
            client_id: self.render(&self.client_id, cx, "client_id")?,
        })
    }

    fn auth_id_matches(&self, query: Option<&str>) -> bool {
        match query_param(query, "auth_id") {
            None => true,
            Some(id) => self.auth_id.as_deref() == Some(id.as_str()),
        }
    }

    /// Fetches an OpenID Connect issuer's discovery document before the policy serves, so an
    /// issuer that does not answer or serves an invalid document is an error where the edge
    /// takes the policy in (ngrok's ERR_NGROK_2227 at validation); the document stays cached
    /// and is refreshed hourly afterwards. Plain OAuth providers have nothing to fetch.
    pub async fn prepare(&self) -> Result<(), PrepareError> {
        let Idp::Oidc(discovery) = &self.idp else {
            return Ok(());
        };
        let failed = |message: String| PrepareError {
            code: Code::BadDiscoveryDocument,
            key: "issuer_url".into(),
            message,
        };
        match tokio::time::timeout(PREPARE_TIMEOUT, discovery.get(&self.caller)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed(format!(
                "bad OpenID Connect discovery document: `{}` did not answer within {}s",
                discovery.issuer(),
                PREPARE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Runs the gate for one request.
    pub async fn run(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let here = self.here(cx)?;
        let key = seal::current().map_err(ActionError::internal)?;
        let path = cx.request().uri.path().to_string();
        let query = cx.request().uri.query().map(str::to_string);
        if path == CALLBACK_PATH {
            return match self.callback(cx, &here, &key, query.as_deref()).await {
                Ok(flow) => Ok(flow),
                Err(e) => Ok(self.refuse(cx, &here, e, true)),
            };
        }
        if path == LOGOUT_PATH && self.auth_id_matches(query.as_deref()) {
            return Ok(self.logout(cx, &here, query.as_deref()));
        }
        if path == LOGIN_PATH && self.auth_id_matches(query.as_deref()) {
            let back = safe_path(query_param(query.as_deref(), "redirect_path"));
            self.set_results(cx, None, false, false, false);
            return self.start_login(cx, &here, &key, back, true).await;
        }
        if self.allow_cors_preflight
            && cx.request().method == Method::OPTIONS
            && cx
                .request()
                .headers
                .contains_key("access-control-request-method")
        {
            return Ok(Flow::Continue);
        }
        match self.check(cx, &here, &key) {
            Check::Valid(session) => self.admit(cx, &here, &key, *session).await,
            other => {
                let timed_out = matches!(other, Check::TimedOut);
                let max = matches!(other, Check::MaxReached);
                self.set_results(cx, None, timed_out, max, false);
                let uri = &cx.request().uri;
                let back = uri
                    .path_and_query()
                    .map_or("/".to_string(), |pq| pq.as_str().to_string());
                self.start_login(cx, &here, &key, safe_path(Some(back)), false)
                    .await
            }
        }
    }

    fn check(&self, cx: &HttpCx<'_>, here: &Here, key: &SealKey) -> Check {
        let Some(text) = cookie::get(&cx.request().headers, &self.cookies.session) else {
            return Check::Missing;
        };
        let Some(session) = session::open::<Session>(key, &self.cookies.session, &text) else {
            tracing::debug!(cookie = %self.cookies.session, "session cookie does not open");
            return Check::Missing;
        };
        if session.config != self.fingerprint(&here.client_id) {
            return Check::Missing;
        }
        if here.now >= session.created.saturating_add(self.max_session.as_secs()) {
            return Check::MaxReached;
        }
        if let Some(idle) = self.idle
            && here.now >= session.last_seen.saturating_add(idle.as_secs())
        {
            return Check::TimedOut;
        }
        Check::Valid(Box::new(session))
    }

    /// Lets a request with a valid session through: identity headers to the upstream, the
    /// gate's cookies removed, tokens and user info renewed (see [`Gate::freshen`]) and the
    /// idle clock reset when due.
    async fn admit(
        &self,
        cx: &mut HttpCx<'_>,
        here: &Here,
        key: &SealKey,
        mut session: Session,
    ) -> Result<Flow, ActionError> {
        let fresh = match self.freshen(cx, here, &mut session).await {
            Ok(fresh) => fresh,
            Err(e) => {
                // The provider no longer vouches for this user: log in again.
                tracing::info!(action = self.action, %e, "session not renewed: logging in again");
                self.set_results(cx, None, false, false, false);
                let back = safe_path(cx.request().uri.path_and_query().map(|p| p.to_string()));
                return self.start_login(cx, here, key, back, false).await;
            }
        };
        let refreshed = fresh.userinfo;
        let mut rewrite = fresh.tokens || fresh.userinfo;
        if self.idle.is_some() && here.now >= session.last_seen.saturating_add(TOUCH_EVERY) {
            rewrite = true;
        }
        if rewrite {
            session.last_seen = here.now;
            if let Some(v) = self.session_cookie(key, here, &session) {
                cx.add_response_header(SET_COOKIE, v);
            }
        }
        self.set_results(cx, Some(&session), false, false, refreshed);
        Self::record(cx, here, LoginDecision::Allow, Some(&session.identity));
        let identity = session.identity.clone();
        let names = [self.cookies.session.as_str(), self.cookies.nonce.as_str()];
        let headers = &mut cx.request_mut().headers;
        cookie::strip(headers, &names);
        for name in IDENTITY_HEADERS {
            headers.remove(name);
        }
        let pairs = [
            (IDENTITY_HEADERS[0], &identity.email),
            (IDENTITY_HEADERS[1], &identity.provider_user_id),
            (IDENTITY_HEADERS[2], &identity.name),
        ];
        for (name, value) in pairs {
            if !value.is_empty()
                && let Ok(v) = HeaderValue::from_str(value)
            {
                headers.insert(HeaderName::from_static(name), v);
            }
        }
        Ok(Flow::Continue)
    }

    pub(super) fn session_cookie(
        &self,
        key: &SealKey,
        here: &Here,
        session: &Session,
    ) -> Option<HeaderValue> {
        let left = session
            .created
            .saturating_add(self.max_session.as_secs())
            .saturating_sub(here.now);
        let mut sealed = session::seal(key, &self.cookies.session, session).ok()?;
        if sealed.len() > MAX_COOKIE {
            let mut slim = session.clone();
            slim.id_token.clear();
            slim.refresh_token.clear();
            sealed = session::seal(key, &self.cookies.session, &slim).ok()?;
        }
        here.scope.set(&self.cookies.session, &sealed, Some(left))
    }
}
