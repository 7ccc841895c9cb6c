//! The pieces of the `oauth` and `openid-connect` actions: the login [`gate`] both run (with
//! its `login` and `callback` steps, the user's `userinfo`, and its `outcome` for the policy),
//! the built-in OAuth [`provider`]s, OpenID Connect [`discovery`], the calls to the identity
//! provider ([`client`]), keeping a session's tokens and user info current (`refresh`), and
//! sealed [`session`] cookies ([`seal`], [`cookie`]).
//!
//! The flow is the authorization-code grant with PKCE (and a nonce for OIDC). The provider
//! sends the browser back to [`gate::CALLBACK_PATH`] on the endpoint's own host (there is no
//! `idp.ngrok.com` in front of a self-hosted edge), and the session lives in a cookie sealed
//! with a key the edge keeps in its state dir ([`seal::load_or_create_key`]).

mod callback;
pub mod client;
pub mod cookie;
pub mod discovery;
pub mod error;
pub mod gate;
mod login;
mod outcome;
pub mod provider;
mod refresh;
pub mod seal;
pub mod session;
pub mod settings;
mod userinfo;
