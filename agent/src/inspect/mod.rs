//! The inspector: a bounded store of recorded HTTP exchanges, the local JSON API (ngrok's
//! shapes) with replay, a small server-rendered web page, and the agent's status (`/status`,
//! `/api/status`) with each endpoint's traffic metrics; endpoints can be started and stopped
//! through the API (`POST`/`DELETE /api/tunnels`).

pub mod api;
pub mod json;
pub mod status;
mod status_page;
pub mod store;
pub mod tunnels;
mod ui;

#[cfg(test)]
mod tests;

pub use api::{ApiOptions, EndpointInfo, InspectApi, bind};
pub use status::{AgentSetting, StatusReport};
pub use store::{
    CapturedRequest, CapturedResponse, DEFAULT_BODY_LIMIT, DEFAULT_MAX_BYTES, Exchange,
    InspectLimits, Inspector,
};
