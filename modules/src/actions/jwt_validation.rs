//! `jwt-validation`: requires every configured token (header or body) to be a JWS signed by a
//! key from the configured JWKS URLs, with an allowed algorithm, issuer and audience, and valid
//! `exp`/`nbf`/`iat` (see [`crate::jwt`]).
//!
//! Keys are fetched lazily on the first request and cached (refreshed after 15 minutes, or
//! when a token names an unknown `kid`, at most every 30 s). Malformed tokens and disallowed
//! algorithms are rejected before any key fetch. A rejection answers with the core's status
//! (401, or 403 for issuer/audience) and code (`ERR_SLUICE_3401`…`3422`).
//! Result variables: `actions.ngrok.jwt_validation.tokens[i].{header,payload,signature,verified,
//! location,location_property}` and, on failure, `actions.ngrok.jwt_validation.error.{code,message}`.

use async_trait::async_trait;
use bytes::Bytes;
use cel::Value;
use http::Method;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{from_json, map, string};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};

use crate::jwt::{
    self, ALGORITHMS, Algorithm, JwksCache, JwksCacheConfig, JwtError, KeySet, TokenPolicy,
    VerifiedToken, algorithm_name, extract_from_body, extract_from_header, parse_algorithm,
    verify_token,
};

/// The largest request body buffered to find a `method: body` token (1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Config of `jwt-validation`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtValidationConfig {
    /// Accepted `iss` values (exact match). Required, at least one.
    pub issuer: AllowList,
    /// Accepted `aud` values; the claim must contain one. Optional.
    #[serde(default)]
    pub audience: Option<AllowList>,
    /// Where the tokens are. Required.
    pub http: HttpTokens,
    /// Signature settings. Required.
    pub jws: Jws,
}

/// `{allow_list: [{value}]}`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    /// Accepted values; `${…}` allowed.
    pub allow_list: Vec<AllowValue>,
}

/// One allow-list entry.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowValue {
    /// The value; `${…}` allowed.
    pub value: String,
}

/// `http:` — the tokens to validate.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpTokens {
    /// Tokens, at least one; all must be present and valid.
    pub tokens: Vec<TokenSpec>,
}

/// One token location.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Token kind (informational): `id_token`, `access_token`, `at+jwt`, `it+jwt`, `plain`, `jwt`.
    #[serde(rename = "type")]
    pub kind: TokenType,
    /// `header` or `body` (POST/PUT/PATCH, JSON or form).
    pub method: TokenMethod,
    /// Header or body field name (case-insensitive for headers); `${…}` allowed.
    pub name: String,
    /// Prefix to strip, e.g. `"Bearer "`; `${…}` allowed.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Token kinds ngrok accepts.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[allow(missing_docs)]
pub enum TokenType {
    #[serde(rename = "id_token")]
    IdToken,
    #[serde(rename = "access_token")]
    AccessToken,
    #[serde(rename = "at+jwt")]
    AtJwt,
    #[serde(rename = "it+jwt")]
    ItJwt,
    #[serde(rename = "plain")]
    Plain,
    #[serde(rename = "jwt")]
    Jwt,
}

/// Where a token is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenMethod {
    /// A request header.
    Header,
    /// A field of a JSON or form request body.
    Body,
}

/// `jws:` — algorithms and keys.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Jws {
    /// Allowed `alg` values, at least one; `none` is forbidden.
    pub allowed_algorithms: Vec<String>,
    /// `{sources: {additional_jkus: [...]}, identification: {token_claims: [kid]}}`
    /// (a list of such objects is accepted too).
    #[schemars(with = "crate::jwt::OneOrMany<crate::jwt::KeysSpec>")]
    pub keys: serde_json::Value,
}

/// A compiled token location.
struct TokenSource {
    method: TokenMethod,
    name: Template,
    prefix: Option<Template>,
}

/// The built action.
pub struct JwtValidation {
    issuers: Vec<Template>,
    audiences: Vec<Template>,
    algorithms: Vec<Algorithm>,
    require_kid: bool,
    tokens: Vec<TokenSource>,
    cache: JwksCache,
}

/// Outcome of one token, for the result variables.
struct TokenResult {
    location: TokenMethod,
    name: String,
    verified: Option<VerifiedToken>,
}

impl TokenResult {
    fn value(&self) -> Value {
        let (header, payload, signature) = match &self.verified {
            Some(t) => (
                from_json(t.header()),
                from_json(t.payload()),
                string(t.signature()),
            ),
            None => (map([]), map([]), string("")),
        };
        let location = match self.location {
            TokenMethod::Header => "header",
            TokenMethod::Body => "body",
        };
        map([
            ("header", header),
            ("payload", payload),
            ("signature", signature),
            ("verified", Value::Bool(self.verified.is_some())),
            ("location", string(location)),
            ("location_property", string(self.name.clone())),
        ])
    }
}

fn render(t: &Template, cx: &HttpCx<'_>, field: &str) -> Result<String, ActionError> {
    t.render(cx.scope())
        .map_err(|e| ActionError::interpolation(JwtValidation::TYPE, field, e))
}

impl JwtValidation {
    /// The token policy for this request (issuer/audience templates rendered).
    fn policy(&self, cx: &HttpCx<'_>) -> Result<TokenPolicy, ActionError> {
        let mut issuers = Vec::with_capacity(self.issuers.len());
        for (i, t) in self.issuers.iter().enumerate() {
            issuers.push(render(t, cx, &format!("issuer.allow_list[{i}].value"))?);
        }
        let mut audiences = Vec::with_capacity(self.audiences.len());
        for (i, t) in self.audiences.iter().enumerate() {
            audiences.push(render(t, cx, &format!("audience.allow_list[{i}].value"))?);
        }
        TokenPolicy::new(self.algorithms.iter().copied(), issuers)
            .map(|p| {
                p.with_audiences(audiences)
                    .with_required_kid(self.require_kid)
            })
            .map_err(|e| ActionError::internal(e.to_string()))
    }

    /// Extracts and verifies every token, recording each outcome in `results`.
    async fn validate(
        &self,
        cx: &mut HttpCx<'_>,
        results: &mut Vec<TokenResult>,
    ) -> Result<Result<(), JwtError>, ActionError> {
        let policy = self.policy(cx)?;
        let mut body: Option<Bytes> = None;
        let mut raw = Vec::with_capacity(self.tokens.len());
        for (i, source) in self.tokens.iter().enumerate() {
            let name = render(&source.name, cx, &format!("http.tokens[{i}].name"))?;
            let prefix = match &source.prefix {
                Some(t) => Some(render(t, cx, &format!("http.tokens[{i}].prefix"))?),
                None => None,
            };
            results.push(TokenResult {
                location: source.method,
                name: name.clone(),
                verified: None,
            });
            let head = cx.request();
            let extracted = match source.method {
                TokenMethod::Header => extract_from_header(&head.headers, &name, prefix.as_deref()),
                TokenMethod::Body => {
                    let method = head.method.clone();
                    let content_type = head
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    if body.is_none()
                        && matches!(method, Method::POST | Method::PUT | Method::PATCH)
                    {
                        match cx.read_request_body(BODY_LIMIT).await {
                            Ok(b) => body = Some(b),
                            Err(e) => return Ok(Err(JwtError::InvalidToken(e.to_string()))),
                        }
                    }
                    let bytes = body.as_deref().unwrap_or_default();
                    extract_from_body(
                        &method,
                        content_type.as_deref(),
                        bytes,
                        &name,
                        prefix.as_deref(),
                    )
                }
            };
            match extracted {
                Ok(token) => raw.push(token),
                Err(e) => return Ok(Err(e)),
            }
        }
        // Reject malformed tokens and disallowed algorithms before fetching any key.
        let now = cx.now();
        let empty = KeySet::new();
        for token in &raw {
            if let Err(e @ (JwtError::Malformed(_) | JwtError::AlgorithmNotAllowed(_))) =
                verify_token(token, &empty, &policy, now)
            {
                return Ok(Err(e));
            }
        }
        for (token, result) in raw.iter().zip(results.iter_mut()) {
            match self.cache.verify(token, &policy, now).await {
                Ok(verified) => result.verified = Some(verified),
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(()))
    }
}

#[async_trait]
impl Action for JwtValidation {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let mut results = Vec::with_capacity(self.tokens.len());
        let outcome = self.validate(cx, &mut results).await?;
        let tokens = Value::List(
            results
                .iter()
                .map(TokenResult::value)
                .collect::<Vec<_>>()
                .into(),
        );
        match outcome {
            Ok(()) => {
                cx.set_result("jwt_validation", map([("tokens", tokens)]));
                Ok(Flow::Continue)
            }
            Err(e) => {
                let message = e.to_string();
                cx.set_result(
                    "jwt_validation",
                    map([
                        ("tokens", tokens),
                        (
                            "error",
                            map([
                                ("code", string(e.error_id())),
                                ("message", string(message.clone())),
                            ]),
                        ),
                    ]),
                );
                Ok(Flow::Respond(SyntheticResponse::error(
                    e.status(),
                    e.code(),
                    &message,
                )))
            }
        }
    }

    fn summary(&self) -> String {
        let algs: Vec<&str> = self.algorithms.iter().map(|a| algorithm_name(*a)).collect();
        format!(
            "requires {} JWT(s) signed with {} by keys from {} JWKS URL(s)",
            self.tokens.len(),
            algs.join("/"),
            self.cache.urls().count()
        )
    }
}

/// Compiles an allow list at `rel` (`issuer` / `audience`).
fn allow_list(cx: &mut BuildCx<'_>, rel: &str, list: &AllowList, required: bool) -> Vec<Template> {
    if required && list.allow_list.is_empty() {
        cx.error_at(
            Code::InvalidValue,
            &format!("{rel}.allow_list"),
            "give at least one value",
        );
    }
    let mut out = Vec::new();
    for (i, entry) in list.allow_list.iter().enumerate() {
        let path = format!("{rel}.allow_list[{i}].value");
        if entry.value.is_empty() {
            cx.error_at(Code::InvalidValue, &path, "must not be empty");
        } else if let Some(t) = cx.template(&path, &entry.value) {
            out.push(t);
        }
    }
    out
}

impl TypedAction for JwtValidation {
    type Config = JwtValidationConfig;
    const TYPE: &'static str = "jwt-validation";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const AUTH: bool = true;
    const ABOUT: &'static str = "Requires JWTs (header or body) signed by keys from the \
        configured JWKS URLs, with an allowed algorithm, issuer and audience.";

    fn build(config: JwtValidationConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let issuers = allow_list(cx, "issuer", &config.issuer, true);
        let audiences = match &config.audience {
            Some(list) => allow_list(cx, "audience", list, false),
            None => Vec::new(),
        };
        if config.http.tokens.is_empty() {
            cx.error_at(Code::InvalidValue, "http.tokens", "give at least one token");
        }
        let mut tokens = Vec::with_capacity(config.http.tokens.len());
        for (i, spec) in config.http.tokens.iter().enumerate() {
            let rel = format!("http.tokens[{i}]");
            if spec.name.is_empty() {
                cx.error_at(
                    Code::InvalidValue,
                    &format!("{rel}.name"),
                    "must not be empty",
                );
                continue;
            }
            let name = cx.template(&format!("{rel}.name"), &spec.name);
            let prefix = match &spec.prefix {
                Some(p) => cx.template(&format!("{rel}.prefix"), p).map(Some),
                None => Some(None),
            };
            if let (Some(name), Some(prefix)) = (name, prefix) {
                tokens.push(TokenSource {
                    method: spec.method,
                    name,
                    prefix,
                });
            }
        }
        if config.jws.allowed_algorithms.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                "jws.allowed_algorithms",
                "give at least one algorithm",
            );
        }
        let mut algorithms = Vec::new();
        for (i, name) in config.jws.allowed_algorithms.iter().enumerate() {
            let path = format!("jws.allowed_algorithms[{i}]");
            match parse_algorithm(name) {
                Some(alg) => algorithms.push(alg),
                None if name.eq_ignore_ascii_case("none") => {
                    cx.error_at(
                        Code::InvalidValue,
                        &path,
                        "`none` is not allowed: tokens must be signed",
                    );
                }
                None => {
                    let all: Vec<&str> = ALGORITHMS.iter().map(|(_, name)| *name).collect();
                    let msg = format!(
                        "unknown algorithm `{name}`; expected one of {}",
                        all.join(", ")
                    );
                    cx.error_at(Code::InvalidValue, &path, msg);
                }
            }
        }
        let (urls, require_kid) = jwt::keys(cx, &config.jws.keys)?;
        if cx.failed() {
            return None;
        }
        let cache = match JwksCache::new(&urls, JwksCacheConfig::default()) {
            Ok(cache) => cache,
            Err(e) => {
                cx.error_at(Code::InvalidValue, "jws.keys", e.to_string());
                return None;
            }
        };
        Some(JwtValidation {
            issuers,
            audiences,
            algorithms,
            require_kid,
            tokens,
            cache,
        })
    }
}
