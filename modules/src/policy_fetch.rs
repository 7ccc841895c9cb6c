//! Fetching a Traffic Policy document over HTTP(S), for the agent's `--traffic-policy-url`
//! (ngrok 3.26), with the one outbound client the actions use ([`crate::http_call`]): a bounded
//! body, a total deadline, a few redirects.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, header};

use crate::http_call::{Call, Caller};

/// Largest policy document accepted.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// How long fetching a policy may take, redirects included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Redirects followed at most.
const MAX_REDIRECTS: u32 = 5;

/// Why a policy could not be fetched; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The text is not an absolute `http://` or `https://` URL.
    #[error("{0}: not an http:// or https:// URL")]
    BadUrl(String),
    /// The client could not be set up.
    #[error("{url}: {message}")]
    Setup {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The request failed, timed out, or the body was too large.
    #[error("{url}: {message}")]
    Call {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server answered with a status other than 2xx.
    #[error("{url}: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: http::StatusCode,
    },
    /// The body is not UTF-8 text.
    #[error("{0}: the policy is not UTF-8 text")]
    NotText(String),
}

/// Fetches the policy text at `url` (GET, at most [`MAX_POLICY_BYTES`], within
/// [`FETCH_TIMEOUT`]).
pub async fn fetch_policy(url: &str) -> Result<String, FetchError> {
    let uri: Uri = url
        .parse()
        .ok()
        .filter(|u: &Uri| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some())
        .ok_or_else(|| FetchError::BadUrl(url.to_owned()))?;
    let caller = Caller::new(MAX_POLICY_BYTES).map_err(|message| FetchError::Setup {
        url: url.to_owned(),
        message,
    })?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        http::HeaderValue::from_static("application/yaml, application/json, text/plain, */*"),
    );
    let call = Call {
        method: Method::GET,
        url: uri,
        headers,
        body: Bytes::new(),
    };
    let reply = caller
        .send(call, MAX_REDIRECTS, FETCH_TIMEOUT)
        .await
        .map_err(|e| FetchError::Call {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
    if !reply.status.is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: reply.status,
        });
    }
    String::from_utf8(reply.body.to_vec()).map_err(|_| FetchError::NotText(url.to_owned()))
}
