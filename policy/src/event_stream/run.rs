//! Running `on_event_stream_message` once per message of a `text/event-stream` response, as
//! a streaming body transform: each message goes out as soon as its rules ran, so nothing is
//! held back until the stream ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use cel::Value;
use cel::common::value::Val;

use crate::cel::{Needs, ScopeVar};
use crate::cx::PhaseState;
use crate::exchange::{BodyError, BodyTransform, Clock, ConnInfo, EndpointInfo, Flow};
use crate::phase::Phase;
use crate::policy::Rule;
use crate::rule_eval::{Matched, Reads, rule_matches};
use crate::values;

use super::cx::EventCx;
use super::parse::{Piece, SseMessage, SseSplitter};

/// The indexes of the phase's rules that fired for some message of a stream (a set, so a
/// long stream does not grow it).
pub type FiredSet = Arc<std::sync::Mutex<std::collections::BTreeSet<usize>>>;

/// The largest message held to run the phase on; a longer one is passed through unchanged.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// What the phase's expressions and actions see besides the message, fixed when the
/// response started.
pub(crate) struct StreamContext {
    pub rules: Arc<Vec<Rule>>,
    pub needs: Needs,
    pub clock: Arc<dyn Clock>,
    pub conn_info: ConnInfo,
    pub endpoint: Arc<EndpointInfo>,
    pub conn_value: Arc<dyn Val>,
    pub endpoint_value: Arc<dyn Val>,
    pub req_value: Option<Arc<dyn Val>>,
    pub res_value: Option<Arc<dyn Val>>,
    /// `actions.ngrok.*` as the response phase left them.
    pub results: BTreeMap<String, Value>,
    /// Where fired rules are recorded.
    pub fired: FiredSet,
}

/// The body transform that runs the phase per message.
pub(crate) struct EventStream {
    cx: StreamContext,
    splitter: SseSplitter,
}

impl EventStream {
    pub(crate) fn new(cx: StreamContext) -> Self {
        EventStream {
            cx,
            splitter: SseSplitter::new(MAX_MESSAGE_BYTES),
        }
    }

    /// Runs the phase's rules on one message.
    fn run(&self, message: &mut SseMessage) {
        let cx = &self.cx;
        let mut st = PhaseState {
            needs: cx.needs,
            ..PhaseState::default()
        };
        st.scope.set_shared(ScopeVar::Conn, cx.conn_value.clone());
        st.scope
            .set_shared(ScopeVar::Endpoint, cx.endpoint_value.clone());
        if let Some(req) = &cx.req_value {
            st.scope.set_shared(ScopeVar::Req, req.clone());
        }
        if let Some(res) = &cx.res_value {
            st.scope.set_shared(ScopeVar::Res, res.clone());
        }
        if cx.needs.time {
            st.scope
                .set_val(ScopeVar::Time, values::time_value(cx.clock.now()));
        }
        let mut results = cx.results.clone();
        if cx.needs.vars {
            st.scope.set(ScopeVar::Vars, values::vars_value(&st.vars));
        }
        if cx.needs.actions {
            st.scope
                .set(ScopeVar::Actions, values::actions_value(&results));
        }
        let mut issues = Vec::new();
        'rules: for (i, rule) in cx.rules.iter().enumerate() {
            if std::mem::take(&mut st.dirty.actions) && cx.needs.actions {
                st.scope
                    .set(ScopeVar::Actions, values::actions_value(&results));
            }
            match rule_matches(
                rule,
                &mut st,
                Reads::Scope,
                Phase::EventStreamMessage,
                i,
                &mut issues,
                None,
            ) {
                Matched::Yes => {
                    cx.fired.lock().unwrap_or_else(|p| p.into_inner()).insert(i);
                }
                Matched::No => continue,
                Matched::Stopped(why) => {
                    tracing::debug!(rule = i, ?why, "on_event_stream_message stopped: budget");
                    break 'rules;
                }
            }
            for action in &rule.actions {
                let flow = {
                    let mut acx = EventCx {
                        message: &mut *message,
                        st: &mut st,
                        results: &mut results,
                        stream: cx,
                    };
                    action.action.on_event_stream_message(&mut acx)
                };
                if st.scope.budget().exhausted().is_some() {
                    break 'rules;
                }
                match flow {
                    Ok(Flow::Continue) => {}
                    Ok(_) => break 'rules,
                    Err(e) => {
                        tracing::warn!(
                            rule = i,
                            action = action.type_name,
                            error = %e.message,
                            "on_event_stream_message action failed; the message is sent as it is"
                        );
                        break 'rules;
                    }
                }
            }
        }
        for issue in issues {
            tracing::debug!(rule = issue.rule, message = %issue.message, "on_event_stream_message");
        }
    }
}

impl BodyTransform for EventStream {
    fn transform(&mut self, chunk: Bytes, end: bool) -> Result<Bytes, BodyError> {
        let pieces = self.splitter.feed(&chunk, end);
        let mut out = BytesMut::new();
        for piece in pieces {
            match piece {
                Piece::Raw(bytes) => out.extend_from_slice(&bytes),
                Piece::Message(mut message) => {
                    self.run(&mut message);
                    out.extend_from_slice(&message.to_bytes());
                }
            }
        }
        Ok(out.freeze())
    }
}
