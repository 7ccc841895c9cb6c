//! Byte-level parsing and encoding that both the edge and the agent need, kept free of any
//! runtime (no tokio, no Pingora) so each piece can be unit-tested and fuzzed on its own.
//!
//! - [`duration`]: Go-style duration strings (`1m30s`), as ngrok's configs and policies write them.
//! - [`path`]: request path normalisation (dot segments, unreserved escapes, repeated slashes).
//! - [`http1`]: strict checks of HTTP/1.1 request heads as their bytes arrive.
//! - [`sni`]: the server name in a TLS ClientHello, read without terminating TLS.
//! - [`proxy_protocol`]: PROXY protocol v1/v2 headers, written and strictly read.
//! - [`protocol`]: the public protocol of an endpoint, shared by the engine and the tunnel.
//! - [`trace`]: the policy trace of a request, recorded by the engine and sent to the agent.

pub mod duration;
pub mod http1;
pub mod path;
pub mod protocol;
pub mod proxy_protocol;
pub mod sni;
pub mod trace;

pub use duration::{DurationError, parse_duration};
pub use http1::{HeadError, HeadScanner, transfer_encoding_is_chunked};
pub use path::{PathError, normalize_path};
pub use protocol::Protocol;
pub use trace::PolicyTrace;
