//! `forward-internal`: hands the request to an internal endpoint (`https://api.internal`) of
//! the same owner. The action only picks and checks the target; the host (the edge) then runs
//! the target's policy and forwards the request in-process, so `Host` stays the public one.
//! In `on_tcp_connect` (TCP and TLS endpoints) it hands the whole connection over the same
//! way: `tcp://` to `tcp://…internal:PORT`, `tls://` to `tls://…internal`; a halting failure
//! closes the connection (the codes are in the result variables either way).
//!
//! Failures, answered with `on_error: halt` (the default) or recorded as
//! `actions.ngrok.forward_internal.{url,error.code,error.message}` with `continue`:
//! 3200 target offline or missing (404), 3501 hop limit (508), 3603 loop (508), 2300 a URL
//! that names no internal endpoint of this protocol (500).

use async_trait::async_trait;
use http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, InternalRouting, MAX_FORWARD_ENDPOINTS,
    Phase, PhaseCx, Protocol, SyntheticResponse, TcpCx, Termination, TypedAction, internal_url,
};

/// What to do when the target cannot be reached.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Answer with the error (default).
    #[default]
    Halt,
    /// Record the error in `actions.ngrok.forward_internal` and go on with the next action.
    Continue,
}

/// Config of `forward-internal`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardInternalConfig {
    /// The internal endpoint's URL (`https://api.internal`); `${…}` allowed.
    pub url: String,
    /// `halt` (default) or `continue`.
    #[serde(default)]
    pub on_error: OnError,
}

/// The built action.
pub struct ForwardInternal {
    url: Template,
    on_error: OnError,
}

/// Why the request could not be handed over.
struct Failure {
    status: StatusCode,
    code: u16,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: u16, message: String) -> Self {
        Failure {
            status,
            code,
            message,
        }
    }
}

/// Whether an endpoint of `protocol` may forward to a target URL of `scheme`: HTTP(S) to
/// HTTP(S), TCP to TCP, TLS to TLS (ngrok: same protocol).
fn same_protocol(protocol: Protocol, target: &str) -> bool {
    match protocol {
        Protocol::Http | Protocol::Https => {
            target.starts_with("http://") || target.starts_with("https://")
        }
        Protocol::Tcp => target.starts_with("tcp://"),
        Protocol::Tls => target.starts_with("tls://"),
    }
}

/// The target's canonical URL for an endpoint of `protocol` that went through `routing`, once
/// it is known to be online and not yet visited.
fn target(
    protocol: Protocol,
    routing: Option<&InternalRouting>,
    raw: &str,
) -> Result<String, Failure> {
    let url = internal_url(raw)
        .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, 2300, e.to_string()))?;
    if !same_protocol(protocol, &url) {
        return Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            2300,
            format!(
                "{url} is not of this endpoint's protocol ({})",
                protocol.as_str()
            ),
        ));
    }
    let Some(routing) = routing else {
        return Err(offline(&url));
    };
    if routing.visited.contains(&url) {
        return Err(Failure::new(
            StatusCode::LOOP_DETECTED,
            3603,
            format!(
                "forward-internal loop: {url} was already visited ({} -> {url})",
                routing.visited.join(" -> ")
            ),
        ));
    }
    if routing.visited.len() >= MAX_FORWARD_ENDPOINTS {
        return Err(Failure::new(
            StatusCode::LOOP_DETECTED,
            3501,
            format!(
                "a request may only forward through {MAX_FORWARD_ENDPOINTS} endpoints; \
                 not forwarding to {url}"
            ),
        ));
    }
    if !routing.endpoints.is_online(&url) {
        return Err(offline(&url));
    }
    Ok(url)
}

impl ForwardInternal {
    /// The target URL as this evaluation renders it.
    fn render(&self, cx: &dyn PhaseCx) -> Result<String, ActionError> {
        self.url
            .render(cx.scope())
            .map_err(|e| ActionError::interpolation(Self::TYPE, "url", e))
    }

    /// Records a failure in `actions.ngrok.forward_internal`.
    fn record(cx: &mut dyn PhaseCx, raw: String, failure: &Failure) {
        cx.set_result(
            "forward_internal",
            map([
                ("url", string(raw)),
                (
                    "error",
                    map([
                        ("code", string(format!("ERR_SLUICE_{}", failure.code))),
                        ("message", string(failure.message.clone())),
                    ]),
                ),
            ]),
        );
    }
}

fn offline(url: &str) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        3200,
        format!("The endpoint {url} is offline."),
    )
}

#[async_trait]
impl Action for ForwardInternal {
    async fn on_tcp_connect(&self, cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        let raw = self.render(cx)?;
        match target(cx.endpoint().protocol, cx.internal_routing(), &raw) {
            Ok(url) => {
                cx.forward_internal(url);
                Ok(Flow::Handoff)
            }
            Err(failure) => {
                Self::record(cx, raw, &failure);
                Ok(match self.on_error {
                    OnError::Halt => Flow::Close,
                    OnError::Continue => Flow::Continue,
                })
            }
        }
    }

    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let raw = self.render(cx)?;
        let failure = match target(cx.endpoint().protocol, cx.internal_routing(), &raw) {
            Ok(url) => {
                cx.forward_internal(url);
                return Ok(Flow::Handoff);
            }
            Err(f) => f,
        };
        match self.on_error {
            OnError::Halt => Ok(Flow::Respond(SyntheticResponse::error(
                failure.status,
                failure.code,
                &failure.message,
            ))),
            OnError::Continue => {
                Self::record(cx, raw, &failure);
                Ok(Flow::Continue)
            }
        }
    }

    fn summary(&self) -> String {
        let on_error = match self.on_error {
            OnError::Halt => "",
            OnError::Continue => " (on error: continue)",
        };
        format!("to {}{on_error}", self.url.source())
    }
}

impl TypedAction for ForwardInternal {
    type Config = ForwardInternalConfig;
    const TYPE: &'static str = "forward-internal";
    const PHASES: &'static [Phase] = &[Phase::TcpConnect, Phase::HttpRequest];
    // It ends the phase on success and on a halting failure; with `on_error: continue` a
    // failure lets the rule go on, so actions after it stay reachable.
    const TERMINATION: Termination = Termination::WhenRejecting;
    const ABOUT: &'static str = "Hands the request (or, in on_tcp_connect, the connection) to an \
        internal endpoint (.internal) of the same owner and protocol, in-process.";

    fn build(config: ForwardInternalConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let url = cx.template("url", &config.url);
        if let Some(u) = url.as_ref().and_then(|t| t.as_static())
            && let Err(e) = internal_url(u)
        {
            cx.error_at(Code::InvalidValue, "url", e.to_string());
        }
        if cx.failed() {
            return None;
        }
        Some(ForwardInternal {
            url: url?,
            on_error: config.on_error,
        })
    }
}
