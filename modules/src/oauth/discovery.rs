//! OpenID Connect discovery: `<issuer>/.well-known/openid-configuration`, fetched on first use,
//! cached, refreshed hourly (a failed refresh keeps the last good document), with the issuer's
//! signing keys in a [`JwksCache`] shared with `jwt-validation`'s key handling.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};
use serde::Deserialize;
use tokio::time::Instant;

use super::client::ClientAuth;
use super::error::AuthError;
use crate::http_call::{Call, Caller};
use crate::jwt::{Algorithm, JwksCache, JwksCacheConfig, TokenPolicy, parse_algorithm};

/// How long a discovery document is used before it is fetched again.
const REFRESH: Duration = Duration::from_secs(60 * 60);
/// How long to wait before retrying a failed first fetch.
const RETRY: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(10);

/// The fields of a discovery document the flow uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    /// The issuer; must equal the configured `issuer_url`.
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: String,
    /// Where the code is redeemed.
    pub token_endpoint: String,
    /// Where the user's claims are read (optional).
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// The issuer's signing keys.
    pub jwks_uri: String,
    /// ID-token signature algorithms; RS256 when absent.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// How clients authenticate at the token endpoint; `client_secret_basic` when absent.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

/// A fetched document and its keys.
pub struct Discovered {
    /// The document.
    pub doc: Document,
    /// Its `jwks_uri`, cached.
    pub keys: JwksCache,
}

impl Discovered {
    /// How the client authenticates at the token endpoint: HTTP Basic unless the issuer only
    /// offers the form body.
    pub fn client_auth(&self) -> ClientAuth {
        let methods = &self.doc.token_endpoint_auth_methods_supported;
        if methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic") {
            ClientAuth::Basic
        } else {
            ClientAuth::Post
        }
    }

    /// What an ID token of this issuer for `client_id` must satisfy: an asymmetric algorithm
    /// the issuer announces (RS256 when it names none), its `iss`, and `client_id` as `aud`.
    pub fn id_token_policy(&self, client_id: &str) -> Result<TokenPolicy, AuthError> {
        let mut algs: Vec<_> = self
            .doc
            .id_token_signing_alg_values_supported
            .iter()
            .filter_map(|a| parse_algorithm(a))
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        if algs.is_empty() {
            algs.push(Algorithm::RS256);
        }
        Ok(TokenPolicy::new(algs, [self.doc.issuer.clone()])
            .map_err(|e| AuthError::IdToken(e.to_string()))?
            .with_audiences([client_id.to_string()]))
    }
}

/// The cached discovery of one issuer.
pub struct Discovery {
    issuer: String,
    url: Uri,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<(Instant, Arc<Discovered>)>,
    failed: Option<(Instant, AuthError)>,
}

impl Discovery {
    /// For `issuer_url` (an `http(s)://` URL); nothing is fetched yet.
    pub fn new(issuer: &str) -> Result<Self, String> {
        let base = issuer.trim_end_matches('/');
        let url: Uri = format!("{base}/.well-known/openid-configuration")
            .parse()
            .map_err(|_| format!("`{issuer}` is not a valid URL"))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(format!("`{issuer}` must be an http:// or https:// URL"));
        }
        Ok(Discovery {
            issuer: issuer.to_string(),
            url,
            state: tokio::sync::Mutex::new(State::default()),
        })
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The document, fetched when missing or stale.
    pub async fn get(&self, caller: &Caller) -> Result<Arc<Discovered>, AuthError> {
        let mut state = self.state.lock().await;
        if let Some((at, doc)) = &state.current
            && at.elapsed() < REFRESH
        {
            return Ok(doc.clone());
        }
        if state.current.is_none()
            && let Some((at, err)) = &state.failed
            && at.elapsed() < RETRY
        {
            return Err(err.clone());
        }
        match self.fetch(caller).await {
            Ok(found) => {
                let found = Arc::new(found);
                state.current = Some((Instant::now(), found.clone()));
                state.failed = None;
                Ok(found)
            }
            Err(err) => {
                tracing::warn!(issuer = %self.issuer, %err, "OIDC discovery failed");
                state.failed = Some((Instant::now(), err.clone()));
                match &state.current {
                    Some((_, doc)) => Ok(doc.clone()),
                    None => Err(err),
                }
            }
        }
    }

    async fn fetch(&self, caller: &Caller) -> Result<Discovered, AuthError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let call = Call {
            method: Method::GET,
            url: self.url.clone(),
            headers,
            body: Bytes::new(),
        };
        let reply = caller
            .send(call, 2, TIMEOUT)
            .await
            .map_err(|e| AuthError::Discovery(format!("{}: {e}", self.url)))?;
        if !reply.status.is_success() {
            return Err(AuthError::Discovery(format!(
                "{} answered HTTP {}",
                self.url, reply.status
            )));
        }
        let doc: Document = serde_json::from_slice(&reply.body)
            .map_err(|e| AuthError::Discovery(format!("{}: {e}", self.url)))?;
        if doc.issuer.trim_end_matches('/') != self.issuer.trim_end_matches('/') {
            return Err(AuthError::Discovery(format!(
                "the document's issuer `{}` is not the configured `{}`",
                doc.issuer, self.issuer
            )));
        }
        let keys = JwksCache::new([doc.jwks_uri.as_str()], JwksCacheConfig::default())
            .map_err(|e| AuthError::Discovery(e.to_string()))?;
        Ok(Discovered { doc, keys })
    }
}
