//! Byte-level parsing and encoding that both the edge and the agent need, kept free of any
//! runtime (no tokio, no Pingora) so each piece can be unit-tested and fuzzed on its own.

pub mod proxy_protocol;
pub mod sni;
