//! `openid-connect` (alias `oidc`): puts an OpenID Connect login in front of the endpoint.
//!
//! The issuer is discovered from `issuer_url` (`/.well-known/openid-configuration`) when an
//! edge takes the policy in (its config load, an agent's bind: an issuer that does not answer
//! or serves an invalid document is an error there, ERR_SLUICE_2227), then cached and
//! refreshed hourly. A request without a valid session is redirected to the issuer with the
//! authorization-code flow (PKCE, nonce, `state` bound to the original path); the issuer sends
//! the browser back to `/ngrok/oauth2/callback` on the endpoint's own host, where the edge
//! redeems the code, validates the ID token against the issuer's JWKS (`iss`, `aud`, `exp`,
//! `nonce`) and sets an encrypted session cookie. `/ngrok/login` and `/ngrok/logout` work as
//! on ngrok. A request with a session goes on with `ngrok-auth-user-{email,id,name}` headers
//! and `actions.ngrok.oidc.{identity.{id,email,name,provider_user_id,current_session_id},
//! identity_token,access_token,refresh_token,expires_at,session_timed_out,
//! session_max_duration_reached,user_info_refreshed}`; failures set
//! `actions.ngrok.oidc.error.{code,message}` (see [`crate::oauth::error`] for the codes).

use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PrepareError, Termination, TypedAction,
};

use crate::oauth::discovery::Discovery;
use crate::oauth::gate::{Gate, Idp};
use crate::oauth::settings::{Common, build_gate};

/// Scopes asked for when the config gives none.
const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// Config of `openid-connect`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenIdConnectConfig {
    /// The issuer; must serve `/.well-known/openid-configuration`. Required.
    pub issuer_url: String,
    /// The client id of your app at the issuer; `${…}` allowed. Required (no managed apps).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The client secret; `${…}` allowed. Or use `client_secret_env` / `client_secret_file`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Reads the client secret from this environment variable when the policy loads.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Reads the client secret from this file when the policy loads (trimmed).
    #[serde(default)]
    pub client_secret_file: Option<String>,
    /// Scopes; default `openid profile email` (`openid` is always asked for).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Extra parameters of the authorization request (e.g. `prompt`, `hd`).
    #[serde(default)]
    pub authz_url_params: BTreeMap<String, String>,
    /// Sessions end this long after login (default 24h).
    #[serde(default)]
    pub max_session_duration: Option<String>,
    /// Sessions end after this long without a request (default: no idle limit).
    #[serde(default)]
    pub idle_session_duration: Option<String>,
    /// How often the user info is read again (default: never).
    #[serde(default)]
    pub userinfo_refresh_interval: Option<String>,
    /// Let CORS preflight (`OPTIONS` with `access-control-request-method`) through unauthenticated.
    #[serde(default)]
    pub allow_cors_preflight: bool,
    /// `Domain` of the session cookie, to share a login between sibling hosts.
    #[serde(default)]
    pub auth_cookie_domain: Option<String>,
    /// Names this login: scopes its cookies and the `auth_id` of `/ngrok/login` and `/ngrok/logout`.
    #[serde(default)]
    pub auth_id: Option<String>,
}

/// The built action.
pub struct OpenIdConnect {
    gate: Gate,
}

#[async_trait]
impl Action for OpenIdConnect {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.gate.run(cx).await
    }

    async fn prepare(&self) -> Result<(), PrepareError> {
        self.gate.prepare().await
    }

    fn summary(&self) -> String {
        let issuer = match &self.gate.idp {
            Idp::Oidc(d) => d.issuer().to_string(),
            Idp::OAuth { provider, .. } => provider.name.to_string(),
        };
        format!("requires a login with the OpenID Connect issuer {issuer}")
    }
}

impl TypedAction for OpenIdConnect {
    type Config = OpenIdConnectConfig;
    const TYPE: &'static str = "openid-connect";
    const ALIASES: &'static [&'static str] = &["oidc"];
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const AUTH: bool = true;
    const ABOUT: &'static str = "Requires a login with an OpenID Connect provider (authorization \
        code with PKCE); the session lives in an encrypted cookie.";

    fn build(config: OpenIdConnectConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let discovery = match Discovery::new(&config.issuer_url) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.error_at(Code::InvalidValue, "issuer_url", e);
                None
            }
        };
        let mut scopes = config
            .scopes
            .clone()
            .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect());
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_string());
        }
        let common = Common {
            provider_label: &config.issuer_url,
            client_id: config.client_id.as_deref(),
            client_secret: config.client_secret.as_deref(),
            client_secret_env: config.client_secret_env.as_deref(),
            client_secret_file: config.client_secret_file.as_deref(),
            scopes,
            authz_url_params: &config.authz_url_params,
            max_session_duration: config.max_session_duration.as_deref(),
            idle: (
                "idle_session_duration",
                config.idle_session_duration.as_deref(),
            ),
            userinfo_refresh_interval: config.userinfo_refresh_interval.as_deref(),
            allow_cors_preflight: config.allow_cors_preflight,
            auth_cookie_domain: config.auth_cookie_domain.as_deref(),
            auth_id: config.auth_id.as_deref(),
        };
        let discovery = discovery?;
        let gate = build_gate(cx, common, Idp::Oidc(discovery), "oidc", Self::TYPE)?;
        Some(OpenIdConnect { gate })
    }
}
