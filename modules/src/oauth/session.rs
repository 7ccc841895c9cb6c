//! What the two cookies hold: a [`PendingLogin`] between the redirect to the identity provider
//! and its callback, then a [`Session`] for the logged-in user. Both are sealed (see
//! [`super::seal`]) and carry the times the action's timeouts are checked against.

use serde::{Deserialize, Serialize};

use super::seal::SealKey;

/// The user, as the identity provider describes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider's stable user id (`sub`, GitHub's numeric `id`…).
    pub provider_user_id: String,
    /// Email address, when the provider gives one.
    pub email: String,
    /// Display name (or login name when there is none).
    pub name: String,
}

/// A login in progress, kept in the browser between the redirect and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent to the provider.
    pub state: String,
    /// The OIDC `nonce` sent to the provider.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// Where to send the user after the login (a path on this host).
    pub redirect_path: String,
    /// When the login started (Unix seconds).
    pub started: u64,
    /// Which action configuration started it (see [`Session::config`]).
    pub config: String,
}

/// A logged-in user's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// A random id of this session (`current_session_id`).
    pub id: String,
    /// The user.
    pub identity: Identity,
    /// The provider's session id (`sid` claim), if any.
    #[serde(default)]
    pub provider_session_id: String,
    /// The OIDC ID token, when it fits in the cookie.
    #[serde(default)]
    pub id_token: String,
    /// The access token.
    #[serde(default)]
    pub access_token: String,
    /// The refresh token, when it fits in the cookie.
    #[serde(default)]
    pub refresh_token: String,
    /// When the access token expires (Unix seconds; 0 when unknown).
    #[serde(default)]
    pub expires_at: u64,
    /// When the user logged in (Unix seconds).
    pub created: u64,
    /// When the session was last used (Unix seconds).
    pub last_seen: u64,
    /// When the user info was last fetched (Unix seconds).
    pub userinfo_at: u64,
    /// A digest of the action's provider, client id and `auth_id`: a session made under
    /// another configuration does not open.
    pub config: String,
}

/// Seals `value` for the cookie `purpose`.
pub fn seal<T: Serialize>(key: &SealKey, purpose: &str, value: &T) -> Result<String, String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    key.seal(purpose, &json)
}

/// Opens a value sealed by [`seal`]; `None` when altered or not ours.
pub fn open<T: for<'de> Deserialize<'de>>(key: &SealKey, purpose: &str, text: &str) -> Option<T> {
    let json = key.open(purpose, text)?;
    serde_json::from_slice(&json).ok()
}
