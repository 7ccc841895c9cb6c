//! Error types of webhook verification.
//!
//! No message built here ever contains a secret, a signature value or any
//! part of the request body: errors may be logged or shown to the caller.

/// Why a webhook request failed verification, or why a configured secret is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A header the provider always sends is absent; holds the header name.
    #[error("missing required header {0}")]
    MissingHeader(&'static str),
    /// The signature material is present but cannot be parsed (bad encoding,
    /// unknown format, missing body field, ...). The text never contains secrets.
    #[error("malformed webhook request: {0}")]
    Malformed(String),
    /// The signature does not match the one computed with the configured secret.
    #[error("webhook signature does not match")]
    SignatureMismatch,
    /// The signed timestamp is too far from the current time (replay protection).
    #[error(
        "webhook timestamp is {age_secs}s away from the current time, \
         outside the {tolerance_secs}s tolerance"
    )]
    TimestampOutOfTolerance {
        /// Current time minus the signed timestamp, in seconds (negative: in the future).
        age_secs: i64,
        /// The provider's tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The configured secret cannot be used with this provider. The text
    /// describes the problem, never the secret itself.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(String),
}

impl WebhookError {
    /// Shorthand for a [`WebhookError::Malformed`] with a static description.
    pub(crate) fn malformed(what: &str) -> Self {
        WebhookError::Malformed(what.to_owned())
    }

    /// Shorthand for a [`WebhookError::InvalidSecret`] with a static description.
    pub(crate) fn invalid_secret(what: &str) -> Self {
        WebhookError::InvalidSecret(what.to_owned())
    }
}

/// The error of parsing a [`Provider`](super::Provider) id that is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook provider {given:?} is not supported; supported providers: {supported}")]
pub struct UnknownProvider {
    /// The id that was given.
    pub given: String,
    /// Comma-separated list of the supported ids.
    pub supported: String,
}
