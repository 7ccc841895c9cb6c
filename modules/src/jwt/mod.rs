//! JWT validation for the `jwt-validation` traffic-policy action.
//!
//! The pieces are independent so the action can compose them:
//! [`extract_from_header`] and [`extract_from_body`] pull the raw token out
//! of a request, [`JwksCache`] supplies
//! the signing keys, and [`verify_token`] checks signature and claims against
//! a [`TokenPolicy`] (signatures and most claims through the `jsonwebtoken` crate).
//! Every failure is a [`JwtError`] carrying the ngrok-style
//! error code and HTTP status to answer with.

mod alg;
mod error;
mod extract;
mod fetch;
mod jwks;
mod keys;
mod keys_config;
mod verify;

#[cfg(test)]
mod tests;

pub use alg::{ALGORITHMS, Algorithm, algorithm_name, parse_algorithm};
pub use error::JwtError;
pub use extract::{extract_from_body, extract_from_header};
pub use jwks::{JwksCache, JwksCacheConfig, MAX_JWKS_SOURCES};
#[allow(unused_imports)]
pub use keys::{Jwk, KeySet};
pub(crate) use keys_config::{KeysSpec, OneOrMany, keys};
#[allow(unused_imports)]
pub use verify::{DEFAULT_LEEWAY, TokenPolicy, VerifiedToken, verify_token};
