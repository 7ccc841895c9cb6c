use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::support::*;
use crate::jwt::{Algorithm, JwtError, algorithm_name, verify_token};

fn check(token: &str, keys: &crate::jwt::KeySet) -> Result<crate::jwt::VerifiedToken, JwtError> {
    verify_token(token, keys, &policy(), SystemTime::now())
}

#[test]
fn every_algorithm_family_verifies() {
    let rsa = rsa_key(0);
    let (p256, p384, ed, oct) = (p256_key(), p384_key(), ed_key(), oct_key());
    let keys = key_set(&[
        ("rsa", &rsa),
        ("p256", &p256),
        ("p384", &p384),
        ("ed", &ed),
        ("oct", &oct),
    ]);
    let cases: [(&str, &str, &TestKey); 12] = [
        ("RS256", "rsa", &rsa),
        ("RS384", "rsa", &rsa),
        ("RS512", "rsa", &rsa),
        ("PS256", "rsa", &rsa),
        ("PS384", "rsa", &rsa),
        ("PS512", "rsa", &rsa),
        ("ES256", "p256", &p256),
        ("ES384", "p384", &p384),
        ("EdDSA", "ed", &ed),
        ("HS256", "oct", &oct),
        ("HS384", "oct", &oct),
        ("HS512", "oct", &oct),
    ];
    for (alg, kid, key) in cases {
        let token = token(alg, Some(kid), key, &claims());
        let verified = check(&token, &keys).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(algorithm_name(verified.algorithm()), alg);
        assert_eq!(verified.header()["alg"], alg);
        assert_eq!(verified.kid(), Some(kid));
        assert_eq!(verified.payload()["sub"], "alice");
        assert_eq!(verified.claim("iss"), Some(&json!(ISSUER)));
        assert_eq!(Some(verified.signature()), token.rsplit('.').next());
        // Without a kid the key is chosen by algorithm compatibility.
        let token = super::support::token(alg, None, key, &claims());
        check(&token, &keys).unwrap_or_else(|e| panic!("{alg} without kid: {e}"));
    }
}

#[test]
fn wrong_key_and_tampering_are_rejected() {
    let (good, other) = (rsa_key(0), rsa_key(1));
    let keys = key_set(&[("k1", &good)]);
    let forged = token("RS256", Some("k1"), &other, &claims());
    assert_eq!(check(&forged, &keys), Err(JwtError::InvalidSignature));

    let genuine = token("RS256", Some("k1"), &good, &claims());
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut evil = claims();
    evil["sub"] = json!("mallory");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(evil.to_string().as_bytes()),
        parts[2]
    );
    let err = check(&tampered, &keys).expect_err("tampered payload");
    assert_eq!((err.code(), err.status().as_u16()), (3401, 401));

    let p256 = p256_key();
    let keys = key_set(&[("ec", &p256)]);
    let forged = token("ES256", Some("ec"), &p256_key(), &claims());
    assert_eq!(check(&forged, &keys), Err(JwtError::InvalidSignature));
}

#[test]
fn time_claims_are_enforced_with_leeway() {
    let key = p256_key();
    let keys = key_set(&[("k", &key)]);
    let now = unix_now();
    let with = |name: &str, value: i64| {
        let mut c = claims();
        c[name] = json!(value);
        token("ES256", Some("k"), &key, &c)
    };
    assert_eq!(
        check(&with("exp", now - 120), &keys),
        Err(JwtError::Expired)
    );
    assert!(
        check(&with("exp", now - 30), &keys).is_ok(),
        "inside default leeway"
    );
    assert_eq!(
        check(&with("nbf", now + 120), &keys),
        Err(JwtError::NotYetValid)
    );
    assert!(check(&with("nbf", now + 30), &keys).is_ok());
    assert_eq!(
        check(&with("iat", now + 120), &keys),
        Err(JwtError::IssuedInFuture)
    );

    let strict = policy().with_leeway(Duration::ZERO);
    let err = verify_token(&with("exp", now - 30), &keys, &strict, SystemTime::now());
    assert_eq!(err, Err(JwtError::Expired));

    let mut no_exp = claims();
    no_exp.as_object_mut().map(|c| c.remove("exp"));
    let token_no_exp = token("ES256", Some("k"), &key, &no_exp);
    assert_eq!(
        check(&token_no_exp, &keys),
        Err(JwtError::MissingClaim("exp"))
    );
    let lenient = policy().with_required_exp(false);
    assert!(verify_token(&token_no_exp, &keys, &lenient, SystemTime::now()).is_ok());

    let mut bad_type = claims();
    bad_type["exp"] = json!("tomorrow");
    let err = check(&token("ES256", Some("k"), &key, &bad_type), &keys).expect_err("string exp");
    assert_eq!(err.code(), 3401);
}

#[test]
fn issuer_and_audience_are_enforced() {
    let key = ed_key();
    let keys = key_set(&[("k", &key)]);
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        token("EdDSA", Some("k"), &key, &c)
    };
    let err = check(&with("iss", json!("https://evil.example.com/")), &keys).expect_err("iss");
    assert_eq!((err.code(), err.status().as_u16()), (3403, 403));
    assert_eq!(
        check(&with("iss", Value::Null), &keys),
        Err(JwtError::IssuerNotAllowed)
    );

    assert_eq!(
        check(&with("aud", json!("api://other")), &keys),
        Err(JwtError::AudienceNotAllowed)
    );
    let list_miss = with("aud", json!(["api://a", "api://b"]));
    assert_eq!(check(&list_miss, &keys), Err(JwtError::AudienceNotAllowed));
    assert!(check(&with("aud", json!(["api://a", AUDIENCE])), &keys).is_ok());
    assert_eq!(
        check(&with("aud", json!(7)), &keys),
        Err(JwtError::AudienceNotAllowed)
    );

    let any_audience = crate::jwt::TokenPolicy::new([Algorithm::EdDSA], [ISSUER]).expect("policy");
    let token = with("aud", json!("api://other"));
    assert!(verify_token(&token, &keys, &any_audience, SystemTime::now()).is_ok());
}

#[test]
fn algorithm_none_and_disallowed_algorithms_are_rejected() {
    let rsa = rsa_key(0);
    let keys = key_set(&[("k", &rsa)]);
    let payload = b64(claims().to_string().as_bytes());
    for header in [json!({"alg": "none"}), json!({"alg": "None", "kid": "k"})] {
        let token = format!("{}.{payload}.", b64(header.to_string().as_bytes()));
        let err = check(&token, &keys).expect_err("alg none");
        assert!(matches!(err, JwtError::AlgorithmNotAllowed(_)), "{err:?}");
        assert_eq!(err.code(), 3401);
    }
    let ps = token("PS256", Some("k"), &rsa, &claims());
    let only_rs = policy_for(&[Algorithm::RS256]);
    let err = verify_token(&ps, &keys, &only_rs, SystemTime::now());
    assert_eq!(err, Err(JwtError::AlgorithmNotAllowed("PS256".to_owned())));
}

#[test]
fn hmac_with_public_key_as_secret_is_rejected() {
    let TestKey::Rsa(private) = rsa_key(0) else {
        unreachable!()
    };
    let rsa = TestKey::Rsa(private.clone());
    let keys = key_set(&[("k", &rsa)]);
    // Classic confusion attack: HMAC keyed with the public key's JWK text and modulus.
    for secret in [rsa.jwk("k").to_string().into_bytes(), {
        use rsa::traits::PublicKeyParts as _;
        private.n().to_bytes_be()
    }] {
        let forged = token("HS256", Some("k"), &TestKey::Oct(secret), &claims());
        let only_rs = policy_for(&[Algorithm::RS256]);
        let err = verify_token(&forged, &keys, &only_rs, SystemTime::now());
        assert_eq!(err, Err(JwtError::AlgorithmNotAllowed("HS256".to_owned())));
        // Even when HS256 is allowed, an RSA key never serves as an HMAC secret.
        let both = policy_for(&[Algorithm::RS256, Algorithm::HS256]);
        let err = verify_token(&forged, &keys, &both, SystemTime::now()).expect_err("confusion");
        assert!(matches!(err, JwtError::KeyNotFound { .. }), "{err:?}");
    }
}

#[test]
fn malformed_tokens_are_3416() {
    let key = oct_key();
    let keys = key_set(&[("k", &key)]);
    let payload = b64(claims().to_string().as_bytes());
    let header = b64(br#"{"alg":"HS256"}"#);
    let cases = [
        String::new(),
        "abc".to_owned(),
        "a.b".to_owned(),
        format!("{header}.{payload}.sig.extra"),
        format!("{header}.{payload}.a+b/"),
        format!("{header}=.{payload}.abc"),
        format!("{}.{payload}.abc", b64(b"not json")),
        format!("{}.{payload}.abc", b64(b"[1,2]")),
        format!("{}.{payload}.abc", b64(br#"{"typ":"JWT"}"#)),
        format!(
            "{}.{payload}.abc",
            b64(br#"{"alg":"HS256","crit":["exp"]}"#)
        ),
        format!("{}.{payload}.abc", b64(br#"{"alg":"HS256","kid":5}"#)),
        format!("{header}.{}.abc", b64(b"\"just a string\"")),
        "x".repeat(70_000),
    ];
    for token in cases {
        let err = check(&token, &keys).expect_err("malformed");
        assert_eq!(err.code(), 3416, "{token:.60}: {err}");
    }
}

#[test]
fn key_selection_by_kid() {
    let (a, b) = (p256_key(), p256_key());
    let keys = key_set(&[("a", &a), ("b", &b)]);
    assert!(check(&token("ES256", Some("b"), &b, &claims()), &keys).is_ok());
    // A kid that names the wrong key is not rescued by trying the others.
    let err = check(&token("ES256", Some("a"), &b, &claims()), &keys);
    assert_eq!(err, Err(JwtError::InvalidSignature));
    let err = check(&token("ES256", Some("zzz"), &b, &claims()), &keys).expect_err("unknown kid");
    assert!(matches!(err, JwtError::KeyNotFound { kid: Some(ref k), .. } if k == "zzz"));
    assert_eq!(err.code(), 3401);

    let required = policy().with_required_kid(true);
    let err = verify_token(
        &token("ES256", None, &b, &claims()),
        &keys,
        &required,
        SystemTime::now(),
    );
    assert!(matches!(err, Err(JwtError::KeyNotFound { kid: None, .. })));

    // A key pinned to RS256 is not used for PS256.
    let rsa = rsa_key(0);
    let mut jwk = rsa.jwk("r");
    jwk["alg"] = json!("RS256");
    let pinned = crate::jwt::KeySet::from_jwks_json(json!({"keys": [jwk]}).to_string().as_bytes())
        .expect("jwks");
    assert!(check(&token("RS256", Some("r"), &rsa, &claims()), &pinned).is_ok());
    let err = check(&token("PS256", Some("r"), &rsa, &claims()), &pinned);
    assert!(matches!(err, Err(JwtError::KeyNotFound { .. })));
}
