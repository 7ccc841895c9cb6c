//! The edge: a Pingora reverse proxy that routes requests by Host to endpoints, runs each
//! endpoint's Traffic Policy on them, and forwards what is left to the endpoint's upstream.
//!
//! - [`config`]: the edge config file (versioned YAML, line:column errors).
//! - [`routes`]: Host → endpoint (exact beats wildcard, most specific wildcard wins).
//! - [`state`]: what everything else shares ([`state::Shared`]): routes and certificates of
//!   one config (swapped whole on reload), the agent-bound endpoints, metrics, the event sink.
//!   It imports none of the modules below that use it.
//! - [`server`]: the runtime: accept loops (http, https, admin), reload on SIGHUP / file change.
//! - [`conn`]: the record of each client connection; [`conn_handle`]: how a request reaches
//!   it through its session; `metered`: the client stream wrapper (bytes, header guards).
//! - [`tls`]: certificates by SNI, and the development CA.
//! - [`acme`]: certificates obtained and renewed from an ACME CA, and the challenges it asks.
//! - [`service`]: the `ProxyHttp` implementation that drives the policy engine.
//! - [`errors`]: the responses the edge makes itself, with `sluice-error-code`.
//! - [`events`]: the two events (one JSON line per finished request and per closed
//!   connection) as types; [`event_sink`] writes them out.
//! - [`metrics`]: Prometheus counters for the admin listener.
//! - [`auth_limit`]: per-source-address back-off after failed authentications.
//! - [`tunnel`]: agent-backed endpoints: authtokens, binds (HTTP/HTTPS names, TLS names
//!   routed by SNI, TCP ports), pooling, and the streams to agents.
//! - [`ssh`]: the SSH gateway (`ssh -R … edge http`), whose sessions bind like agents.
//!
//! [`run`] starts the edge in the foreground.

pub mod acme;
mod admin;
pub mod auth_limit;
mod body;
pub mod body_pace;
mod body_watch;
mod cert_watch;
pub mod cluster;
mod coalesce;
pub mod config;
pub mod conn;
pub mod conn_handle;
pub mod errors;
pub mod event_sink;
pub mod events;
mod metered;
pub mod metrics;
pub mod rate_limit_redis;
mod refusal;
mod reload;
pub mod routes;
pub mod server;
pub mod service;
pub mod ssh;
pub mod state;
pub mod tls;
pub mod tunnel;

pub use config::{ConfigError, EdgeConfig, load_file};
pub use server::{run, serve};
pub use service::EdgeService;
