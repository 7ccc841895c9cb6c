//! Error type shared by every part of JWT validation.

use http::StatusCode;

/// Everything that can go wrong while extracting, verifying or fetching keys
/// for a JWT. Each variant maps to a stable numeric code (see [`JwtError::code`])
/// printed as `ERR_SLUICE_<code>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The signature does not match the signing input under the selected key.
    #[error("the token signature is invalid")]
    InvalidSignature,
    /// No key in the key set matches the token's `kid` and algorithm.
    #[error("no signing key matches the token (kid: {}, alg: {alg})", kid.as_deref().unwrap_or("<none>"))]
    KeyNotFound {
        /// The `kid` named by the token header, if any.
        kid: Option<String>,
        /// The algorithm named by the token header.
        alg: String,
    },
    /// The token's `alg` is `none`, unknown, or not in the allow-list.
    #[error("the token algorithm `{0}` is not allowed")]
    AlgorithmNotAllowed(String),
    /// The `exp` claim lies in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// The `nbf` claim lies in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The `iat` claim lies in the future (beyond the leeway).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// A claim required by the policy is absent.
    #[error("the token is missing the required claim `{0}`")]
    MissingClaim(&'static str),
    /// A registered claim has the wrong JSON type.
    #[error("the token claim `{claim}` is invalid: {reason}")]
    InvalidClaim {
        /// Name of the offending claim.
        claim: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The `iss` claim is absent or not in the issuer allow-list.
    #[error("the token issuer is not allowed")]
    IssuerNotAllowed,
    /// No `aud` value is in the audience allow-list.
    #[error("the token audience is not allowed")]
    AudienceNotAllowed,
    /// The configured body field is absent or the token is empty.
    #[error("no token was found in `{name}`")]
    TokenNotFound {
        /// Header or body field name that was searched.
        name: String,
    },
    /// The configured header is absent from the request.
    #[error("the request header `{name}` is missing")]
    HeaderMissing {
        /// Header name that was searched.
        name: String,
    },
    /// The request body could not be parsed as JSON (or is not an object).
    #[error("the request body is not a valid JSON object: {0}")]
    BodyJson(String),
    /// The request body could not be parsed as a URL-encoded form.
    #[error("the request body is not a valid form: {0}")]
    BodyForm(String),
    /// The header or field value lacks the configured prefix.
    #[error("the token does not start with the prefix `{prefix}`")]
    PrefixMissing {
        /// The configured prefix.
        prefix: String,
    },
    /// Any other problem with the token carrier (e.g. non-text header value).
    #[error("the token could not be read: {0}")]
    InvalidToken(String),
    /// A body token was configured but the request cannot carry one.
    #[error("a body token requires POST, PUT or PATCH with a JSON or form body: {0}")]
    BodyNotAllowed(String),
    /// The token is not a well-formed compact JWS.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// A JWKS source could not be fetched or parsed.
    #[error("failed to fetch the JWKS from {url}: {reason}")]
    JwksFetch {
        /// The JWKS URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A JWKS document is not valid.
    #[error("the JWKS document is invalid: {0}")]
    InvalidJwks(String),
    /// The validation configuration itself is invalid.
    #[error("the JWT validation configuration is invalid: {0}")]
    InvalidConfig(String),
}

impl JwtError {
    /// Numeric error code, printed as `ERR_SLUICE_<code>`.
    pub fn code(&self) -> u16 {
        match self {
            Self::InvalidSignature
            | Self::KeyNotFound { .. }
            | Self::AlgorithmNotAllowed(_)
            | Self::Expired
            | Self::NotYetValid
            | Self::IssuedInFuture
            | Self::MissingClaim(_)
            | Self::InvalidClaim { .. } => 3401,
            Self::IssuerNotAllowed | Self::AudienceNotAllowed => 3403,
            Self::TokenNotFound { .. } => 3406,
            Self::HeaderMissing { .. } => 3408,
            Self::BodyJson(_) => 3411,
            Self::BodyForm(_) => 3412,
            Self::PrefixMissing { .. } => 3413,
            Self::InvalidToken(_) => 3414,
            Self::BodyNotAllowed(_) => 3415,
            Self::Malformed(_) => 3416,
            Self::JwksFetch { .. } | Self::InvalidJwks(_) => 3422,
            Self::InvalidConfig(_) => 7171,
        }
    }

    /// HTTP status to answer with: 403 for code 3403, 500 for configuration
    /// errors, 401 otherwise.
    pub fn status(&self) -> StatusCode {
        match self.code() {
            3403 => StatusCode::FORBIDDEN,
            7171 => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// `ERR_SLUICE_<code>` identifier for logs and error pages.
    pub fn error_id(&self) -> String {
        format!("ERR_SLUICE_{}", self.code())
    }
}
