//! Test keys, JWK rendering and hand-built token signing.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac_12::{Hmac, Mac};
use rand::rngs::OsRng;
use rsa::RsaPrivateKey;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use sha2_10::{Sha256, Sha384, Sha512};

use crate::jwt::{ALGORITHMS, Algorithm, KeySet, TokenPolicy};

pub const ISSUER: &str = "https://issuer.example.com/";
pub const AUDIENCE: &str = "api://default";

/// A private key of any supported family.
#[derive(Clone)]
pub enum TestKey {
    Rsa(RsaPrivateKey),
    P256(p256_13::ecdsa::SigningKey),
    P384(p384_13::ecdsa::SigningKey),
    Ed(ed25519_dalek::SigningKey),
    Oct(Vec<u8>),
}

/// Two 2048-bit RSA keys, generated once per test binary (in parallel).
pub fn rsa_key(index: usize) -> TestKey {
    static KEYS: OnceLock<[RsaPrivateKey; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let generate = || RsaPrivateKey::new(&mut OsRng, 2048).expect("generate RSA key");
        let other = std::thread::spawn(generate);
        let first = generate();
        [first, other.join().expect("RSA keygen thread")]
    });
    TestKey::Rsa(keys[index].clone())
}

pub fn p256_key() -> TestKey {
    TestKey::P256(p256_13::ecdsa::SigningKey::random(&mut OsRng))
}

pub fn p384_key() -> TestKey {
    TestKey::P384(p384_13::ecdsa::SigningKey::random(&mut OsRng))
}

pub fn ed_key() -> TestKey {
    TestKey::Ed(ed25519_dalek::SigningKey::generate(&mut OsRng))
}

pub fn oct_key() -> TestKey {
    TestKey::Oct(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_vec())
}

pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

impl TestKey {
    /// The public JWK for this key.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Rsa(k) => json!({"kty": "RSA", "kid": kid, "use": "sig",
                "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be())}),
            Self::P256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "kid": kid, "crv": "P-256",
                    "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))})
            }
            Self::P384(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "kid": kid, "crv": "P-384",
                    "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))})
            }
            Self::Ed(k) => json!({"kty": "OKP", "kid": kid, "crv": "Ed25519",
                "x": b64(k.verifying_key().as_bytes())}),
            Self::Oct(k) => json!({"kty": "oct", "kid": kid, "k": b64(k)}),
        }
    }

    /// Raw JWS signature bytes for `alg` over `msg`.
    pub fn sign(&self, alg: &str, msg: &[u8]) -> Vec<u8> {
        use rsa::{pkcs1v15, pss};
        match (self, alg) {
            (Self::Rsa(k), "RS256") => pkcs1v15::SigningKey::<Sha256>::new(k.clone())
                .sign(msg)
                .to_vec(),
            (Self::Rsa(k), "RS384") => pkcs1v15::SigningKey::<Sha384>::new(k.clone())
                .sign(msg)
                .to_vec(),
            (Self::Rsa(k), "RS512") => pkcs1v15::SigningKey::<Sha512>::new(k.clone())
                .sign(msg)
                .to_vec(),
            (Self::Rsa(k), "PS256") => pss::BlindedSigningKey::<Sha256>::new(k.clone())
                .sign_with_rng(&mut OsRng, msg)
                .to_vec(),
            (Self::Rsa(k), "PS384") => pss::BlindedSigningKey::<Sha384>::new(k.clone())
                .sign_with_rng(&mut OsRng, msg)
                .to_vec(),
            (Self::Rsa(k), "PS512") => pss::BlindedSigningKey::<Sha512>::new(k.clone())
                .sign_with_rng(&mut OsRng, msg)
                .to_vec(),
            (Self::P256(k), "ES256") => {
                let sig: p256_13::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
            (Self::P384(k), "ES384") => {
                let sig: p384_13::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
            (Self::Ed(k), "EdDSA") => k.sign(msg).to_bytes().to_vec(),
            (Self::Oct(k), "HS256") => hmac::<Hmac<Sha256>>(k, msg),
            (Self::Oct(k), "HS384") => hmac::<Hmac<Sha384>>(k, msg),
            (Self::Oct(k), "HS512") => hmac::<Hmac<Sha512>>(k, msg),
            _ => panic!("test key cannot sign {alg}"),
        }
    }
}

fn hmac<M: Mac + hmac_12::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// Builds `header.payload.signature` with an explicit header object.
pub fn token_with_header(header: &Value, claims: &Value, key: &TestKey, alg: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(alg, input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// Builds a signed token with header `{"alg", "typ": "JWT", "kid"?}`.
pub fn token(alg: &str, kid: Option<&str>, key: &TestKey, claims: &Value) -> String {
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    token_with_header(&header, claims, key, alg)
}

pub fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    i64::try_from(secs).expect("time fits i64")
}

/// Valid claims for the default policy.
pub fn claims() -> Value {
    let now = unix_now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300})
}

/// A JWKS document for `(kid, key)` pairs.
pub fn jwks(keys: &[(&str, &TestKey)]) -> Value {
    json!({"keys": keys.iter().map(|(kid, key)| key.jwk(kid)).collect::<Vec<_>>()})
}

pub fn key_set(keys: &[(&str, &TestKey)]) -> KeySet {
    KeySet::from_jwks_json(jwks(keys).to_string().as_bytes()).expect("valid JWKS")
}

/// Policy allowing every algorithm, the test issuer and audience.
pub fn policy() -> TokenPolicy {
    TokenPolicy::new(ALGORITHMS.map(|(alg, _)| alg), [ISSUER])
        .expect("valid policy")
        .with_audiences([AUDIENCE])
}

pub fn policy_for(algs: &[Algorithm]) -> TokenPolicy {
    TokenPolicy::new(algs.iter().copied(), [ISSUER])
        .expect("valid policy")
        .with_audiences([AUDIENCE])
}
