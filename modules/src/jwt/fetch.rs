//! Downloading JWKS documents, through the actions' shared HTTP client ([`crate::http_call`]).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};

use super::{JwtError, KeySet};
use crate::http_call::{Call, Caller};

/// Fetches and parses JWKS documents with a size cap and a timeout.
pub(crate) struct Fetcher {
    caller: Caller,
    timeout: Duration,
}

impl Fetcher {
    /// Builds a client trusting the webpki (Mozilla) roots; plain `http://` is allowed.
    /// Bodies over `max_bytes` fail.
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, JwtError> {
        Ok(Self {
            caller: Caller::new(max_bytes).map_err(JwtError::InvalidConfig)?,
            timeout,
        })
    }

    /// Downloads `url` (no redirects) and parses it as a JWKS. Every failure is a
    /// [`JwtError::JwksFetch`] naming the URL.
    pub(crate) async fn fetch(&self, url: &Uri) -> Result<KeySet, JwtError> {
        let fail = |reason: String| JwtError::JwksFetch {
            url: url.to_string(),
            reason,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, application/jwk-set+json"),
        );
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("sluice-jwt-validation"),
        );
        let call = Call {
            method: Method::GET,
            url: url.clone(),
            headers,
            body: Bytes::new(),
        };
        let reply = self
            .caller
            .send(call, 0, self.timeout)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !reply.status.is_success() {
            return Err(fail(format!("unexpected HTTP status {}", reply.status)));
        }
        KeySet::from_jwks_json(&reply.body).map_err(|e| match e {
            JwtError::InvalidJwks(reason) => fail(reason),
            other => fail(other.to_string()),
        })
    }
}
