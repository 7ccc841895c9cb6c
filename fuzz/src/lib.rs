//! Fuzz targets for the parsers that read untrusted bytes: each is a plain function of the
//! input that must never panic, so the same code runs under libFuzzer (`fuzz_targets/`,
//! built and run by `scripts/fuzz`) and in this crate's unit tests, which replay the checked-in
//! corpus (`corpus/<target>/`) on every `cargo test`.

mod agent;
mod http_head;
mod policy;
mod tunnel;
mod wire;

#[cfg(test)]
mod corpus;

pub use agent::agent_config;
pub use http_head::http_head;
pub use policy::{cel_expr, cel_template, policy_load};
pub use tunnel::tunnel_frames;
pub use wire::{proxy_protocol, tls_sni};

/// A fuzz target: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as `scripts/fuzz` and the corpus tests know them.
pub const TARGETS: &[(&str, Target)] = &[
    ("policy_load", policy_load),
    ("cel_template", cel_template),
    ("cel_expr", cel_expr),
    ("tunnel_frames", tunnel_frames),
    ("tls_sni", tls_sni),
    ("proxy_protocol", proxy_protocol),
    ("agent_config", agent_config),
    ("http_head", http_head),
];
