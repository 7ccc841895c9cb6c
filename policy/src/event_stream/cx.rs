//! [`EventCx`]: what an action sees in `on_event_stream_message`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use cel::Value;

use crate::cel::Scope;
use crate::cx::{PhaseCx, PhaseState};
use crate::exchange::{ConnInfo, EndpointInfo};
use crate::phase::Phase;

use super::parse::SseMessage;
use super::run::StreamContext;

/// Context of an action in `on_event_stream_message`: one Server-Sent Events message, which
/// the action may change before it is sent.
pub struct EventCx<'a> {
    pub(crate) message: &'a mut SseMessage,
    pub(crate) st: &'a mut PhaseState,
    pub(crate) results: &'a mut BTreeMap<String, Value>,
    pub(crate) stream: &'a StreamContext,
}

impl EventCx<'_> {
    /// The message.
    pub fn message(&self) -> &SseMessage {
        self.message
    }

    /// The message, to change it.
    pub fn message_mut(&mut self) -> &mut SseMessage {
        self.message
    }
}

impl PhaseCx for EventCx<'_> {
    fn phase(&self) -> Phase {
        Phase::EventStreamMessage
    }
    fn scope(&self) -> &Scope {
        &self.st.scope
    }
    fn now(&self) -> SystemTime {
        self.stream.clock.now()
    }
    fn conn(&self) -> &ConnInfo {
        &self.stream.conn_info
    }
    fn endpoint(&self) -> &EndpointInfo {
        &self.stream.endpoint
    }
    fn set_var(&mut self, name: &str, value: Value) {
        self.st.set_var(name, value);
    }
    fn set_result(&mut self, action: &str, value: Value) {
        self.results.insert(action.to_string(), value);
        self.st.dirty.actions = true;
    }
    /// The response's event has been written by the time messages stream: metadata goes to
    /// the edge's log instead.
    fn log(&mut self, metadata: serde_json::Value) {
        tracing::info!(%metadata, "on_event_stream_message log");
    }
}
