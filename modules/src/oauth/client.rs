//! The edge's calls to the identity provider, through the actions' one HTTP client
//! ([`crate::http_call`]): redeeming the code and refreshing tokens at the token endpoint,
//! and reading user info.
//! Tokens and secrets are never logged.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};
use serde::Deserialize;

use super::error::AuthError;
use crate::http_call::{Call, Caller};

const TIMEOUT: Duration = Duration::from_secs(10);

/// How the client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// A code redemption.
pub struct CodeGrant<'a> {
    /// The token endpoint.
    pub token_url: &'a str,
    /// The authorization code from the callback.
    pub code: &'a str,
    /// The callback URL the code was issued for.
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub verifier: &'a str,
    /// The client id.
    pub client_id: &'a str,
    /// The client secret.
    pub client_secret: &'a str,
    /// How to send them.
    pub auth: ClientAuth,
}

/// The token endpoint's answer.
#[derive(Debug, Default, Deserialize)]
pub struct Tokens {
    /// The access token.
    #[serde(default)]
    pub access_token: String,
    /// The ID token (OpenID Connect).
    #[serde(default)]
    pub id_token: Option<String>,
    /// The refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Lifetime of the access token in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// An OAuth error code (GitHub answers 200 with one).
    #[serde(default)]
    pub error: Option<String>,
    /// Its description.
    #[serde(default)]
    pub error_description: Option<String>,
}

fn uri(url: &str) -> Result<Uri, AuthError> {
    url.parse()
        .map_err(|_| AuthError::Provider(format!("`{url}` is not a valid URL")))
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// A refresh of the access token with the refresh token the provider gave at login.
pub struct RefreshGrant<'a> {
    /// The token endpoint.
    pub token_url: &'a str,
    /// The refresh token.
    pub refresh_token: &'a str,
    /// The client id.
    pub client_id: &'a str,
    /// The client secret.
    pub client_secret: &'a str,
    /// How to send them.
    pub auth: ClientAuth,
}

/// Redeems an authorization code. A refusal by the provider (bad, replayed or expired code)
/// is [`AuthError::CodeRefused`]; an unreachable provider is [`AuthError::Provider`].
pub async fn redeem(caller: &Caller, grant: CodeGrant<'_>) -> Result<Tokens, AuthError> {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", grant.code),
        ("redirect_uri", grant.redirect_uri),
        ("code_verifier", grant.verifier),
    ];
    let client = (grant.client_id, grant.client_secret, grant.auth);
    token_request(caller, grant.token_url, &pairs, client).await
}

/// Exchanges a refresh token for fresh tokens (`grant_type=refresh_token`). A refusal (the
/// refresh token was revoked or expired) is [`AuthError::CodeRefused`].
pub async fn refresh(caller: &Caller, grant: RefreshGrant<'_>) -> Result<Tokens, AuthError> {
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", grant.refresh_token),
    ];
    let client = (grant.client_id, grant.client_secret, grant.auth);
    token_request(caller, grant.token_url, &pairs, client).await
}

/// One call to the token endpoint with `pairs` and the client's credentials.
async fn token_request(
    caller: &Caller,
    token_url: &str,
    pairs: &[(&str, &str)],
    (client_id, client_secret, auth): (&str, &str, ClientAuth),
) -> Result<Tokens, AuthError> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(header::USER_AGENT, HeaderValue::from_static("sluice-oauth"));
    let mut pairs = pairs.to_vec();
    match auth {
        ClientAuth::Basic => {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = BASE64.encode(format!("{}:{}", enc(client_id), enc(client_secret)));
            let value = HeaderValue::from_str(&format!("Basic {basic}"))
                .map_err(|_| AuthError::Internal("client credentials are not ASCII".into()))?;
            headers.insert(header::AUTHORIZATION, value);
        }
        ClientAuth::Post => {
            pairs.push(("client_id", client_id));
            pairs.push(("client_secret", client_secret));
        }
    }
    let call = Call {
        method: Method::POST,
        url: uri(token_url)?,
        headers,
        body: Bytes::from(form(&pairs)),
    };
    let reply = caller
        .send(call, 0, TIMEOUT)
        .await
        .map_err(|e| AuthError::Provider(format!("token endpoint: {e}")))?;
    let tokens: Tokens = serde_json::from_slice(&reply.body).unwrap_or_default();
    if let Some(error) = &tokens.error {
        let detail = tokens.error_description.as_deref().unwrap_or_default();
        return Err(AuthError::CodeRefused(
            format!("{error} {detail}").trim().to_string(),
        ));
    }
    if reply.status.is_client_error() {
        return Err(AuthError::CodeRefused(format!("HTTP {}", reply.status)));
    }
    if !reply.status.is_success() {
        return Err(AuthError::Provider(format!(
            "token endpoint answered HTTP {}",
            reply.status
        )));
    }
    if tokens.access_token.is_empty() && tokens.id_token.is_none() {
        return Err(AuthError::Provider(
            "the token endpoint's answer has no token".into(),
        ));
    }
    Ok(tokens)
}

/// Reads a JSON document (user info, GitHub's email list) with the access token.
pub async fn get_json(
    caller: &Caller,
    url: &str,
    access_token: &str,
    client_id: Option<&str>,
) -> Result<serde_json::Value, AuthError> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(header::USER_AGENT, HeaderValue::from_static("sluice-oauth"));
    let bearer = HeaderValue::from_str(&format!("Bearer {access_token}"))
        .map_err(|_| AuthError::Provider("the access token is not ASCII".into()))?;
    headers.insert(header::AUTHORIZATION, bearer);
    if let Some(id) = client_id
        && let Ok(v) = HeaderValue::from_str(id)
    {
        headers.insert("client-id", v);
    }
    let call = Call {
        method: Method::GET,
        url: uri(url)?,
        headers,
        body: Bytes::new(),
    };
    let reply = caller
        .send(call, 2, TIMEOUT)
        .await
        .map_err(|e| AuthError::Provider(format!("user info: {e}")))?;
    if !reply.status.is_success() {
        return Err(AuthError::Provider(format!(
            "user info endpoint answered HTTP {}",
            reply.status
        )));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|e| AuthError::Provider(format!("user info is not JSON: {e}")))
}
