//! Signature verification primitives, one per algorithm family.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac_12::{Hmac, Mac};
use p256_13::ecdsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2_10::{Digest, Sha256, Sha384, Sha512};

use super::Algorithm;

/// Public (or, for HMAC, shared secret) key material usable for verification.
#[derive(Clone)]
pub(crate) enum KeyMaterial {
    Rsa(RsaPublicKey),
    P256(p256_13::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Oct(Vec<u8>),
}

impl KeyMaterial {
    /// Whether this key type can verify `alg` (guards against algorithm
    /// confusion: an RSA key is never used as an HMAC secret and vice versa).
    pub(crate) fn supports(&self, alg: Algorithm) -> bool {
        use Algorithm::{EdDsa, Es256, Es384, Ps256, Ps384, Ps512, Rs256, Rs384, Rs512};
        match self {
            Self::Rsa(_) => matches!(alg, Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512),
            Self::P256(_) => alg == Es256,
            Self::P384(_) => alg == Es384,
            Self::Ed25519(_) => alg == EdDsa,
            Self::Oct(_) => alg.is_hmac(),
        }
    }

    /// Short, secret-free description used by `Debug`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Rsa(key) => format!("RSA-{}", key.n().bits()),
            Self::P256(_) => "EC P-256".to_owned(),
            Self::P384(_) => "EC P-384".to_owned(),
            Self::Ed25519(_) => "OKP Ed25519".to_owned(),
            Self::Oct(secret) => format!("oct ({} bytes, redacted)", secret.len()),
        }
    }

    /// Verifies `sig` over `msg`. Returns `false` for any mismatch, including
    /// an algorithm this key cannot serve.
    pub(crate) fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        use Algorithm::{
            EdDsa, Es256, Es384, Hs256, Hs384, Hs512, Ps256, Ps384, Ps512, Rs256, Rs384, Rs512,
        };
        match (self, alg) {
            (Self::Oct(k), Hs256) => hmac_ok::<Hmac<Sha256>>(k, msg, sig),
            (Self::Oct(k), Hs384) => hmac_ok::<Hmac<Sha384>>(k, msg, sig),
            (Self::Oct(k), Hs512) => hmac_ok::<Hmac<Sha512>>(k, msg, sig),
            (Self::Rsa(k), Rs256) => {
                rsa_ok(k, Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg), sig)
            }
            (Self::Rsa(k), Rs384) => {
                rsa_ok(k, Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(msg), sig)
            }
            (Self::Rsa(k), Rs512) => {
                rsa_ok(k, Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(msg), sig)
            }
            (Self::Rsa(k), Ps256) => rsa_ok(k, Pss::new::<Sha256>(), &Sha256::digest(msg), sig),
            (Self::Rsa(k), Ps384) => rsa_ok(k, Pss::new::<Sha384>(), &Sha384::digest(msg), sig),
            (Self::Rsa(k), Ps512) => rsa_ok(k, Pss::new::<Sha512>(), &Sha512::digest(msg), sig),
            (Self::P256(k), Es256) => p256_13::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|sig| k.verify(msg, &sig).is_ok()),
            (Self::P384(k), Es384) => {
                p384::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| k.verify(msg, &sig).is_ok())
            }
            (Self::Ed25519(k), EdDsa) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|sig| k.verify_strict(msg, &sig).is_ok()),
            _ => false,
        }
    }
}

/// HMAC check; `verify_slice` compares in constant time and rejects tags of
/// the wrong length.
fn hmac_ok<M: Mac + hmac_12::digest::KeyInit>(key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    match <M as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.verify_slice(sig).is_ok()
        }
        Err(_) => false,
    }
}

fn rsa_ok<S: rsa::traits::SignatureScheme>(
    key: &RsaPublicKey,
    scheme: S,
    hashed: &[u8],
    sig: &[u8],
) -> bool {
    // RFC 7518 requires the signature to be exactly the modulus length.
    sig.len() == key.size() && key.verify(scheme, hashed, sig).is_ok()
}

/// Decodes unpadded base64url (RFC 7515 §2), rejecting padding and
/// non-canonical trailing bits.
pub(crate) fn b64url_decode(input: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(input)
}
