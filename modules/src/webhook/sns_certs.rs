//! Fetching and caching Amazon SNS signing certificates, through the actions' one HTTP client
//! ([`crate::http_call`]).
//!
//! A certificate is fetched the first time a message names its URL (already checked by
//! [`super::sns::cert_url`]) and kept: AWS rotates them rarely and a new one comes with a new
//! URL. The cache holds at most [`MAX_CACHED`] certificates; a failed fetch is not cached.
//! Each fetch has [`FETCH_TIMEOUT`] and reads at most [`MAX_PEM_BYTES`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use parking_lot::Mutex;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::WebhookError;
use crate::http_call::{Call, Caller};

/// How long one certificate download may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest certificate file accepted.
pub const MAX_PEM_BYTES: usize = 16 * 1024;
/// How many certificates are kept.
pub const MAX_CACHED: usize = 32;

/// The signing certificates seen so far, by URL, and the client that fetches new ones.
pub struct SnsCertificates {
    caller: Caller,
    cache: Mutex<HashMap<String, Arc<CertificateDer<'static>>>>,
    /// Tests only: scheme and authority that replace the certificate URL's, so that a
    /// loopback server can stand in for SNS. No policy or config can reach this.
    #[cfg(test)]
    fetch_base: Option<String>,
}

impl SnsCertificates {
    /// A client trusting the webpki (Mozilla) roots, with an empty cache.
    pub fn new() -> Result<Self, WebhookError> {
        Ok(SnsCertificates {
            caller: Caller::new(MAX_PEM_BYTES).map_err(WebhookError::InvalidSecret)?,
            cache: Mutex::new(HashMap::new()),
            #[cfg(test)]
            fetch_base: None,
        })
    }

    /// Tests only: fetches every certificate from `base` (e.g. `http://127.0.0.1:PORT`)
    /// with the SNS URL's path.
    #[cfg(test)]
    pub(crate) fn fetching_from(base: &str) -> Result<Self, WebhookError> {
        let mut certs = SnsCertificates::new()?;
        certs.fetch_base = Some(base.trim_end_matches('/').to_owned());
        Ok(certs)
    }

    /// The certificate at `url`, from the cache or downloaded.
    pub(crate) async fn get(
        &self,
        url: &http::Uri,
    ) -> Result<Arc<CertificateDer<'static>>, WebhookError> {
        let key = url.to_string();
        if let Some(cert) = self.cache.lock().get(&key) {
            return Ok(cert.clone());
        }
        let cert = Arc::new(self.fetch(url).await?);
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, cert.clone());
        Ok(cert)
    }

    /// How many certificates are cached.
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.lock().len()
    }

    async fn fetch(&self, url: &http::Uri) -> Result<CertificateDer<'static>, WebhookError> {
        let fail = |why: String| {
            WebhookError::Malformed(format!(
                "the SNS signing certificate {url} cannot be fetched: {why}"
            ))
        };
        let target = self.target(url)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("sluice-verify-webhook"),
        );
        let call = Call {
            method: Method::GET,
            url: target,
            headers,
            body: Bytes::new(),
        };
        let reply = self
            .caller
            .send(call, 0, FETCH_TIMEOUT)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !reply.status.is_success() {
            return Err(fail(format!("HTTP status {}", reply.status)));
        }
        CertificateDer::from_pem_slice(&reply.body)
            .map_err(|e| fail(format!("not a PEM certificate: {e}")))
    }

    #[cfg(not(test))]
    fn target(&self, url: &http::Uri) -> Result<http::Uri, WebhookError> {
        Ok(url.clone())
    }

    #[cfg(test)]
    fn target(&self, url: &http::Uri) -> Result<http::Uri, WebhookError> {
        match &self.fetch_base {
            None => Ok(url.clone()),
            Some(base) => format!("{base}{}", url.path())
                .parse()
                .map_err(|_| WebhookError::malformed("bad test certificate base URL")),
        }
    }
}
