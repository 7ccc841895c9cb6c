//! Agent-backed endpoints: everything the edge does for agents on its tunnel listener. The
//! table of what agents bound (and its pools) is state, in [`crate::state`].
//!
//! - [`auth`]: the authenticator (authtokens from the config).
//! - [`binder`]: the bind handler (policy validation, names, takeover, pooling);
//!   [`bind_tcp`] its TCP binds (ports); [`bind_internal`] its internal binds (`.internal`
//!   names, never public); [`claim`] the endpoint records and ownership rules.
//! - [`connect`]: the Pingora L4 connector opening a stream on an agent session (HTTP);
//!   [`lease`] keeps such streams between requests of one client connection.
//! - [`splice`]: one TCP or TLS connection copied to and from a stream (after
//!   `on_tcp_connect`).
//! - `tcp_chain`: `forward-internal` on TCP and TLS connections (the chain of
//!   `on_tcp_connect`s a connection goes through).
//! - [`tcp`]: the listeners of TCP endpoints and the choice of free ports.
//! - [`sni`] and [`tls_passthrough`]: TLS endpoints routed by the ClientHello's SNI on the
//!   https listener, without terminating TLS; [`tls_terminate`] terminates them when
//!   `on_tcp_connect` ran `terminate-tls` (with [`replay`] giving back the ClientHello), and
//!   [`handshake`] lets the action handshake while the phase runs.

pub mod auth;
pub mod bind_internal;
pub mod bind_tcp;
pub mod binder;
pub mod claim;
pub mod connect;
pub mod handshake;
pub mod lease;
pub mod replay;
pub mod sni;
pub mod splice;
pub mod tcp;
mod tcp_chain;
pub mod tls_passthrough;
pub mod tls_terminate;

pub use auth::TokenAuth;
pub use binder::{BindSettings, Binder, watch_session};
pub use connect::{AgentHome, TunnelConnect, header};
pub use lease::{Lease, StreamHome, StreamLease};
pub use tls_passthrough::{Passthrough, passthrough};
pub use tls_terminate::Terminator;
