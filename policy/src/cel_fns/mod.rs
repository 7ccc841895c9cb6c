//! ngrok's CEL function library for sluice: cel 0.15's standard library and extensions,
//! plus the function library of ngrok's Traffic Policy.
//!
//! Compile each policy expression once with the [`Env`] from [`ngrok_env`],
//! reject unknown calls with [`unknown_functions`], then evaluate it per
//! request with a fresh `Context::with_env(env.clone())` that binds `req`
//! (and `res` in the response phase).
//!
//! Compile with `Env::compile`, never `Program::compile`: the HTTP helpers
//! and the literal-regex check are macros, which only the `Env`'s parser
//! expands. Binding `req` through a `VariableResolver` that hands out a
//! borrowed, pre-built value keeps each evaluation free of copies.

pub(crate) mod encoding;
pub(crate) mod hash;
pub(crate) mod http_helpers;
pub(crate) mod json;
pub(crate) mod names;
pub(crate) mod net;
pub(crate) mod query;
pub(crate) mod random;
pub(crate) mod regex_cache;
pub(crate) mod sort_compare;
pub(crate) mod strings;
pub(crate) mod unknown;
pub(crate) mod url;
pub(crate) mod util;

use cel::{DeclarationError, Env, extensions};

pub use names::{function_names, is_known_function};
pub(crate) use regex_cache::compile_regex;
pub use regex_cache::{REGEX_CACHE_CAPACITY, regex_compilations};
pub use unknown::unknown_functions;

/// Why [`ngrok_env`] could not build the environment.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// cel refused a declaration, e.g. a name or signature declared twice.
    #[error("declaring a CEL function or macro failed: {0}")]
    Declaration(#[from] DeclarationError),
}

/// Builds the environment: cel's standard library, its strings, lists, math
/// and encoders extensions, and ngrok's functions, methods and macros.
///
/// Build it once and share it (`Arc<Env>`): every policy is compiled with
/// it, and every evaluation's `Context` refers to it.
pub fn ngrok_env() -> Result<Env, RegisterError> {
    let mut env = Env::stdlib();
    env.add_extension(extensions::strings)?;
    env.add_extension(extensions::lists)?;
    env.add_extension(extensions::math)?;
    env.add_extension(extensions::encoders)?;
    regex_cache::register(&mut env)?;
    sort_compare::register(&mut env)?;
    strings::register(&mut env)?;
    net::register(&mut env)?;
    encoding::register(&mut env)?;
    url::register(&mut env)?;
    json::register(&mut env)?;
    query::register(&mut env)?;
    hash::register(&mut env)?;
    random::register(&mut env)?;
    http_helpers::register(&mut env)?;
    Ok(env)
}
