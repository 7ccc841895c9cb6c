//! The traffic a policy acts on: a connection, and one HTTP exchange (request, then response)
//! as plain `http` values, plus what actions hand back to the host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use cel::Value;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::internal::InternalRouting;
use crate::phase::Phase;

pub use crate::connection::{Clock, ConnInfo, Connection, EndpointInfo, SystemClock, TlsInfo};

/// Header carrying the error code of responses the edge makes itself.
pub const ERROR_CODE_HEADER: &str = "sluice-error-code";

/// One `log` action's output, attached to the request's or connection's event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Phase it ran in.
    pub phase: Phase,
    /// The metadata, interpolated.
    pub metadata: serde_json::Value,
}

/// A rule that matched and ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredRule {
    /// Phase.
    pub phase: Phase,
    /// Index in the phase.
    pub index: usize,
    /// Its name, if it has one.
    pub name: Option<String>,
}

/// A failure while evaluating an expression or action at request time. Evaluation goes on
/// (a failing expression counts as false); these are reported for debugging.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeIssue {
    /// Phase.
    pub phase: Phase,
    /// Rule index.
    pub rule: usize,
    /// What happened.
    pub message: String,
}

/// A streaming rewrite of a body, fed chunk by chunk in order.
pub trait BodyTransform: Send {
    /// Feeds the next chunk (possibly empty). `end` is true on the last call.
    /// Returns the bytes to emit now (possibly empty).
    fn transform(&mut self, chunk: Bytes, end: bool) -> Result<Bytes, BodyError>;
}

/// A body could not be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than an action may buffer.
    #[error("body exceeds the {limit}-byte limit for buffering")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading or rewriting failed.
    #[error("{0}")]
    Failed(String),
}

/// Lets an action read the whole request body (bounded) before the request is forwarded.
/// The host keeps the bytes read and forwards them.
#[async_trait]
pub trait RequestBodySource: Send {
    /// Reads the rest of the body, failing past `limit` bytes.
    async fn buffer(&mut self, limit: usize) -> Result<Bytes, BodyError>;
}

/// A request body already in memory.
#[derive(Debug, Default, Clone)]
pub struct BufferedBody(pub Bytes);

#[async_trait]
impl RequestBodySource for BufferedBody {
    async fn buffer(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        if self.0.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        Ok(self.0.clone())
    }
}

/// A response an action makes instead of (or over) the upstream's.
#[derive(Debug, Clone)]
pub struct SyntheticResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl SyntheticResponse {
    /// A response with no body.
    pub fn empty(status: StatusCode) -> Self {
        SyntheticResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// An error response carrying `sluice-error-code` and a short text body.
    pub fn error(status: StatusCode, code: u16, message: &str) -> Self {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("ERR_SLUICE_{code}")) {
            headers.insert(ERROR_CODE_HEADER, v);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        SyntheticResponse {
            status,
            headers,
            body: Bytes::from(format!("{message}\n\nERR_SLUICE_{code}\n")),
        }
    }
}

/// What an action tells the engine to do next.
#[derive(Debug)]
pub enum Flow {
    /// Go on with the next action.
    Continue,
    /// Answer with this response and end the phase.
    Respond(SyntheticResponse),
    /// Close the client connection and end the phase.
    Close,
    /// End the phase and hand the request to the internal endpoint the action recorded with
    /// [`crate::HttpCx::forward_internal`]; the host runs that endpoint's policy next.
    Handoff,
}

/// An action failed at request time; the engine answers with `status` and the error code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// HTTP status to answer with.
    pub status: StatusCode,
    /// Error code (printed as `ERR_SLUICE_<code>`).
    pub code: u16,
    /// Message.
    pub message: String,
}

impl ActionError {
    /// An internal failure (500, code 2300).
    pub fn internal(message: impl Into<String>) -> Self {
        ActionError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: 2300,
            message: message.into(),
        }
    }

    /// A failed `${…}` interpolation (500, code 3900).
    pub fn interpolation(action: &str, field: &str, err: impl std::fmt::Display) -> Self {
        ActionError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: 3900,
            message: format!("CEL interpolation failed in action {action} field {field}: {err}"),
        }
    }
}

/// What a login action (`oauth`, `openid-connect`) decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginDecision {
    /// A valid session: the request went on with the user's identity.
    Allow,
    /// No valid session (or `/ngrok/login`): the browser was sent to the identity provider.
    Redirect,
    /// The provider's callback succeeded: the session was set.
    Login,
    /// `/ngrok/logout`: the session was cleared.
    Logout,
    /// A step failed (bad state, refused code, invalid ID token…): answered with an error.
    Deny,
}

impl LoginDecision {
    /// The name events use.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginDecision::Allow => "allow",
            LoginDecision::Redirect => "redirect",
            LoginDecision::Login => "login",
            LoginDecision::Logout => "logout",
            LoginDecision::Deny => "deny",
        }
    }
}

/// What a login action recorded for the request's `http_request_complete.v0` event: ngrok's
/// `oauth.app_client_id`, `oauth.decision`, `oauth.user.id` and `oauth.user.name`. Never
/// tokens or cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    /// The client id of the app at the identity provider.
    pub app_client_id: String,
    /// What the action decided.
    pub decision: LoginDecision,
    /// The user's id at the provider (empty when no user is known).
    pub user_id: String,
    /// The user's name (empty when unknown).
    pub user_name: String,
}

/// A callback run when the upstream answers (with its status) or fails (with `None`).
pub type UpstreamHook = Box<dyn FnOnce(Option<StatusCode>, SystemTime) + Send>;

/// One HTTP request and its response as the policy sees them.
pub struct Exchange {
    /// The request head; request-phase actions may change it before it is forwarded.
    pub request: http::request::Parts,
    /// The response head, once there is one.
    pub response: Option<http::response::Parts>,
    /// The request's trailers (`req.trailers`), when the host has them before a phase runs:
    /// a request read whole, with its trailers, as the in-process harness has it. Empty
    /// otherwise.
    pub request_trailers: HeaderMap,
    /// The response's trailers (`res.trailers`), when the host has them before the response
    /// phase runs. Empty otherwise.
    pub response_trailers: HeaderMap,
    /// A body that replaces the upstream's (set when an action made the response).
    pub response_body: Option<Bytes>,
    /// Whether the response was made by the policy rather than the upstream.
    pub synthetic: bool,
    /// Whether the policy asked to close the connection.
    pub close: bool,
    /// Transforms for the request body, in order.
    pub request_transforms: Vec<Box<dyn BodyTransform>>,
    /// Transforms for the response body, in order.
    pub response_transforms: Vec<Box<dyn BodyTransform>>,
    /// Callbacks for when the upstream answers.
    pub upstream_hooks: Vec<UpstreamHook>,
    /// Headers request-phase actions add to whatever response the client gets (e.g. a
    /// refreshed session cookie): appended when the upstream answers or the policy responds.
    pub response_headers: Vec<(http::HeaderName, HeaderValue)>,
    /// Output of `log` actions.
    pub logs: Vec<LogEntry>,
    /// What a login action decided, for the event (the last one wins).
    pub login: Option<LoginRecord>,
    /// Rules that fired, in order.
    pub fired: Vec<FiredRule>,
    /// The `on_event_stream_message` rules that fired for at least one message (by index),
    /// filled while the response streams; read by the harness for `fired` and coverage.
    pub event_stream_fired: crate::event_stream::FiredSet,
    /// Runtime problems met while evaluating.
    pub issues: Vec<RuntimeIssue>,
    /// `vars.*` at the end of each phase (for tests and `explain`).
    pub vars_by_phase: BTreeMap<Phase, BTreeMap<String, Value>>,
    pub(crate) results: BTreeMap<String, Value>,
    pub(crate) body: Box<dyn RequestBodySource>,
    /// Set when the evaluation budget stopped a phase: the exchange was answered 500
    /// `ERR_SLUICE_2254` and no further rule runs for it.
    pub aborted: Option<crate::abort::PolicyAbort>,
    /// `req.*` as the request phase left it (reused by the response phase).
    pub(crate) req_value: Option<(Arc<dyn cel::common::value::Val>, crate::cel::FieldSet)>,
    /// The internal endpoints this request may be forwarded to, set by the host; `None`
    /// when there are none (the in-process harness), so `forward-internal` finds no target.
    pub internal: Option<InternalRouting>,
    /// The internal endpoint `forward-internal` handed the request to, as
    /// [`crate::internal::internal_url`] spells it.
    pub(crate) forward_to: Option<String>,
    /// The policy trace of this request's HTTP phases: recorded only when the host sets it to
    /// `Some` before running them (inspection on); `None` costs nothing.
    pub trace: Option<Box<crate::trace::PolicyTrace>>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("request", &self.request)
            .field("response", &self.response)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// Starts an exchange for a request whose body the host can buffer on demand.
    pub fn new(request: http::request::Parts, body: Box<dyn RequestBodySource>) -> Self {
        Exchange {
            request,
            response: None,
            request_trailers: HeaderMap::new(),
            response_trailers: HeaderMap::new(),
            response_body: None,
            synthetic: false,
            close: false,
            request_transforms: Vec::new(),
            response_transforms: Vec::new(),
            upstream_hooks: Vec::new(),
            response_headers: Vec::new(),
            logs: Vec::new(),
            login: None,
            fired: Vec::new(),
            event_stream_fired: Default::default(),
            issues: Vec::new(),
            vars_by_phase: BTreeMap::new(),
            results: BTreeMap::new(),
            body,
            aborted: None,
            req_value: None,
            internal: None,
            forward_to: None,
            trace: None,
        }
    }

    /// The internal endpoint the request phase handed the request to, if it did.
    pub fn forward_target(&self) -> Option<&str> {
        self.forward_to.as_deref()
    }

    /// Records the upstream's response head and runs the upstream hooks.
    pub fn upstream_responded(&mut self, mut response: http::response::Parts, now: SystemTime) {
        let status = response.status;
        for (name, value) in self.response_headers.drain(..) {
            response.headers.append(name, value);
        }
        self.response = Some(response);
        for hook in self.upstream_hooks.drain(..) {
            hook(Some(status), now);
        }
    }

    /// Records that the upstream could not be reached and runs the upstream hooks.
    pub fn upstream_failed(&mut self, now: SystemTime) {
        for hook in self.upstream_hooks.drain(..) {
            hook(None, now);
        }
    }

    /// Installs a response made by the policy (or by the host, e.g. an error page).
    pub fn set_synthetic(&mut self, response: SyntheticResponse) {
        let mut builder = http::Response::builder().status(response.status);
        if let Some(h) = builder.headers_mut() {
            *h = response.headers;
            for (name, value) in self.response_headers.drain(..) {
                h.append(name, value);
            }
        }
        let (parts, ()) = builder
            .body(())
            .unwrap_or_else(|_| http::Response::new(()))
            .into_parts();
        self.response = Some(parts);
        self.response_body = Some(response.body);
        self.synthetic = true;
        // Transforms were planned for an upstream body that will not come.
        self.response_transforms.clear();
    }

    /// The `actions.ngrok.*` result variables set so far.
    pub fn results(&self) -> &BTreeMap<String, Value> {
        &self.results
    }
}
