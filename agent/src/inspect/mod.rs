//! The inspector: a bounded store of recorded HTTP exchanges (and TCP/TLS connections), the
//! local JSON API (ngrok's shapes) with replay, sluice's own routes (live stream, decoded
//! detail, HAR, replay with modification and through the edge), and the single-page web
//! inspector embedded in the binary.

pub mod api;
pub mod body;
pub mod detail;
pub mod edge_replay;
pub mod filter;
pub mod har;
pub mod json;
pub mod live;
pub mod replay;
mod routes;
pub mod store;
mod ui;

#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod routes_tests;
#[cfg(test)]
mod tests;

pub use api::{ApiOptions, EndpointInfo, InspectApi, bind};
pub use store::{
    CapturedRequest, CapturedResponse, DEFAULT_BODY_LIMIT, DEFAULT_MAX_BYTES, Exchange,
    InspectLimits, Inspector,
};
