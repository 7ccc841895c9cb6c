//! The inspector: a bounded store of recorded HTTP exchanges (and TCP/TLS connections), the
//! local JSON API (ngrok's shapes) with replay, sluice's own routes (live stream, decoded
//! detail, HAR, replay with modification and through the edge), the single-page web
//! inspector embedded in the binary, and the agent's status (`/status`, `/api/status`) with
//! each endpoint's traffic metrics; endpoints can be started and stopped through the API
//! (`POST`/`DELETE /api/tunnels`).

pub mod api;
pub mod body;
pub mod detail;
pub mod edge_replay;
pub mod filter;
mod guard;
pub mod har;
pub mod json;
pub mod live;
pub mod replay;
mod routes;
pub mod status;
mod status_page;
pub mod store;
pub mod trace_join;
pub mod tunnels;
mod ui;

#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod routes_tests;
#[cfg(test)]
mod tests;

pub use api::{ApiOptions, EndpointInfo, InspectApi};
pub use guard::bind;
pub use status::{AgentSetting, StatusReport};
pub use store::{
    CapturedRequest, CapturedResponse, DEFAULT_BODY_LIMIT, DEFAULT_MAX_BYTES, Exchange,
    InspectLimits, Inspector,
};
