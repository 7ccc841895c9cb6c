//! `circuit-breaker`: stops forwarding to an upstream that keeps failing.
//!
//! Every admitted request's outcome is recorded when the upstream answers: a 5xx status, or no
//! answer at all, counts as an error. Once the rolling `window_duration` (split into
//! `num_buckets` buckets) holds at least `volume_threshold` outcomes and the error ratio
//! reaches `error_threshold`, the breaker trips: for `tripped_duration` every request is
//! answered **503** with `sluice-error-code: ERR_SLUICE_3202` ("Circuit breaker tripped", as
//! ngrok's ERR_NGROK_3202) without calling the upstream. Then one probe request at a time is let
//! through (half-open): a success closes the breaker, an error trips it again.
//!
//! With `enforce: false` the breaker still counts outcomes but never rejects. ngrok defines no
//! result variables for this action. State lives in the built action (one breaker per action).

use std::time::Duration;

use async_trait::async_trait;
use http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};
use sluice_wire::parse_duration;

use crate::limits::circuit_breaker::{MAX_BUCKETS, MAX_VOLUME_THRESHOLD};
use crate::limits::{Admission, BreakerConfig, CircuitBreaker as Breaker};

/// Error code of a rejection while tripped (`ERR_SLUICE_3202`, as ngrok's).
pub const TRIPPED_CODE: u16 = 3202;

/// Config of `circuit-breaker`; every field has a default, so `config` may be omitted.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerConfig {
    /// Error ratio (0.0 to 1.0) over the window that trips the breaker. Default 0.5.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub error_threshold: f64,
    /// Requests the window must hold before it can trip, 1 to 2,000,000,000. Default 10.
    #[schemars(range(min = 1, max = 2_000_000_000))]
    pub volume_threshold: u64,
    /// Length of the rolling window, `1s` to `2m`. Default `10s`.
    pub window_duration: String,
    /// How long the breaker rejects once tripped, `1s` to `2m`. Default `10s`.
    pub tripped_duration: String,
    /// Buckets the window is split into, 1 to 128. Default 10.
    #[schemars(range(min = 1, max = 128))]
    pub num_buckets: u32,
    /// Whether to reject while tripped (default true); `false` only measures.
    pub enforce: bool,
    /// Older spelling of `window_duration` (ngrok's migration guide); accepted with a warning.
    pub rolling_window: Option<String>,
    /// Older spelling of `error_threshold`, also a ratio from 0.0 to 1.0 (ngrok's migration
    /// guide); accepted with a warning.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub error_threshold_percentage: Option<f64>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            error_threshold: 0.5,
            volume_threshold: 10,
            window_duration: "10s".into(),
            tripped_duration: "10s".into(),
            num_buckets: 10,
            enforce: true,
            rolling_window: None,
            error_threshold_percentage: None,
        }
    }
}

/// The built action, holding its breaker.
pub struct CircuitBreaker {
    enforce: bool,
    breaker: Breaker,
    config: BreakerConfig,
}

#[async_trait]
impl Action for CircuitBreaker {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        match self.breaker.admit(cx.now()) {
            Admission::Admitted(ticket) => {
                // No answer at all (`None`) counts as an error, like a 5xx. If the request is
                // never forwarded the hook is dropped with its ticket, which records nothing.
                cx.on_upstream_response(Box::new(move |status, now| {
                    ticket.record(status.is_none_or(|s| s.is_server_error()), now);
                }));
                Ok(Flow::Continue)
            }
            Admission::Rejected if !self.enforce => Ok(Flow::Continue),
            Admission::Rejected => Ok(Flow::Respond(SyntheticResponse::error(
                StatusCode::SERVICE_UNAVAILABLE,
                TRIPPED_CODE,
                "Circuit breaker tripped: the upstream is failing, so requests are not forwarded for now.",
            ))),
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} for {:?} once {:.0}% of at least {} requests in {:?} fail",
            if self.enforce {
                "rejects with 503"
            } else {
                "measures (not enforced)"
            },
            self.config.tripped,
            self.config.error_threshold * 100.0,
            self.config.volume_threshold,
            self.config.window
        )
    }
}

/// Parses a duration field and checks it is within 1s..=2m.
fn duration_field(cx: &mut BuildCx<'_>, field: &str, text: &str) -> Option<Duration> {
    use crate::limits::circuit_breaker::{MAX_DURATION, MIN_DURATION};
    match parse_duration(text) {
        Err(e) => {
            cx.error_at(Code::InvalidValue, field, e.to_string());
            None
        }
        Ok(d) if !(MIN_DURATION..=MAX_DURATION).contains(&d) => {
            cx.error_at(
                Code::OutOfRange,
                field,
                format!("must be between 1s and 2m, got {text:?}"),
            );
            None
        }
        Ok(d) => Some(d),
    }
}

/// Accepts `old`, the migration guide's spelling of `canonical`, with a warning naming
/// `canonical`; refuses a config that gives both. Returns the key to report value errors at.
fn alias(cx: &mut BuildCx<'_>, old: &'static str, canonical: &str) -> &'static str {
    let both = cx.config_node().is_some_and(|n| n.get(canonical).is_some());
    if both {
        cx.error_at(
            Code::InvalidConfig,
            old,
            format!("`{old}` is an older spelling of `{canonical}`: give only `{canonical}`"),
        );
    } else {
        cx.warn_at(
            Code::InvalidConfig,
            old,
            format!("`{old}` is an older spelling (ngrok's migration guide): write `{canonical}` instead"),
        );
    }
    old
}

impl TypedAction for CircuitBreaker {
    type Config = CircuitBreakerConfig;
    const TYPE: &'static str = "circuit-breaker";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const CONFIG_OPTIONAL: bool = true;
    const ABOUT: &'static str =
        "Rejects requests with 503 for a while when too many upstream responses are 5xx.";

    fn build(config: CircuitBreakerConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let (threshold_key, error_threshold) = match config.error_threshold_percentage {
            Some(v) => (
                alias(cx, "error_threshold_percentage", "error_threshold"),
                v,
            ),
            None => ("error_threshold", config.error_threshold),
        };
        let (window_key, window_text) = match &config.rolling_window {
            Some(v) => (alias(cx, "rolling_window", "window_duration"), v),
            None => ("window_duration", &config.window_duration),
        };
        if !(0.0..=1.0).contains(&error_threshold) {
            cx.error_at(
                Code::OutOfRange,
                threshold_key,
                format!("must be between 0.0 and 1.0, got {error_threshold}"),
            );
        }
        if !(1..=MAX_VOLUME_THRESHOLD).contains(&config.volume_threshold) {
            cx.error_at(
                Code::OutOfRange,
                "volume_threshold",
                format!(
                    "must be between 1 and {MAX_VOLUME_THRESHOLD}, got {}",
                    config.volume_threshold
                ),
            );
        }
        if !(1..=MAX_BUCKETS).contains(&config.num_buckets) {
            cx.error_at(
                Code::OutOfRange,
                "num_buckets",
                format!(
                    "must be between 1 and {MAX_BUCKETS}, got {}",
                    config.num_buckets
                ),
            );
        }
        let window = duration_field(cx, window_key, window_text);
        let tripped = duration_field(cx, "tripped_duration", &config.tripped_duration);
        let (window, tripped) = (window?, tripped?);
        if cx.failed() {
            return None;
        }
        let breaker_config = BreakerConfig {
            error_threshold,
            volume_threshold: config.volume_threshold,
            window,
            tripped,
            buckets: config.num_buckets,
        };
        match Breaker::new(breaker_config) {
            Ok(breaker) => Some(CircuitBreaker {
                enforce: config.enforce,
                breaker,
                config: breaker_config,
            }),
            Err(e) => {
                cx.error_at(Code::InvalidValue, "", e.to_string());
                None
            }
        }
    }
}
