//! The inspector: a bounded store of recorded HTTP exchanges, the local JSON API (ngrok's
//! shapes) with replay, and a small server-rendered web page.

pub mod api;
pub mod json;
pub mod store;
pub mod trace_join;
mod ui;

#[cfg(test)]
mod tests;

pub use api::{ApiOptions, EndpointInfo, InspectApi, bind};
pub use store::{
    CapturedRequest, CapturedResponse, DEFAULT_BODY_LIMIT, DEFAULT_MAX_BYTES, Exchange,
    InspectLimits, Inspector,
};
