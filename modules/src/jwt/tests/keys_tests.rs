use serde_json::json;

use super::support::*;
use crate::jwt::{ALGORITHMS, Algorithm, Jwk, JwtError, KeySet, TokenPolicy, parse_algorithm};

#[test]
fn jwks_parsing_keeps_usable_keys_and_skips_the_rest() {
    let (rsa, ec, ed, oct) = (rsa_key(0), p384_key(), ed_key(), oct_key());
    let mut small_rsa = rsa.jwk("small");
    small_rsa["n"] = json!(b64(&[0xc5; 128])); // 1024-bit modulus
    let mut off_curve = p256_key().jwk("bad-ec");
    off_curve["y"] = json!(b64(&[1; 32]));
    let doc = json!({"keys": [
        rsa.jwk("rsa"), ec.jwk("ec"), ed.jwk("ed"), oct.jwk("oct"),
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "k256", "crv": "secp256k1", "x": "AA", "y": "AA"},
        {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64(&[9; 32])},
        {"kty": "oct", "kid": "none", "alg": "none", "k": "c2VjcmV0"},
        {"kty": "oct", "kid": "ops", "key_ops": ["encrypt"], "k": "c2VjcmV0"},
        {"kty": "EC", "kid": "mismatch", "alg": "RS256", "crv": "P-384"},
        {"kid": "no-kty"}, "not an object", small_rsa, off_curve,
    ]});
    let set = KeySet::from_jwks_json(doc.to_string().as_bytes()).expect("valid JWKS");
    let kids: Vec<_> = set.iter().filter_map(Jwk::kid).collect();
    assert_eq!(kids, ["rsa", "ec", "ed", "oct"]);
    assert!(set.contains_kid("ed") && !set.contains_kid("enc"));
    assert_eq!(set.candidates(None, Algorithm::PS512).count(), 1);
    assert_eq!(set.candidates(Some("ec"), Algorithm::ES384).count(), 1);
    assert_eq!(set.candidates(Some("ec"), Algorithm::ES256).count(), 0);
}

#[test]
fn invalid_jwks_documents_are_3422() {
    for doc in [
        &b"not json"[..],
        br#"{"kid":"x"}"#,
        br#"{"keys":{}}"#,
        b"[]",
    ] {
        let err = KeySet::from_jwks_json(doc).expect_err("invalid");
        assert_eq!((err.code(), err.status().as_u16()), (3422, 401));
    }
    let empty = KeySet::from_jwks_json(br#"{"keys":[]}"#).expect("empty set");
    assert!(empty.is_empty());
}

#[test]
fn debug_output_redacts_secrets() {
    let key = Jwk::from_hmac_secret(Some("s".to_owned()), b"super-secret-value").expect("key");
    let text = format!("{key:?}");
    assert!(
        text.contains("redacted") && !text.contains("super-secret"),
        "{text}"
    );
    assert!(Jwk::from_hmac_secret(None, b"").is_err());
}

#[test]
fn algorithm_names_round_trip_and_none_is_refused() {
    for (alg, name) in ALGORITHMS {
        assert_eq!(parse_algorithm(name), Some(alg));
        assert_eq!(crate::jwt::algorithm_name(alg), name);
    }
    for name in ["none", "NONE", "rs256", "ES512", ""] {
        assert!(parse_algorithm(name).is_none(), "{name}");
    }
}

#[test]
fn policy_configuration_is_validated() {
    let no_algs = TokenPolicy::new(Vec::<Algorithm>::new(), [ISSUER]).expect_err("no algs");
    assert_eq!((no_algs.code(), no_algs.status().as_u16()), (7171, 500));
    assert!(TokenPolicy::new([Algorithm::RS256], Vec::<String>::new()).is_err());
    let policy = TokenPolicy::new([Algorithm::RS256], [ISSUER]).expect("policy");
    assert_eq!(policy.leeway(), crate::jwt::DEFAULT_LEEWAY);
    assert!(policy.audiences().is_empty());
    assert_eq!(policy.issuers(), [ISSUER]);
}

#[test]
fn error_codes_and_statuses() {
    let cases = [
        (JwtError::InvalidSignature, 3401, 401),
        (JwtError::AudienceNotAllowed, 3403, 403),
        (JwtError::TokenNotFound { name: "t".into() }, 3406, 401),
        (JwtError::HeaderMissing { name: "h".into() }, 3408, 401),
        (JwtError::BodyJson("x".into()), 3411, 401),
        (JwtError::BodyForm("x".into()), 3412, 401),
        (
            JwtError::PrefixMissing {
                prefix: "Bearer ".into(),
            },
            3413,
            401,
        ),
        (JwtError::InvalidToken("x".into()), 3414, 401),
        (JwtError::BodyNotAllowed("x".into()), 3415, 401),
        (JwtError::Malformed("x".into()), 3416, 401),
        (
            JwtError::JwksFetch {
                url: "u".into(),
                reason: "r".into(),
            },
            3422,
            401,
        ),
    ];
    for (err, code, status) in cases {
        assert_eq!((err.code(), err.status().as_u16()), (code, status), "{err}");
        assert_eq!(err.error_id(), format!("ERR_SLUICE_{code}"));
    }
}
