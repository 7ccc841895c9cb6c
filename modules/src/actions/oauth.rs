//! `oauth`: puts a login with an OAuth 2.0 provider in front of the endpoint: `amazon`,
//! `facebook`, `github`, `gitlab`, `google`, `linkedin`, `microsoft` or `twitch`, with each
//! one's endpoints built in and overridable under `endpoints:` (GitHub Enterprise, a test
//! server). A self-hosted edge has no managed apps, so `client_id` and a client secret are
//! required.
//!
//! The flow, special paths, cookies and headers are those of `openid-connect` (see
//! [`crate::oauth::gate`]); the user comes from the provider's user-info endpoint, read in
//! its own shape (GitHub's numeric `id` and `login`, Twitch's `data[0]`, …). Result variables:
//! `actions.ngrok.oauth.{identity.{id,email,name,provider_user_id,current_provider_session_id},
//! access_token,refresh_token,expires_at,session_timed_out,session_max_duration_reached,
//! userinfo_refreshed}` and, on failure, `actions.ngrok.oauth.error.{code,message}`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, Termination, TypedAction,
};

use crate::oauth::gate::{Gate, Idp};
use crate::oauth::provider::{self, PROVIDERS};
use crate::oauth::settings::{Common, build_gate};

/// Config of `oauth`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// `amazon`, `facebook`, `github`, `gitlab`, `google`, `linkedin`, `microsoft` or `twitch`.
    pub provider: String,
    /// The client id of your app at the provider; `${…}` allowed. Required (no managed apps).
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
    /// Scopes; default: what the provider needs for the user's id, name and email.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Extra parameters of the authorization request.
    #[serde(default)]
    pub authz_url_params: BTreeMap<String, String>,
    /// Sessions end this long after login (default 24h).
    #[serde(default)]
    pub max_session_duration: Option<String>,
    /// Sessions end after this long without a request (default: no idle limit).
    #[serde(default)]
    pub idle_session_timeout: Option<String>,
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
    /// Replaces the provider's built-in endpoints (each key optional).
    #[serde(default)]
    pub endpoints: Option<EndpointOverrides>,
}

/// `endpoints:` — the provider's URLs, for self-hosted or test providers.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointOverrides {
    /// The authorization endpoint the browser is sent to.
    #[serde(default)]
    pub authorization_url: Option<String>,
    /// The token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The user-info endpoint.
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// GitHub's list of the user's email addresses.
    #[serde(default)]
    pub emails_url: Option<String>,
}

/// The built action.
pub struct OAuth {
    gate: Gate,
}

#[async_trait]
impl Action for OAuth {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.gate.run(cx).await
    }

    fn summary(&self) -> String {
        match &self.gate.idp {
            Idp::OAuth { provider, .. } => format!("requires a login with {}", provider.name),
            Idp::Oidc(d) => format!("requires a login with {}", d.issuer()),
        }
    }
}

fn url(cx: &mut BuildCx<'_>, key: &str, value: &Option<String>, default: String) -> String {
    match value {
        Some(v) => {
            let ok = v.parse::<http::Uri>().ok().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !ok {
                cx.error_at(
                    Code::InvalidValue,
                    &format!("endpoints.{key}"),
                    format!("`{v}` is not an http:// or https:// URL"),
                );
            }
            v.clone()
        }
        None => default,
    }
}

impl TypedAction for OAuth {
    type Config = OAuthConfig;
    const TYPE: &'static str = "oauth";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const AUTH: bool = true;
    const ABOUT: &'static str = "Requires a login with an OAuth 2.0 provider (GitHub, Google, \
        …); the session lives in an encrypted cookie.";

    fn build(config: OAuthConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let Some(provider) = provider::find(&config.provider) else {
            let names: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
            cx.error_at(
                Code::InvalidValue,
                "provider",
                format!(
                    "unknown provider `{}`; expected one of {} (or use openid-connect for any \
                     OpenID Connect issuer)",
                    config.provider,
                    names.join(", ")
                ),
            );
            return None;
        };
        let mut endpoints = provider.endpoints();
        if let Some(o) = &config.endpoints {
            endpoints.authorize = url(
                cx,
                "authorization_url",
                &o.authorization_url,
                endpoints.authorize,
            );
            endpoints.token = url(cx, "token_url", &o.token_url, endpoints.token);
            endpoints.userinfo = url(cx, "userinfo_url", &o.userinfo_url, endpoints.userinfo);
            if let Some(emails) = &o.emails_url {
                endpoints.emails =
                    Some(url(cx, "emails_url", &Some(emails.clone()), String::new()));
            }
        }
        let scopes = config.scopes.clone().unwrap_or_else(|| {
            provider
                .default_scopes
                .iter()
                .map(|s| s.to_string())
                .collect()
        });
        let common = Common {
            provider_label: provider.name,
            client_id: config.client_id.as_deref(),
            client_secret: config.client_secret.as_deref(),
            client_secret_env: config.client_secret_env.as_deref(),
            client_secret_file: config.client_secret_file.as_deref(),
            scopes,
            authz_url_params: &config.authz_url_params,
            max_session_duration: config.max_session_duration.as_deref(),
            idle: (
                "idle_session_timeout",
                config.idle_session_timeout.as_deref(),
            ),
            userinfo_refresh_interval: config.userinfo_refresh_interval.as_deref(),
            allow_cors_preflight: config.allow_cors_preflight,
            auth_cookie_domain: config.auth_cookie_domain.as_deref(),
            auth_id: config.auth_id.as_deref(),
        };
        let idp = Idp::OAuth {
            provider,
            endpoints,
        };
        let gate = build_gate(cx, common, idp, "oauth", Self::TYPE)?;
        Some(OAuth { gate })
    }
}
