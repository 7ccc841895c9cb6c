//! JSON Web Keys (RFC 7517) usable for verification, and ordered key sets.
//!
//! Parsing is `jsonwebtoken`'s (`jwk::Jwk`, then `DecodingKey::from_jwk`). On top of it this file
//! keeps what the action needs and the crate does not do: one bad key is skipped instead of
//! failing the whole document, keys not meant for signatures are dropped, an EC key serves only
//! its curve's algorithm and only if its point lies on that curve (the crate finds out only when
//! verifying, too late to refetch the JWKS), and RSA moduli under 2048 bits are refused (the
//! crate sets no minimum).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk as JwkDocument, KeyOperations, PublicKeyUse,
};
use serde_json::Value;

use super::JwtError;
use super::alg::{Algorithm, algorithm_name, parse_algorithm};

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

const HMAC: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const RSA: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One verification key parsed from a JWK.
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    /// The algorithms this key may verify: its family's, narrowed by its curve and `alg`.
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
    /// Short, secret-free description for `Debug`.
    description: String,
}

impl Jwk {
    /// Parses one JWK object. Supports `RSA`, `EC` P-256/P-384, `OKP` Ed25519 and `oct`. Keys
    /// whose `use` is not `sig`, whose `key_ops` lack `verify`, or whose `alg` is not a supported
    /// signature algorithm (including `none`) are rejected.
    pub fn from_json(value: &Value) -> Result<Self, JwtError> {
        if !value.is_object() {
            return Err(bad("a JWK must be a JSON object"));
        }
        let jwk: JwkDocument = serde_json::from_value(value.clone())
            .map_err(|e| bad(format!("not a usable JWK: {e}")))?;
        let common = &jwk.common;
        if let Some(usage) = &common.public_key_use
            && *usage != PublicKeyUse::Signature
        {
            return Err(bad(format!("key use `{usage:?}` is not `sig`")));
        }
        if let Some(ops) = &common.key_operations
            && !ops.contains(&KeyOperations::Verify)
        {
            return Err(bad("`key_ops` does not include `verify`"));
        }
        let pinned = match &common.key_algorithm {
            None => None,
            Some(alg) => Some(
                parse_algorithm(&alg.to_string())
                    .ok_or_else(|| bad(format!("unsupported key algorithm `{alg}`")))?,
            ),
        };
        let (family, description): (Vec<Algorithm>, String) = match &jwk.algorithm {
            AlgorithmParameters::RSA(params) => {
                let bits = modulus_bits(&params.n)?;
                if bits < MIN_RSA_BITS {
                    return Err(bad(format!(
                        "RSA keys must have at least {MIN_RSA_BITS} bits"
                    )));
                }
                (RSA.to_vec(), format!("RSA-{bits}"))
            }
            AlgorithmParameters::EllipticCurve(params) => {
                let point = uncompressed_point(&params.x, &params.y)?;
                let (alg, name, on_curve) = match params.curve {
                    EllipticCurve::P256 => (
                        Algorithm::ES256,
                        "P-256",
                        p256::PublicKey::from_sec1_bytes(&point).is_ok(),
                    ),
                    EllipticCurve::P384 => (
                        Algorithm::ES384,
                        "P-384",
                        p384::PublicKey::from_sec1_bytes(&point).is_ok(),
                    ),
                    ref other => return Err(bad(format!("unsupported EC curve `{other:?}`"))),
                };
                if !on_curve {
                    return Err(bad(format!("invalid {name} public key")));
                }
                (vec![alg], format!("EC {name}"))
            }
            AlgorithmParameters::OctetKeyPair(params) => match params.curve {
                EllipticCurve::Ed25519 => (vec![Algorithm::EdDSA], "OKP Ed25519".to_owned()),
                ref other => return Err(bad(format!("unsupported OKP curve `{other:?}`"))),
            },
            AlgorithmParameters::OctetKey(_) => (HMAC.to_vec(), "oct (redacted)".to_owned()),
            _ => return Err(bad("unsupported key type")),
        };
        let algorithms: Vec<Algorithm> = match pinned {
            Some(alg) if family.contains(&alg) => vec![alg],
            Some(alg) => {
                return Err(bad(format!(
                    "a {description} key cannot be used with `{}`",
                    algorithm_name(alg)
                )));
            }
            None => family,
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| bad(format!("invalid key: {e}")))?;
        Ok(Self {
            kid: common.key_id.clone(),
            algorithms,
            key,
            description,
        })
    }

    /// Builds an HMAC key from a shared secret (for statically configured
    /// secrets rather than a JWKS).
    #[cfg(test)]
    pub fn from_hmac_secret(kid: Option<String>, secret: &[u8]) -> Result<Self, JwtError> {
        let key = DecodingKey::from_secret(secret).map_err(|_| bad("`k` is empty"))?;
        Ok(Self {
            kid,
            algorithms: HMAC.to_vec(),
            key,
            description: format!("oct ({} bytes, redacted)", secret.len()),
        })
    }

    /// The key id (`kid`), if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether the key may verify tokens signed with `alg`: the key type must
    /// fit the algorithm (and curve) and a pinned `alg` must match exactly.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// The key in `jsonwebtoken`'s form.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithms: Vec<&str> = self.algorithms.iter().map(|a| algorithm_name(*a)).collect();
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("algorithms", &algorithms)
            .field("key", &self.description)
            .finish()
    }
}

/// An ordered collection of verification keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Jwk>,
}

impl KeySet {
    /// Creates an empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a JWKS document (`{"keys": [...]}`). Individual keys that are
    /// unsupported or invalid are skipped so that a provider publishing, say,
    /// an encryption key does not break verification with its signing keys
    /// (which is why the entries are not read as one `jsonwebtoken::jwk::JwkSet`).
    pub fn from_jwks_json(document: &[u8]) -> Result<Self, JwtError> {
        let value: Value = serde_json::from_slice(document)
            .map_err(|e| JwtError::InvalidJwks(format!("not valid JSON: {e}")))?;
        let entries = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwtError::InvalidJwks("missing the `keys` array".to_owned()))?;
        let mut set = Self::new();
        for entry in entries {
            match Jwk::from_json(entry) {
                Ok(key) => set.push(key),
                Err(err) => tracing::debug!(%err, "skipping JWK"),
            }
        }
        Ok(set)
    }

    /// Appends a key.
    pub fn push(&mut self, key: Jwk) {
        self.keys.push(key);
    }

    /// Appends clones of all keys of `other`, keeping their order.
    pub fn extend_from(&mut self, other: &KeySet) {
        self.keys.extend(other.keys.iter().cloned());
    }

    /// Whether the set holds no key.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Iterates over the keys in order.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &Jwk> {
        self.keys.iter()
    }

    /// Whether some key carries this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid() == Some(kid))
    }

    /// Keys that may verify a token with this `kid` (when given, it must
    /// match exactly) and algorithm, in order.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys
            .iter()
            .filter(move |key| kid.is_none_or(|kid| key.kid() == Some(kid)) && key.supports(alg))
    }
}

fn bad(reason: impl Into<String>) -> JwtError {
    JwtError::InvalidJwks(reason.into())
}

/// The SEC1 uncompressed encoding (`04 || x || y`) of a JWK's base64url coordinates.
fn uncompressed_point(x: &str, y: &str) -> Result<Vec<u8>, JwtError> {
    let decode = |name: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|e| bad(format!("`{name}` is not base64url: {e}")))
    };
    let (x, y) = (decode("x", x)?, decode("y", y)?);
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

/// The size in bits of a base64url big-endian RSA modulus.
fn modulus_bits(n: &str) -> Result<usize, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|e| bad(format!("`n` is not base64url: {e}")))?;
    let Some(first) = bytes.iter().position(|b| *b != 0) else {
        return Err(bad("`n` is empty"));
    };
    let leading_zero_bits = bytes[first].leading_zeros() as usize;
    Ok((bytes.len() - first) * 8 - leading_zero_bits)
}
