//! What an action can see and change while it runs: [`HttpCx`] in the HTTP phases,
//! [`TcpCx`] in `on_tcp_connect`, and [`PhaseCx`] for what both share.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use cel::Value;

use crate::cel::{FieldSet, Needs, Scope, ScopeVar};
use crate::exchange::{
    BodyError, BodyTransform, ConnInfo, Connection, EndpointInfo, Exchange, LogEntry, LoginRecord,
    UpstreamHook,
};
use crate::internal::InternalRouting;
use crate::phase::Phase;

/// Which scope variables an action changed, so the engine refreshes only those.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Dirty {
    pub req: bool,
    pub res: bool,
    pub actions: bool,
    /// `conn.*` changed (a handshake filled `conn.tls`).
    pub conn: bool,
}

/// Per-phase evaluation state.
#[derive(Default)]
pub(crate) struct PhaseState {
    pub scope: Scope,
    pub vars: BTreeMap<String, Value>,
    pub dirty: Dirty,
    /// What the policy reads: scope variables nobody reads are not built.
    pub needs: Needs,
    /// The `req`/`res` fields bound for the first interpreted reader of an HTTP phase (what
    /// its expressions and actions read, less what the fast path reads itself).
    pub lazy: Needs,
    /// The fields `req` is bound with (`None`: not bound yet, or stale after a change).
    pub req_bound: Option<FieldSet>,
    /// The same for `res`.
    pub res_bound: Option<FieldSet>,
}

impl PhaseState {
    /// Sets a variable, visible at once (a later entry of the same `set-vars` reads it).
    pub(crate) fn set_var(&mut self, name: &str, value: Value) {
        self.vars.insert(name.to_string(), value);
        if self.needs.vars {
            self.scope
                .set(ScopeVar::Vars, crate::values::vars_value(&self.vars));
        }
    }
}

/// What every phase offers an action.
pub trait PhaseCx {
    /// The phase running.
    fn phase(&self) -> Phase;
    /// Variables for evaluating templates and expressions.
    fn scope(&self) -> &Scope;
    /// The current time (virtual in tests).
    fn now(&self) -> SystemTime;
    /// The connection.
    fn conn(&self) -> &ConnInfo;
    /// The endpoint.
    fn endpoint(&self) -> &EndpointInfo;
    /// Sets `vars.<name>` for the rest of this phase.
    fn set_var(&mut self, name: &str, value: Value);
    /// Sets `actions.ngrok.<action>` (replacing the previous run's value).
    fn set_result(&mut self, action: &str, value: Value);
    /// Attaches metadata to the request's (or connection's) event.
    fn log(&mut self, metadata: serde_json::Value);
}

/// Context of an action in `on_http_request` / `on_http_response`.
pub struct HttpCx<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) ex: &'a mut Exchange,
    pub(crate) st: &'a mut PhaseState,
    pub(crate) phase: Phase,
}

impl HttpCx<'_> {
    /// The request head.
    pub fn request(&self) -> &http::request::Parts {
        &self.ex.request
    }

    /// The request head, to change it before it is forwarded.
    pub fn request_mut(&mut self) -> &mut http::request::Parts {
        self.st.dirty.req = true;
        &mut self.ex.request
    }

    /// The response head (response phase).
    pub fn response(&self) -> Option<&http::response::Parts> {
        self.ex.response.as_ref()
    }

    /// The response head, to change it (response phase).
    pub fn response_mut(&mut self) -> Option<&mut http::response::Parts> {
        self.st.dirty.res = true;
        self.ex.response.as_mut()
    }

    /// The body replacing the upstream's, if any.
    pub fn response_body(&self) -> Option<&Bytes> {
        self.ex.response_body.as_ref()
    }

    /// Whether the response was made by the policy.
    pub fn response_is_synthetic(&self) -> bool {
        self.ex.synthetic
    }

    /// Replaces a policy-made response body.
    pub fn set_response_body(&mut self, body: Bytes) {
        self.ex.response_body = Some(body);
    }

    /// Reads the whole request body (up to `limit` bytes); it is still forwarded afterwards.
    pub async fn read_request_body(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        self.ex.body.buffer(limit).await
    }

    /// Adds a streaming rewrite of the request body.
    pub fn add_request_transform(&mut self, t: Box<dyn BodyTransform>) {
        self.ex.request_transforms.push(t);
    }

    /// Adds a streaming rewrite of the response body.
    pub fn add_response_transform(&mut self, t: Box<dyn BodyTransform>) {
        self.ex.response_transforms.push(t);
    }

    /// Adds a header to the response the client will get, whoever makes it (the upstream or a
    /// later action); e.g. a `set-cookie` refreshing a session.
    pub fn add_response_header(&mut self, name: http::HeaderName, value: http::HeaderValue) {
        self.ex.response_headers.push((name, value));
    }

    /// Records what a login action decided, for the request's event (see [`LoginRecord`]).
    pub fn record_login(&mut self, record: LoginRecord) {
        self.ex.login = Some(record);
    }

    /// Runs `hook` when the upstream answers or fails.
    pub fn on_upstream_response(&mut self, hook: UpstreamHook) {
        self.ex.upstream_hooks.push(hook);
    }

    /// The internal endpoints this request may be forwarded to (none in the harness).
    pub fn internal_routing(&self) -> Option<&InternalRouting> {
        self.ex.internal.as_ref()
    }

    /// Hands the request to the internal endpoint `url` (canonical, see
    /// [`crate::internal::internal_url`]); the action then returns [`crate::Flow::Handoff`].
    pub fn forward_internal(&mut self, url: String) {
        self.ex.forward_to = Some(url);
    }

    /// The whole exchange, read-only.
    pub fn exchange(&self) -> &Exchange {
        self.ex
    }

    /// The connection's clock, for work the action starts on the request's behalf.
    pub fn clock(&self) -> Arc<dyn crate::Clock> {
        self.conn.clock()
    }
}

impl PhaseCx for HttpCx<'_> {
    fn phase(&self) -> Phase {
        self.phase
    }
    fn scope(&self) -> &Scope {
        &self.st.scope
    }
    fn now(&self) -> SystemTime {
        self.conn.now()
    }
    fn conn(&self) -> &ConnInfo {
        &self.conn.info
    }
    fn endpoint(&self) -> &EndpointInfo {
        &self.conn.endpoint
    }
    fn set_var(&mut self, name: &str, value: Value) {
        self.st.set_var(name, value);
    }
    fn set_result(&mut self, action: &str, value: Value) {
        self.ex.results.insert(action.to_string(), value);
        self.st.dirty.actions = true;
    }
    fn log(&mut self, metadata: serde_json::Value) {
        self.ex.logs.push(LogEntry {
            phase: self.phase,
            metadata,
        });
    }
}

/// Context of an action in `on_tcp_connect`.
pub struct TcpCx<'a> {
    pub(crate) conn: &'a mut Connection,
    pub(crate) st: &'a mut PhaseState,
}

impl TcpCx<'_> {
    /// Asks the listener to terminate the client's TLS with `options`. When the host offers
    /// its handshake ([`Connection::handshake`]) it happens now and its facts fill `conn.tls`
    /// for the rules that follow (the first call handshakes; later ones change nothing);
    /// otherwise the options are recorded for after the phase (the last call wins). `Err`:
    /// the handshake failed.
    pub async fn terminate_tls(
        &mut self,
        options: Arc<crate::TlsTermination>,
    ) -> Result<Option<&crate::TlsInfo>, String> {
        if self.conn.tls_handshaken {
            return Ok(self.conn.info.tls.as_ref());
        }
        self.conn.tls_termination = Some(options.clone());
        let Some(handshake) = self.conn.handshake.take() else {
            return Ok(None);
        };
        let tls = handshake.handshake(options).await?;
        self.conn.tls_handshaken = true;
        self.conn.set_tls(tls);
        self.st.dirty.conn = true;
        Ok(self.conn.info.tls.as_ref())
    }

    /// The internal endpoints this connection may be handed to (none in the harness).
    pub fn internal_routing(&self) -> Option<&InternalRouting> {
        self.conn.internal.as_ref()
    }

    /// Hands the connection to the internal endpoint `url` (canonical, see
    /// [`crate::internal::internal_url`]); the action then returns [`crate::Flow::Handoff`]
    /// and the host runs that endpoint's `on_tcp_connect` next.
    pub fn forward_internal(&mut self, url: String) {
        self.conn.forward_to = Some(url);
    }
}

impl PhaseCx for TcpCx<'_> {
    fn phase(&self) -> Phase {
        Phase::TcpConnect
    }
    fn scope(&self) -> &Scope {
        &self.st.scope
    }
    fn now(&self) -> SystemTime {
        self.conn.now()
    }
    fn conn(&self) -> &ConnInfo {
        &self.conn.info
    }
    fn endpoint(&self) -> &EndpointInfo {
        &self.conn.endpoint
    }
    fn set_var(&mut self, name: &str, value: Value) {
        self.st.set_var(name, value);
    }
    fn set_result(&mut self, action: &str, value: Value) {
        self.conn.results.insert(action.to_string(), value);
        self.st.dirty.actions = true;
    }
    fn log(&mut self, metadata: serde_json::Value) {
        self.conn.logs.push(LogEntry {
            phase: Phase::TcpConnect,
            metadata,
        });
    }
}
