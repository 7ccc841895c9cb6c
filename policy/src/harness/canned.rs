//! Internal endpoints for in-process runs: each has a canned answer, which `forward-internal`
//! hands requests to and `http-request` calls get, without running its own policy.

use std::collections::BTreeMap;

use super::UpstreamReply;
use crate::internal::{InternalCall, InternalCallError, InternalCallFuture, InternalEndpoints};

/// Canned internal endpoints: each online URL (as [`crate::internal::internal_url`] spells
/// it) and its answer.
pub type CannedInternal = BTreeMap<String, UpstreamReply>;

/// The canned internal endpoints, as `forward-internal` and `http-request` reach them: a call
/// gets the endpoint's canned answer (its own policy is not run).
pub(super) struct CannedDirectory(pub(super) CannedInternal);

impl InternalEndpoints for CannedDirectory {
    fn is_online(&self, url: &str) -> bool {
        self.0.contains_key(url)
    }

    fn call(&self, call: InternalCall) -> InternalCallFuture {
        let reply = self.0.get(&call.url).cloned();
        Box::pin(async move {
            if call.visited.contains(&call.url) {
                return Err(InternalCallError::Loop(call.url));
            }
            let reply = reply.ok_or(InternalCallError::Offline(call.url))?;
            if reply.body.len() > call.max_body {
                return Err(InternalCallError::TooLarge(call.max_body));
            }
            let mut response = http::Response::new(reply.body);
            *response.status_mut() = reply.status;
            *response.headers_mut() = reply.headers;
            Ok(response)
        })
    }
}
