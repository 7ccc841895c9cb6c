//! JSON Web Keys (RFC 7517) and key sets used for verification.

use std::fmt;

use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};

use super::crypto::{KeyMaterial, b64url_decode};
use super::{Algorithm, JwtError};

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// One verification key parsed from a JWK.
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    material: KeyMaterial,
}

impl Jwk {
    /// Parses one JWK object. Supports `RSA` (`n`, `e`), `EC` P-256/P-384
    /// (`x`, `y`), `OKP` Ed25519 (`x`) and `oct` (`k`). Keys whose `use` is not
    /// `sig`, whose `key_ops` lack `verify`, or whose `alg` is unsupported
    /// (including `none`) are rejected.
    pub fn from_json(value: &Value) -> Result<Self, JwtError> {
        let obj = value
            .as_object()
            .ok_or_else(|| bad("a JWK must be a JSON object"))?;
        let kid = opt_str(obj, "kid")?.map(str::to_owned);
        if let Some(usage) = opt_str(obj, "use")?
            && usage != "sig"
        {
            return Err(bad(format!("key use `{usage}` is not `sig`")));
        }
        if let Some(ops) = obj.get("key_ops") {
            let ops = ops
                .as_array()
                .ok_or_else(|| bad("`key_ops` must be an array"))?;
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return Err(bad("`key_ops` does not include `verify`"));
            }
        }
        let alg = opt_str(obj, "alg")?
            .map(|name| {
                name.parse::<Algorithm>()
                    .map_err(|_| bad(format!("unsupported key algorithm `{name}`")))
            })
            .transpose()?;
        let kty = opt_str(obj, "kty")?.ok_or_else(|| bad("missing `kty`"))?;
        let material = match kty {
            "RSA" => rsa_key(obj)?,
            "EC" => ec_key(obj)?,
            "OKP" => okp_key(obj)?,
            "oct" => KeyMaterial::Oct(non_empty(bytes(obj, "k")?, "k")?),
            other => return Err(bad(format!("unsupported key type `{other}`"))),
        };
        if let Some(alg) = alg
            && !material.supports(alg)
        {
            return Err(bad(format!("key type `{kty}` cannot be used with `{alg}`")));
        }
        Ok(Self { kid, alg, material })
    }

    /// Builds an HMAC key from a shared secret (for statically configured
    /// secrets rather than a JWKS).
    pub fn from_hmac_secret(kid: Option<String>, secret: &[u8]) -> Result<Self, JwtError> {
        Ok(Self {
            kid,
            alg: None,
            material: KeyMaterial::Oct(non_empty(secret.to_vec(), "k")?),
        })
    }

    /// The key id (`kid`), if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the key is pinned to (`alg`), if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether the key may verify tokens signed with `alg`: the key type must
    /// fit the algorithm family and a pinned `alg` must match exactly.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.material.supports(alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }

    pub(crate) fn material(&self) -> &KeyMaterial {
        &self.material
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &self.material.describe())
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
    /// an encryption key does not break verification with its signing keys.
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

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Iterates over the keys in order.
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

fn opt_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JwtError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("`{name}` must be a string"))),
    }
}

fn bytes(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwtError> {
    let text = opt_str(obj, name)?.ok_or_else(|| bad(format!("missing `{name}`")))?;
    b64url_decode(text).map_err(|e| bad(format!("`{name}` is not base64url: {e}")))
}

fn non_empty(data: Vec<u8>, name: &str) -> Result<Vec<u8>, JwtError> {
    if data.is_empty() {
        return Err(bad(format!("`{name}` is empty")));
    }
    Ok(data)
}

fn rsa_key(obj: &Map<String, Value>) -> Result<KeyMaterial, JwtError> {
    let n = BigUint::from_bytes_be(&bytes(obj, "n")?);
    let e = BigUint::from_bytes_be(&bytes(obj, "e")?);
    let key = RsaPublicKey::new(n, e).map_err(|e| bad(format!("invalid RSA key: {e}")))?;
    if key.n().bits() < MIN_RSA_BITS {
        return Err(bad(format!(
            "RSA keys must have at least {MIN_RSA_BITS} bits"
        )));
    }
    Ok(KeyMaterial::Rsa(key))
}

fn ec_key(obj: &Map<String, Value>) -> Result<KeyMaterial, JwtError> {
    let crv = opt_str(obj, "crv")?.ok_or_else(|| bad("missing `crv`"))?;
    let (x, y) = (bytes(obj, "x")?, bytes(obj, "y")?);
    let invalid = || bad(format!("invalid {crv} public key"));
    let coordinate_len = match crv {
        "P-256" => 32,
        "P-384" => 48,
        other => return Err(bad(format!("unsupported EC curve `{other}`"))),
    };
    if x.len() != coordinate_len || y.len() != coordinate_len {
        return Err(invalid());
    }
    // Uncompressed SEC1 point: 0x04 || x || y; parsing checks it is on the curve.
    let mut sec1 = Vec::with_capacity(1 + 2 * coordinate_len);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    if coordinate_len == 32 {
        p256_13::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map(KeyMaterial::P256)
            .map_err(|_| invalid())
    } else {
        p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map(KeyMaterial::P384)
            .map_err(|_| invalid())
    }
}

fn okp_key(obj: &Map<String, Value>) -> Result<KeyMaterial, JwtError> {
    match opt_str(obj, "crv")? {
        Some("Ed25519") => {
            let x: [u8; 32] = bytes(obj, "x")?
                .try_into()
                .map_err(|_| bad("an Ed25519 `x` must be 32 bytes"))?;
            ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map(KeyMaterial::Ed25519)
                .map_err(|_| bad("invalid Ed25519 public key"))
        }
        Some(other) => Err(bad(format!("unsupported OKP curve `{other}`"))),
        None => Err(bad("missing `crv`")),
    }
}
