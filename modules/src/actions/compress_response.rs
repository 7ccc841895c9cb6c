//! `compress-response`: compresses the response body with the best content coding the client
//! accepts (by `Accept-Encoding` q-values) among the configured algorithms.
//!
//! An upstream body is compressed as it streams (never buffered); a response the policy made
//! itself is compressed on the spot. Responses that are already encoded, have no body
//! (HEAD, 1xx, 204, 304, `Content-Length: 0`) or accept none of the algorithms pass through
//! unchanged. When compressing, `Content-Length` is removed, `Content-Encoding` is set and
//! `Vary` gains `Accept-Encoding`.

use async_trait::async_trait;
use bytes::Bytes;
use cel::Value;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::value::{map, string};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, Termination, TypedAction,
};

use crate::compress::{
    Algorithm, AlgorithmError, Plan, apply_headers, encoder, parse_algorithms, plan,
};

/// Config of `compress-response`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompressResponseConfig {
    /// Algorithms to offer, in preference order: unique values from `gzip`, `deflate`, `br`,
    /// `compress`. Default: all four in that order.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
}

/// The built action.
pub struct CompressResponse {
    algorithms: Vec<Algorithm>,
}

impl CompressResponse {
    /// Compresses a whole policy-made body with `alg`.
    fn compress_whole(alg: Algorithm, body: Bytes) -> Result<Bytes, ActionError> {
        encoder(alg).transform(body, true).map_err(|e| {
            ActionError::internal(format!("{}: compressing with {alg}: {e}", Self::TYPE))
        })
    }
}

#[async_trait]
impl Action for CompressResponse {
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let decided = match cx.response() {
            Some(res) => {
                let req = cx.request();
                plan(
                    &req.method,
                    &req.headers,
                    res.status,
                    &res.headers,
                    &self.algorithms,
                )
            }
            None => Plan::NoBody,
        };
        tracing::debug!(
            action = Self::TYPE,
            outcome = decided.reason(),
            "compress-response"
        );
        let negotiated = match decided {
            Plan::Compress(alg) => {
                let synthetic = cx.response_is_synthetic();
                let body = if synthetic {
                    let body = cx.response_body().cloned().unwrap_or_default();
                    Some(Self::compress_whole(alg, body)?)
                } else {
                    None
                };
                if let Some(res) = cx.response_mut() {
                    apply_headers(&mut res.headers, alg);
                }
                match body {
                    Some(body) => cx.set_response_body(body),
                    None => cx.add_response_transform(encoder(alg)),
                }
                alg.id()
            }
            _ => "",
        };
        cx.set_result(
            "compress",
            map([
                (
                    "already_compressed",
                    Value::Bool(decided == Plan::AlreadyCompressed),
                ),
                ("negotiated_algorithm", string(negotiated)),
            ]),
        );
        Ok(Flow::Continue)
    }
    fn summary(&self) -> String {
        let ids: Vec<&str> = self.algorithms.iter().map(|a| a.id()).collect();
        format!("compresses responses with {}", ids.join(", "))
    }
}

impl TypedAction for CompressResponse {
    type Config = CompressResponseConfig;
    const TYPE: &'static str = "compress-response";
    const PHASES: &'static [Phase] = &[Phase::HttpResponse];
    const TERMINATION: Termination = Termination::Never;
    const CONFIG_OPTIONAL: bool = true;
    const ABOUT: &'static str = "Compresses the response body (gzip, deflate, br or compress) as negotiated by Accept-Encoding.";

    fn build(config: CompressResponseConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let Some(names) = config.algorithms else {
            return Some(CompressResponse {
                algorithms: Algorithm::ALL.to_vec(),
            });
        };
        let mut algorithms: Vec<Algorithm> = Vec::with_capacity(names.len());
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            let parsed = name.parse::<Algorithm>().and_then(|alg| {
                if algorithms.contains(&alg) {
                    Err(AlgorithmError::Duplicate(alg))
                } else {
                    Ok(alg)
                }
            });
            match parsed {
                Ok(alg) => algorithms.push(alg),
                Err(e) => {
                    cx.error_at(
                        Code::InvalidValue,
                        &format!("algorithms[{i}]"),
                        e.to_string(),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        // Validated above; this also turns an empty list into the default.
        let algorithms = parse_algorithms(&names).ok()?;
        Some(CompressResponse { algorithms })
    }
}
