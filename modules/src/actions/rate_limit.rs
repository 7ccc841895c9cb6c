//! `rate-limit`: admits at most `capacity` requests per sliding `rate` window for each bucket
//! (one per distinct combination of the `bucket_key` expressions' values).
//!
//! Over the limit it answers **429** with `retry-after: <seconds>` and
//! `sluice-error-code: ERR_SLUICE_2800`. ngrok documents no error code for a rate-limit
//! rejection; sluice uses **2800** ("rate limited"). With `enforce: false` nothing is rejected,
//! but the result variables still say whether the request would have been.
//!
//! Result variables: `actions.ngrok.rate_limit.bucket_key` (the keys' values joined with `,`),
//! `actions.ngrok.rate_limit.limited` (bool) and, when limited,
//! `actions.ngrok.rate_limit.error.{code,message}`.
//!
//! Counts live in the built action: every `rate-limit` action instance has its own limiter,
//! kept in memory (like ngrok, limits are per server, not global) — unless the edge has
//! shared counters (`rate_limit.redis` in its config, reached through
//! [`BuildCx::shared_counters`]): then every edge naming the same Redis counts each bucket of
//! the same account, endpoint and action in one sliding window (see `docs/cluster.md`).

use async_trait::async_trait;
use cel::Value;
use http::{HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Expr;
use sluice_policy::cel::value::{map, string, to_text};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};
use sluice_wire::parse_duration;

use crate::limits::sliding_window::{MAX_CAPACITY, MAX_WINDOW, MIN_WINDOW, WINDOW_STEP};
use crate::limits::{Decision, SharedWindowStore, SlidingWindowLimiter, WindowStore};

/// Error code of a rate-limit rejection (`ERR_SLUICE_2800`); ngrok documents none.
pub const RATE_LIMITED_CODE: u16 = 2800;
/// Error code of a bucket-key expression that fails at request time (`ERR_SLUICE_2253`).
pub const EVAL_FAILED_CODE: u16 = 2253;
/// Most `bucket_key` expressions accepted.
const MAX_BUCKET_KEYS: usize = 10;
/// `name` must be shorter than this many characters.
const MAX_NAME_CHARS: usize = 1024;

/// The counting algorithm; ngrok supports only `sliding_window`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// A weighted two-window counter.
    #[default]
    SlidingWindow,
}

/// Config of `rate-limit`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// A name for this limit, fewer than 1024 characters.
    pub name: String,
    /// Whether to reject requests over the limit (default true); `false` only records.
    #[serde(default = "enforce_default")]
    pub enforce: bool,
    /// The algorithm: `sliding_window`.
    pub algorithm: Algorithm,
    /// Requests admitted per window, 1 to 2,000,000,000.
    #[schemars(range(min = 1, max = 2_000_000_000))]
    pub capacity: u64,
    /// The window: a duration that is a multiple of 10s, from `60s` to `24h` (e.g. `90s`, `10m`).
    pub rate: String,
    /// CEL expressions (not `${…}` templates) whose values pick the bucket; at most 10.
    #[schemars(length(min = 1, max = 10))]
    pub bucket_key: Vec<String>,
}

fn enforce_default() -> bool {
    true
}

/// The built action, holding its limiter.
pub struct RateLimit {
    enforce: bool,
    bucket_key: Vec<Expr>,
    limiter: Box<dyn WindowStore>,
}

impl RateLimit {
    /// Evaluates the bucket-key expressions into text.
    fn key_values(&self, cx: &HttpCx<'_>) -> Result<Vec<String>, ActionError> {
        self.bucket_key
            .iter()
            .enumerate()
            .map(|(i, expr)| {
                expr.eval(cx.scope())
                    .map(|v| to_text(&v))
                    .map_err(|e| ActionError {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        code: EVAL_FAILED_CODE,
                        message: format!(
                            "CEL evaluation failed in action {} field bucket_key[{i}]: {e}",
                            Self::TYPE
                        ),
                    })
            })
            .collect()
    }
}

#[async_trait]
impl Action for RateLimit {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let values = self.key_values(cx)?;
        let parts: Vec<&str> = values.iter().map(String::as_str).collect();
        let decision = self
            .limiter
            .check(&cx.endpoint().url, &parts, cx.now())
            .await;
        let mut result = vec![
            ("bucket_key", string(parts.join(","))),
            ("limited", Value::Bool(!decision.is_allowed())),
        ];
        let Decision::Limited { retry_after } = decision else {
            cx.set_result("rate_limit", map(result));
            return Ok(Flow::Continue);
        };
        let message = format!(
            "Too many requests: the rate limit of {} per {}s was exceeded; retry in {}s.",
            self.limiter.capacity(),
            self.limiter.window().as_secs(),
            retry_after.as_secs()
        );
        result.push((
            "error",
            map([
                ("code", string(format!("ERR_SLUICE_{RATE_LIMITED_CODE}"))),
                ("message", string(message.as_str())),
            ]),
        ));
        cx.set_result("rate_limit", map(result));
        if !self.enforce {
            return Ok(Flow::Continue);
        }
        let mut response =
            SyntheticResponse::error(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED_CODE, &message);
        response.headers.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(retry_after.as_secs()),
        );
        Ok(Flow::Respond(response))
    }

    fn summary(&self) -> String {
        let keys: Vec<&str> = self.bucket_key.iter().map(Expr::source).collect();
        format!(
            "{} {} requests per {}s per [{}]",
            if self.enforce {
                "limits to"
            } else {
                "measures (not enforced)"
            },
            self.limiter.capacity(),
            self.limiter.window().as_secs(),
            keys.join(", ")
        )
    }
}

impl TypedAction for RateLimit {
    type Config = RateLimitConfig;
    const TYPE: &'static str = "rate-limit";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const ABOUT: &'static str =
        "Limits requests per bucket key over a sliding window; over the limit answers 429.";

    fn build(config: RateLimitConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.name.is_empty() {
            cx.error_at(Code::InvalidValue, "name", "must not be empty");
        } else if config.name.chars().count() >= MAX_NAME_CHARS {
            cx.error_at(
                Code::InvalidValue,
                "name",
                format!("must be fewer than {MAX_NAME_CHARS} characters"),
            );
        }
        if !(1..=MAX_CAPACITY).contains(&config.capacity) {
            cx.error_at(
                Code::OutOfRange,
                "capacity",
                format!(
                    "must be between 1 and {MAX_CAPACITY}, got {}",
                    config.capacity
                ),
            );
        }
        let window = match parse_duration(&config.rate) {
            Err(e) => {
                cx.error_at(Code::InvalidValue, "rate", e.to_string());
                None
            }
            Ok(w) if !(MIN_WINDOW..=MAX_WINDOW).contains(&w) => {
                cx.error_at(
                    Code::OutOfRange,
                    "rate",
                    format!("must be between 60s and 24h, got {:?}", config.rate),
                );
                None
            }
            Ok(w) if !w.as_nanos().is_multiple_of(WINDOW_STEP.as_nanos()) => {
                cx.error_at(
                    Code::InvalidValue,
                    "rate",
                    format!("must be a multiple of 10s, got {:?}", config.rate),
                );
                None
            }
            Ok(w) => Some(w),
        };
        let mut bucket_key = Vec::new();
        if config.bucket_key.is_empty() {
            cx.error_at(
                Code::InvalidValue,
                "bucket_key",
                "give at least one CEL expression, e.g. `conn.client_ip`",
            );
        } else if config.bucket_key.len() > MAX_BUCKET_KEYS {
            cx.error_at(
                Code::TooManyEntries,
                "bucket_key",
                format!(
                    "at most {MAX_BUCKET_KEYS} expressions, found {}",
                    config.bucket_key.len()
                ),
            );
        } else {
            for (i, text) in config.bucket_key.iter().enumerate() {
                let rel = format!("bucket_key[{i}]");
                if text.contains("${") && Expr::compile(text).is_err() {
                    cx.error_at(
                        Code::InvalidExpression,
                        &rel,
                        "bucket_key entries are CEL expressions, not `${…}` templates: \
                         write e.g. `conn.client_ip`",
                    );
                } else if let Some(e) = cx.expr(&rel, text) {
                    bucket_key.push(e);
                }
            }
        }
        let window = window?;
        if cx.failed() {
            return None;
        }
        let limiter: Result<Box<dyn WindowStore>, _> = match cx.shared_counters() {
            None => SlidingWindowLimiter::new(config.capacity, window)
                .map(|l| Box::new(l) as Box<dyn WindowStore>),
            Some(shared) => {
                let sources: Vec<&str> = bucket_key.iter().map(Expr::source).collect();
                SharedWindowStore::new(
                    shared.clone(),
                    &cx.action_path(),
                    &config.name,
                    config.capacity,
                    window,
                    &sources,
                )
                .map(|s| Box::new(s) as Box<dyn WindowStore>)
            }
        };
        match limiter {
            Ok(limiter) => Some(RateLimit {
                enforce: config.enforce,
                bucket_key,
                limiter,
            }),
            Err(e) => {
                cx.error_at(Code::InvalidValue, "rate", e.to_string());
                None
            }
        }
    }
}
