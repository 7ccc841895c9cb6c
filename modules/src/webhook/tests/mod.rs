//! Tests of every provider. Signatures are computed here the way each
//! provider documents them, directly with the `hmac`/`sha*`/`p256` crates,
//! never through the implementation's helpers; published vectors are used
//! where the provider (or its official SDKs) publishes one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::webhook::{Provider, Verification, WebhookError, WebhookRequest, verify};

mod challenges;
mod github;
mod gitlab;
mod hubspot;
mod linear;
mod own_schemes;
mod plivo;
mod provider;
mod rest;
mod sendgrid;
mod simple;
mod slack;
mod sns;
mod stripe;
mod svix;
mod table;
mod table_more;
mod twilio;

/// Runs a future to completion on a fresh current-thread runtime (with I/O, for the SNS
/// certificate server).
pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(future)
}

/// The fixed "current time" of the tests, in Unix seconds.
pub(super) const NOW: u64 = 1_700_000_000;

/// A point in time given in Unix seconds.
pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The fixed "current time" of the tests.
pub(super) fn now() -> SystemTime {
    at(NOW)
}

/// HMAC-SHA256 computed directly with the `hmac` crate.
pub(super) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA1 computed directly with the `hmac` crate.
pub(super) fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Standard base64.
pub(super) fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// An owned request that can be handed to [`verify`].
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Req {
    /// A `POST` to `https://hooks.example.com/webhook` with the given body.
    pub fn post(body: impl AsRef<[u8]>) -> Self {
        Req {
            method: Method::POST,
            url: "https://hooks.example.com/webhook".to_owned(),
            headers: HeaderMap::new(),
            body: body.as_ref().to_vec(),
        }
    }

    /// A `GET` of `url` with an empty body.
    pub fn get(url: &str) -> Self {
        Req {
            method: Method::GET,
            url: url.to_owned(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// Sets a header (replacing any previous value).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("test header name");
        let value = HeaderValue::from_str(value).expect("test header value");
        self.headers.insert(name, value);
        self
    }

    /// Removes a header.
    pub fn without(mut self, name: &str) -> Self {
        self.headers.remove(name);
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    /// Replaces the URL.
    pub fn url(mut self, url: &str) -> Self {
        self.url = url.to_owned();
        self
    }

    /// Runs [`verify`] on this request.
    pub fn verify(
        &self,
        provider: Provider,
        secret: &str,
        now: SystemTime,
    ) -> Result<Verification, WebhookError> {
        let req = WebhookRequest {
            method: &self.method,
            url: &self.url,
            headers: &self.headers,
            body: &self.body,
        };
        block_on(verify(provider, secret, &req, now, None))
    }
}

/// Asserts a plain successful verification.
#[track_caller]
pub(super) fn assert_verified(result: Result<Verification, WebhookError>) {
    match result {
        Ok(Verification::Verified) => {}
        other => panic!("expected Verified, got {other:?}"),
    }
}

/// Asserts a signature mismatch.
#[track_caller]
pub(super) fn assert_mismatch(result: Result<Verification, WebhookError>) {
    assert!(
        matches!(result, Err(WebhookError::SignatureMismatch)),
        "expected SignatureMismatch, got {result:?}"
    );
}

/// Asserts that the named header was reported missing.
#[track_caller]
pub(super) fn assert_missing(result: Result<Verification, WebhookError>, header: &str) {
    match result {
        Err(WebhookError::MissingHeader(name)) => assert!(
            name.eq_ignore_ascii_case(header),
            "expected {header} missing, got {name}"
        ),
        other => panic!("expected MissingHeader({header}), got {other:?}"),
    }
}

/// Asserts a timestamp outside the tolerance.
#[track_caller]
pub(super) fn assert_stale(result: Result<Verification, WebhookError>, tolerance_secs: u64) {
    match result {
        Err(WebhookError::TimestampOutOfTolerance {
            tolerance_secs: t, ..
        }) => assert_eq!(t, tolerance_secs),
        other => panic!("expected TimestampOutOfTolerance, got {other:?}"),
    }
}

/// Asserts a malformed-request error.
#[track_caller]
pub(super) fn assert_malformed(result: Result<Verification, WebhookError>) {
    assert!(
        matches!(result, Err(WebhookError::Malformed(_))),
        "expected Malformed, got {result:?}"
    );
}

/// Returns the challenge response, panicking on any other outcome.
#[track_caller]
pub(super) fn expect_challenge(
    result: Result<Verification, WebhookError>,
) -> http::Response<bytes::Bytes> {
    match result {
        Ok(Verification::Challenge(response)) => response,
        other => panic!("expected Challenge, got {other:?}"),
    }
}
