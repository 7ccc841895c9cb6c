//! `http-request` calls to internal endpoints (`https://api.internal/...`): the edge runs the
//! target's policy and upstream in-process, so such a URL never goes through DNS or a socket
//! of ours. Anywhere the host offers no internal endpoints (an agent, `policy test` without
//! canned ones) the call fails with a message saying so, instead of a DNS error.

use std::sync::Arc;

use bytes::Bytes;
use http::Uri;
use sluice_policy::{Clock, ConnInfo, InternalCall, InternalCallError, InternalRouting};

use super::{Call, CallError};

/// The internal endpoints a call may reach, and the client connection it is made for.
pub(crate) struct InternalVia {
    /// What the calling endpoint reaches, and the endpoints the request came through.
    pub routing: InternalRouting,
    /// The client connection the calling policy runs for.
    pub from: ConnInfo,
    /// Its clock.
    pub clock: Arc<dyn Clock>,
}

/// The canonical internal endpoint URL `uri` is on, if its host ends in `.internal`.
pub(crate) fn internal_target(uri: &Uri) -> Option<Result<String, CallError>> {
    let host = uri.host()?.trim_end_matches('.');
    if !host.to_ascii_lowercase().ends_with(".internal") {
        return None;
    }
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
    Some(
        sluice_policy::internal_url(&format!("{scheme}://{authority}"))
            .map_err(|e| CallError::Failed(e.to_string())),
    )
}

impl InternalVia {
    /// Sends `call` to the internal endpoint `url` and waits for its whole answer.
    pub(crate) async fn send(
        &self,
        url: String,
        call: &Call,
        max_body: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        let path = call
            .url
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let mut builder = http::Request::builder()
            .method(call.method.clone())
            .uri(path);
        if let Some(h) = builder.headers_mut() {
            *h = call.headers.clone();
            if !h.contains_key(http::header::HOST)
                && let Some(a) = call.url.authority()
                && let Ok(v) = http::HeaderValue::from_str(a.as_str())
            {
                h.insert(http::header::HOST, v);
            }
        }
        let request = builder
            .body(call.body.clone())
            .map_err(|e| CallError::Failed(e.to_string()))?;
        let outbound = InternalCall {
            url,
            request,
            from: self.from.clone(),
            clock: self.clock.clone(),
            visited: self.routing.visited.clone(),
            max_body,
        };
        self.routing
            .endpoints
            .call(outbound)
            .await
            .map_err(|e| match e {
                InternalCallError::TooLarge(n) => CallError::TooLarge(n),
                other => CallError::Failed(other.to_string()),
            })
    }
}
