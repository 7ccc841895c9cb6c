//! Minimal HTTP(S) client for downloading JWKS documents.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{JwtError, KeySet};

/// Fetches and parses JWKS documents with a size cap and a timeout.
pub(crate) struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
    max_bytes: usize,
}

impl Fetcher {
    /// Builds a client trusting the webpki (Mozilla) roots, using rustls with
    /// the `ring` provider. Plain `http://` is allowed.
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, JwtError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| JwtError::InvalidConfig(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            max_bytes,
        })
    }

    /// Downloads `url` and parses it as a JWKS. Every failure is a
    /// [`JwtError::JwksFetch`] naming the URL.
    pub(crate) async fn fetch(&self, url: &Uri) -> Result<KeySet, JwtError> {
        let fail = |reason: String| JwtError::JwksFetch {
            url: url.to_string(),
            reason,
        };
        let body = tokio::time::timeout(self.timeout, self.download(url))
            .await
            .map_err(|_| fail(format!("timed out after {:?}", self.timeout)))?
            .map_err(fail)?;
        KeySet::from_jwks_json(&body).map_err(|e| match e {
            JwtError::InvalidJwks(reason) => fail(reason),
            other => fail(other.to_string()),
        })
    }

    async fn download(&self, url: &Uri) -> Result<Bytes, String> {
        let request = Request::get(url.clone())
            .header(header::ACCEPT, "application/json, application/jwk-set+json")
            .header(header::USER_AGENT, "sluice-jwt-validation")
            .body(Empty::new())
            .map_err(|e| format!("invalid request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("unexpected HTTP status {status}"));
        }
        let too_large = || format!("the response exceeds {} bytes", self.max_bytes);
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_bytes as u64) {
            return Err(too_large());
        }
        let collected = Limited::new(response.into_body(), self.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    format!("reading the body failed: {e}")
                }
            })?;
        Ok(collected.to_bytes())
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
