//! Why a login or session check failed, with the status and `ERR_SLUICE_*` code to answer.
//!
//! ngrok reserves 3100–3167 for OAuth/OIDC flow errors without documenting each number, so
//! sluice numbers its own within that range; 2227 is ngrok's "bad OIDC discovery document".

use http::StatusCode;

/// A failed step of the authorization-code flow.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The callback has no `state`, no pending login cookie, or a `state` that does not match
    /// the pending login of this browser (3100, 400).
    #[error("the login state is missing or does not match this browser's login: start again")]
    State,
    /// The pending-login cookie could not be opened: altered, expired or from another key
    /// (3101, 400).
    #[error("the login cookie is invalid: start again")]
    LoginCookie,
    /// The identity provider answered the authorization request with an error (3102, 403).
    #[error("the identity provider refused the login: {0}")]
    Denied(String),
    /// The callback has no `code` (3103, 400).
    #[error("the identity provider's callback carries no authorization code")]
    NoCode,
    /// The token endpoint refused the code (replayed, expired, wrong client…) (3104, 401).
    #[error("the identity provider refused the authorization code: {0}")]
    CodeRefused(String),
    /// The ID token failed validation: signature, issuer, audience, expiry (3105, 401).
    #[error("the ID token is invalid: {0}")]
    IdToken(String),
    /// The ID token's `nonce` is not the one this login sent (3106, 401).
    #[error("the ID token's nonce does not match this login")]
    Nonce,
    /// The identity provider could not be reached or answered nonsense (3107, 502).
    #[error("the identity provider failed: {0}")]
    Provider(String),
    /// The user info has no usable user id (3108, 502).
    #[error("the identity provider's user info has no user id")]
    NoUserId,
    /// The issuer's discovery document could not be fetched or is invalid (2227, 502).
    #[error("bad OpenID Connect discovery document: {0}")]
    Discovery(String),
    /// Something on the edge failed: randomness, sealing (2300, 500).
    #[error("{0}")]
    Internal(String),
}

impl AuthError {
    /// The number printed as `ERR_SLUICE_<code>`.
    pub fn code(&self) -> u16 {
        match self {
            AuthError::State => 3100,
            AuthError::LoginCookie => 3101,
            AuthError::Denied(_) => 3102,
            AuthError::NoCode => 3103,
            AuthError::CodeRefused(_) => 3104,
            AuthError::IdToken(_) => 3105,
            AuthError::Nonce => 3106,
            AuthError::Provider(_) => 3107,
            AuthError::NoUserId => 3108,
            AuthError::Discovery(_) => 2227,
            AuthError::Internal(_) => 2300,
        }
    }

    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::State | AuthError::LoginCookie | AuthError::NoCode => {
                StatusCode::BAD_REQUEST
            }
            AuthError::Denied(_) => StatusCode::FORBIDDEN,
            AuthError::CodeRefused(_) | AuthError::IdToken(_) | AuthError::Nonce => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::Provider(_) | AuthError::NoUserId | AuthError::Discovery(_) => {
                StatusCode::BAD_GATEWAY
            }
            AuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
