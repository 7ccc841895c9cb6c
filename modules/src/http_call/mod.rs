//! The one outbound HTTP(S) client of the policy actions (`http-request`, and `jwt-validation`'s
//! JWKS downloads): one request with a total deadline, redirects up to a limit, and a cap on the
//! response body. `http-request` may also reach internal endpoints ([`internal`]).

mod internal;

pub(crate) use internal::InternalVia;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response body `http-request` may receive (ngrok: 256 KB).
pub(crate) const MAX_RESPONSE_BODY: usize = 256 * 1024;

/// Why a call failed, with its `ERR_SLUICE_*` number.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    /// The response body was larger than the caller's cap, in bytes (3601).
    #[error("response body exceeds {0} bytes")]
    TooLarge(usize),
    /// The deadline passed (3602).
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// More redirects than allowed (3214).
    #[error("exceeded {0} redirects")]
    TooManyRedirects(u32),
    /// Connecting or talking to the target failed (2300).
    #[error("{0}")]
    Failed(String),
}

impl CallError {
    /// The error code.
    pub(crate) fn code(&self) -> u16 {
        match self {
            CallError::TooLarge(_) => 3601,
            CallError::Timeout(_) => 3602,
            CallError::TooManyRedirects(_) => 3214,
            CallError::Failed(_) => 2300,
        }
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What came back.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed: Duration,
}

/// A shared client (connection pool, TLS with the webpki roots) whose response bodies are capped.
pub(crate) struct Caller {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    max_body: usize,
}

impl Caller {
    /// Builds the client; longer response bodies fail with [`CallError::TooLarge`].
    pub(crate) fn new(max_body: usize) -> Result<Caller, String> {
        let tls = sluice_tls::client_config(sluice_tls::ServerCerts::WebPki, Vec::new())
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Caller {
            client: Client::builder(TokioExecutor::new()).build(connector),
            max_body,
        })
    }

    /// Sends `call`, following up to `max_redirects` redirects, all within `deadline`.
    pub(crate) async fn send(
        &self,
        call: Call,
        max_redirects: u32,
        deadline: Duration,
    ) -> Result<Reply, CallError> {
        self.send_via(call, max_redirects, deadline, None).await
    }

    /// [`Caller::send`] where URLs on `.internal` hosts go to the internal endpoints of `via`
    /// (with none, such a URL fails with a message saying so).
    pub(crate) async fn send_via(
        &self,
        call: Call,
        max_redirects: u32,
        deadline: Duration,
        via: Option<&InternalVia>,
    ) -> Result<Reply, CallError> {
        let start = Instant::now();
        tokio::time::timeout(deadline, self.follow(call, max_redirects, start, via))
            .await
            .map_err(|_| CallError::Timeout(deadline))?
    }

    async fn follow(
        &self,
        mut call: Call,
        max_redirects: u32,
        start: Instant,
        via: Option<&InternalVia>,
    ) -> Result<Reply, CallError> {
        let mut redirects = 0;
        loop {
            if let Some(target) = internal::internal_target(&call.url) {
                let Some(via) = via else {
                    return Err(CallError::Failed(format!(
                        "{} is an internal endpoint; only the edge reaches internal endpoints",
                        call.url
                    )));
                };
                let response = via.send(target?, &call, self.max_body).await?;
                let (parts, body) = response.into_parts();
                match redirect_target(&call, parts.status, &parts.headers) {
                    Some(next) => {
                        if redirects >= max_redirects {
                            return Err(CallError::TooManyRedirects(max_redirects));
                        }
                        redirects += 1;
                        call = next?;
                        continue;
                    }
                    None => {
                        return Ok(Reply {
                            status: parts.status,
                            headers: parts.headers,
                            body,
                            elapsed: start.elapsed(),
                        });
                    }
                }
            }
            let mut builder = http::Request::builder()
                .method(call.method.clone())
                .uri(call.url.clone());
            if let Some(h) = builder.headers_mut() {
                *h = call.headers.clone();
            }
            let request = builder
                .body(Full::new(call.body.clone()))
                .map_err(|e| CallError::Failed(e.to_string()))?;
            let response = self.client.request(request).await.map_err(|e| {
                CallError::Failed(format!(
                    "request to {} failed: {}",
                    call.url,
                    error_chain(&e)
                ))
            })?;
            if let Some(next) = redirect_target(&call, response.status(), response.headers()) {
                if redirects >= max_redirects {
                    return Err(CallError::TooManyRedirects(max_redirects));
                }
                redirects += 1;
                call = next?;
                continue;
            }
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, self.max_body)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        CallError::TooLarge(self.max_body)
                    } else {
                        CallError::Failed(format!("reading the response failed: {e}"))
                    }
                })?
                .to_bytes();
            return Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
                elapsed: start.elapsed(),
            });
        }
    }
}

/// Renders an error with its sources, e.g. "client error (Connect): connection refused".
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The call a redirect answer asks for next, if `status` and `headers` are one.
fn redirect_target(
    call: &Call,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<Result<Call, CallError>> {
    if !status.is_redirection() {
        return None;
    }
    let location = headers.get(header::LOCATION)?.to_str().ok()?;
    let mut next = call.clone();
    next.url = match resolve(&call.url, location) {
        Ok(u) => u,
        Err(e) => return Some(Err(e)),
    };
    if status == StatusCode::SEE_OTHER {
        next.method = Method::GET;
        next.body = Bytes::new();
    }
    Some(Ok(next))
}

/// Resolves a `Location` against the URL it came from.
fn resolve(base: &Uri, location: &str) -> Result<Uri, CallError> {
    if location.contains("://") {
        return location
            .parse()
            .map_err(|_| CallError::Failed(format!("invalid redirect location {location:?}")));
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    format!("{scheme}://{authority}{path}")
        .parse()
        .map_err(|_| CallError::Failed(format!("invalid redirect location {location:?}")))
}
