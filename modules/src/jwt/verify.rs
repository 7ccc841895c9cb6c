//! Compact JWS verification and claim validation.
//!
//! The signature, issuer and audience are checked by `jsonwebtoken` (`decode` with a
//! `Validation`). Around it this file keeps what ngrok's error codes need and the crate cannot
//! express: the structural checks and the `alg` allow-list run before any key is looked up (3416
//! and 3401 without a JWKS fetch), the time claims are checked against the engine's clock (the
//! crate reads the system clock, while policies run on an injected one), and a few claim shapes
//! the crate is lenient about are refused; each such check says why beside it.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde_json::{Map, Value};

use super::alg::{Algorithm, parse_algorithm};
use super::{JwtError, KeySet};

/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Tokens longer than this are rejected before any decoding.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// What a token must satisfy to be accepted.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    algorithms: Vec<Algorithm>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    require_kid: bool,
    require_exp: bool,
}

impl TokenPolicy {
    /// Creates a policy accepting the given algorithms and issuers (exact
    /// match on `iss`). Both lists must be non-empty. Audience is unchecked,
    /// leeway is [`DEFAULT_LEEWAY`], `exp` is required and `kid` is optional.
    pub fn new(
        algorithms: impl IntoIterator<Item = Algorithm>,
        issuers: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, JwtError> {
        let algorithms: Vec<Algorithm> = algorithms.into_iter().collect();
        let issuers: Vec<String> = issuers.into_iter().map(Into::into).collect();
        if algorithms.is_empty() {
            return Err(JwtError::InvalidConfig(
                "at least one allowed algorithm is required".to_owned(),
            ));
        }
        if issuers.is_empty() {
            return Err(JwtError::InvalidConfig(
                "at least one allowed issuer is required".to_owned(),
            ));
        }
        Ok(Self {
            algorithms,
            issuers,
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            require_kid: false,
            require_exp: true,
        })
    }

    /// Requires `aud` (string or array) to contain one of these values. An
    /// empty list disables the audience check.
    #[must_use]
    pub fn with_audiences(
        mut self,
        audiences: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the clock-skew allowance for time-based claims.
    #[cfg(test)]
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires tokens to name their key with `kid`
    /// (`identification.token_claims: [kid]`).
    #[must_use]
    pub fn with_required_kid(mut self, required: bool) -> Self {
        self.require_kid = required;
        self
    }

    /// Whether tokens without `exp` are rejected (default `true`).
    #[cfg(test)]
    #[must_use]
    pub fn with_required_exp(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    /// Allowed issuers.
    #[cfg(test)]
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// Allowed audiences (empty: unchecked).
    #[cfg(test)]
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Clock-skew allowance.
    #[cfg(test)]
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// jsonwebtoken's checks for a token signed with `alg`: the signature, the issuer and the
    /// audience. Its time checks are off: [`check_times`] runs them on the engine's clock.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = HashSet::from(["iss".to_owned()]);
        validation.set_issuer(&self.issuers);
        if self.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audiences);
        }
        validation
    }
}

/// A token whose signature and claims passed verification.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    algorithm: Algorithm,
    header: Value,
    payload: Value,
    signature: String,
}

impl VerifiedToken {
    /// The verified signature algorithm.
    #[cfg(test)]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The decoded JOSE header (a JSON object).
    pub fn header(&self) -> &Value {
        &self.header
    }

    /// The decoded claims (a JSON object).
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The signature as it appeared in the token (base64url, unpadded).
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The `kid` header parameter, if present.
    #[cfg(test)]
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// A single claim from the payload.
    #[cfg(test)]
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.payload.get(name)
    }
}

/// Verifies a compact JWS `token` against `keys` and `policy` at time `now`.
///
/// Checks, in order: structure (3416), algorithm allow-list (3401), key
/// selection by `kid`/algorithm and signature (3401), `exp`/`nbf`/`iat`
/// (3401), then issuer and audience (3403).
pub fn verify_token(
    token: &str,
    keys: &KeySet,
    policy: &TokenPolicy,
    now: SystemTime,
) -> Result<VerifiedToken, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    // The header and payload are decoded here as well: their JSON goes into the result
    // variables as written, and these checks must answer before any key is fetched.
    let header = decode_object(header_b64, "header")?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the header has no string `alg`"))?;
    let alg = parse_algorithm(alg_name)
        .filter(|alg| policy.algorithms.contains(alg))
        .ok_or_else(|| JwtError::AlgorithmNotAllowed(alg_name.to_owned()))?;
    // jsonwebtoken refuses `crit` too, but only once a key was selected.
    if header.contains_key("crit") {
        return Err(malformed("critical header extensions are not supported"));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("the header `kid` is not a string")),
    };
    let payload = decode_object(payload_b64, "payload")?;
    URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|e| malformed(format!("signature: {e}")))?;

    let key_not_found = || JwtError::KeyNotFound {
        kid: kid.clone(),
        alg: alg_name.to_owned(),
    };
    if policy.require_kid && kid.is_none() {
        return Err(key_not_found());
    }
    let mut candidates = keys.candidates(kid.as_deref(), alg).peekable();
    if candidates.peek().is_none() {
        return Err(key_not_found());
    }
    let validation = policy.validation(alg);
    let claims = candidates
        .find_map(|key| {
            match jsonwebtoken::decode::<Value>(token, key.decoding_key(), &validation) {
                Ok(_) => Some(Ok(())),
                Err(e) if is_claim_error(e.kind()) => Some(Err(e)),
                // A signature (or key) that does not verify: try the next candidate.
                Err(_) => None,
            }
        })
        .ok_or(JwtError::InvalidSignature)?;

    check_times(&payload, policy, now)?;
    // jsonwebtoken also accepts an array `iss`; RFC 7519 §4.1.1 makes it one string.
    if payload.get("iss").is_some_and(Value::is_array) {
        return Err(JwtError::IssuerNotAllowed);
    }
    claims.map_err(|e| claim_error(e.kind()))?;
    // jsonwebtoken skips the audience check when the claim is absent.
    if !policy.audiences.is_empty() && payload.get("aud").is_none_or(Value::is_null) {
        return Err(JwtError::AudienceNotAllowed);
    }
    Ok(VerifiedToken {
        algorithm: alg,
        header: Value::Object(header),
        payload: Value::Object(payload),
        signature: signature_b64.to_owned(),
    })
}

/// Whether jsonwebtoken failed on the claims, after the signature verified.
fn is_claim_error(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_)
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
    )
}

/// The ngrok error for a claim jsonwebtoken refused.
fn claim_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidAudience => JwtError::AudienceNotAllowed,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim)
            if claim == "aud" =>
        {
            JwtError::AudienceNotAllowed
        }
        _ => JwtError::IssuerNotAllowed,
    }
}

fn malformed(reason: impl Into<String>) -> JwtError {
    JwtError::Malformed(reason.into())
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, JwtError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| malformed(format!("{what}: {e}")))?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(malformed(format!("the {what} is not a JSON object"))),
        Err(e) => Err(malformed(format!("{what}: {e}"))),
    }
}

fn numeric_date(
    payload: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<f64>, JwtError> {
    match payload.get(claim) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| JwtError::InvalidClaim {
                claim,
                reason: "not a number".to_owned(),
            }),
    }
}

/// `exp`, `nbf` and `iat` against `now` with the policy's leeway. Kept here rather than in
/// jsonwebtoken's `Validation`, which reads the system clock, takes whole seconds only and does
/// not check `iat`.
fn check_times(
    payload: &Map<String, Value>,
    policy: &TokenPolicy,
    now: SystemTime,
) -> Result<(), JwtError> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    let leeway = policy.leeway.as_secs_f64();
    match numeric_date(payload, "exp")? {
        Some(exp) if now >= exp + leeway => return Err(JwtError::Expired),
        None if policy.require_exp => return Err(JwtError::MissingClaim("exp")),
        _ => {}
    }
    if numeric_date(payload, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(JwtError::NotYetValid);
    }
    if numeric_date(payload, "iat")?.is_some_and(|iat| iat > now + leeway) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(())
}
