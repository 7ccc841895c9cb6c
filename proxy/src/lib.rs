//! The edge: a Pingora reverse proxy that routes requests by Host to endpoints, runs each
//! endpoint's Traffic Policy on them, and forwards what is left to the endpoint's upstream.
//!
//! - [`config`]: the edge config file (versioned YAML, line:column errors).
//! - [`routes`]: Host → endpoint (exact beats wildcard, most specific wildcard wins).
//! - [`service`]: the `ProxyHttp` implementation that drives the policy engine.
//! - [`errors`]: the responses the edge makes itself, with `sluice-error-code`.
//! - [`events`]: one JSON line per finished request.
//!
//! [`run`] starts a Pingora server in the foreground.

mod body;
pub mod config;
pub mod errors;
pub mod events;
pub mod routes;
pub mod service;

pub use config::{ConfigError, EdgeConfig, load_file};
pub use service::{EdgeService, run};
