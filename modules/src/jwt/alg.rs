//! The JWS signature algorithms (RFC 7518) the validator accepts, by their JOSE names.
//!
//! The algorithm type itself is `jsonwebtoken`'s; this table gives the names the config and the
//! error messages use, since that enum has no name accessor.

pub use jsonwebtoken::Algorithm;

/// Every supported algorithm with its JOSE name. `none` is deliberately absent.
pub const ALGORITHMS: [(Algorithm, &str); 12] = [
    (Algorithm::HS256, "HS256"),
    (Algorithm::HS384, "HS384"),
    (Algorithm::HS512, "HS512"),
    (Algorithm::RS256, "RS256"),
    (Algorithm::RS384, "RS384"),
    (Algorithm::RS512, "RS512"),
    (Algorithm::PS256, "PS256"),
    (Algorithm::PS384, "PS384"),
    (Algorithm::PS512, "PS512"),
    (Algorithm::ES256, "ES256"),
    (Algorithm::ES384, "ES384"),
    (Algorithm::EdDSA, "EdDSA"),
];

/// Parses a JOSE algorithm name (case-sensitive); `None` for `none` and unknown names.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    ALGORITHMS
        .iter()
        .find(|(_, known)| *known == name)
        .map(|(alg, _)| *alg)
}

/// The JOSE name of `alg`, e.g. `"RS256"`.
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    ALGORITHMS
        .iter()
        .find(|(known, _)| *known == alg)
        .map_or("unknown", |(_, name)| name)
}
