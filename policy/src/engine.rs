//! Running a policy's phases (reference §1.4): rules in document order, all expressions must
//! hold, several rules can match, a terminating response or close ends the phase, `vars.*`
//! live for one phase, `actions.ngrok.*` are visible to later rules.

use crate::cel::{Needs, ScopeVar};
use crate::cx::{HttpCx, PhaseState, TcpCx};
use crate::event_stream::{EventStream, StreamContext};
use crate::exchange::{Connection, Exchange, Flow, RuntimeIssue, SyntheticResponse};
use crate::phase::Phase;
use crate::phase_scope::{
    bind_for_action, http_state, init_vars_and_results, refresh_http, refresh_tcp,
};
use crate::policy::Policy;
use crate::rule_eval::{Matched, Reads, fired, rule_matches, stop_connection, stop_exchange};
use crate::trace::{PhaseRecorder, Snapshot, flow_change};
use crate::values;

/// Outcome of `on_tcp_connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpVerdict {
    /// Go on with the connection.
    Continue,
    /// Close it now.
    Close,
}

/// Outcome of `on_http_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Send the (possibly modified) request upstream.
    Forward,
    /// The policy answered; `Exchange::response` holds it. Run `on_http_response` next.
    Responded,
    /// Close the client connection without a response.
    Close,
}

/// Outcome of `on_http_response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Send the (possibly modified) response.
    Send,
    /// Close the client connection instead.
    Close,
}

/// How an HTTP phase's rules ended.
enum HttpEnd {
    /// Every matching rule ran.
    Ran,
    /// The phase made a response (an action answered or failed, or the budget ran out).
    Responded,
    /// An action closes the connection.
    Closed,
}

impl Policy {
    /// Runs `on_tcp_connect` for a new connection.
    pub async fn on_tcp_connect(&self, conn: &mut Connection) -> TcpVerdict {
        let rules = self.rules(Phase::TcpConnect);
        if rules.is_empty() {
            return TcpVerdict::Continue;
        }
        let needs = self.needs_in(Phase::TcpConnect);
        let mut st = PhaseState {
            needs,
            ..PhaseState::default()
        };
        st.scope.set_shared(ScopeVar::Conn, conn.conn_value.clone());
        st.scope
            .set_shared(ScopeVar::Endpoint, conn.endpoint_value.clone());
        if needs.time {
            st.scope
                .set_val(ScopeVar::Time, values::time_value(conn.now()));
        }
        init_vars_and_results(&mut st, &conn.results);
        let mut trace = conn.trace.take();
        let mut rec = trace
            .as_deref_mut()
            .map(|t| PhaseRecorder::start(t, Phase::TcpConnect));
        let mut verdict = TcpVerdict::Continue;
        'rules: for (i, rule) in rules.iter().enumerate() {
            match rule_matches(
                rule,
                &mut st,
                Reads::Scope,
                Phase::TcpConnect,
                i,
                &mut conn.issues,
                rec.as_mut(),
            ) {
                Matched::Yes => {}
                Matched::No => continue,
                Matched::Stopped(why) => {
                    stop_connection(conn, i, rule, why, rec.as_mut());
                    verdict = TcpVerdict::Close;
                    break 'rules;
                }
            }
            conn.fired.push(fired(rule, Phase::TcpConnect, i));
            for action in &rule.actions {
                let before = rec.is_some().then(|| Snapshot::tcp(&st.vars));
                let flow = {
                    let mut cx = TcpCx {
                        conn: &mut *conn,
                        st: &mut st,
                    };
                    action.action.on_tcp_connect(&mut cx).await
                };
                refresh_tcp(&mut st, conn);
                if let (Some(r), Some(before)) = (rec.as_mut(), before) {
                    let mut changes = before.changes(None, &st.vars);
                    let (change, ends) = flow_change(&flow);
                    changes.extend(change);
                    r.action(action.type_name, changes, ends);
                }
                if let Some(why) = st.scope.budget().exhausted() {
                    stop_connection(conn, i, rule, why, rec.as_mut());
                    verdict = TcpVerdict::Close;
                    break 'rules;
                }
                match flow {
                    Ok(Flow::Continue) => {}
                    // `forward-internal` recorded the target on the connection; the host
                    // runs that endpoint's `on_tcp_connect` next.
                    Ok(Flow::Handoff) => break 'rules,
                    Ok(Flow::Respond(_) | Flow::Close) => {
                        verdict = TcpVerdict::Close;
                        break 'rules;
                    }
                    Err(e) => {
                        conn.issues.push(RuntimeIssue {
                            phase: Phase::TcpConnect,
                            rule: i,
                            message: e.message,
                        });
                        verdict = TcpVerdict::Close;
                        break 'rules;
                    }
                }
            }
        }
        conn.trace = trace;
        conn.vars = std::mem::take(&mut st.vars);
        verdict
    }

    /// Runs `on_http_request`. On [`RequestVerdict::Responded`] the exchange holds the response
    /// the policy made; the host still calls [`Policy::on_http_response`].
    pub async fn on_http_request(&self, conn: &Connection, ex: &mut Exchange) -> RequestVerdict {
        if self.rules(Phase::HttpRequest).is_empty() {
            return RequestVerdict::Forward;
        }
        match self.run_http_phase(Phase::HttpRequest, conn, ex).await {
            HttpEnd::Ran => RequestVerdict::Forward,
            HttpEnd::Responded => RequestVerdict::Responded,
            HttpEnd::Closed => RequestVerdict::Close,
        }
    }

    /// Runs `on_http_response` against the upstream's response or the one the request phase
    /// made. Actions may change it in place or replace it.
    /// A `text/event-stream` response then gets `on_event_stream_message` as a streaming
    /// transform, run before any other (so before compression).
    pub async fn on_http_response(&self, conn: &Connection, ex: &mut Exchange) -> ResponseVerdict {
        if ex.close {
            return ResponseVerdict::Close;
        }
        if ex.aborted.is_some() {
            return ResponseVerdict::Send;
        }
        // Decided on the response as it came, before this phase's actions (compress-response
        // sets a Content-Encoding that applies after the event stream was rewritten).
        let event_stream = ex
            .response
            .as_ref()
            .is_some_and(|res| is_event_stream(&res.headers));
        if !self.rules(Phase::HttpResponse).is_empty() {
            match self.run_http_phase(Phase::HttpResponse, conn, ex).await {
                // A response made in this phase replaces the one being sent.
                HttpEnd::Ran | HttpEnd::Responded => {}
                HttpEnd::Closed => return ResponseVerdict::Close,
            }
        }
        if event_stream && ex.aborted.is_none() {
            self.stream_events(conn, ex);
        }
        ResponseVerdict::Send
    }

    /// Attaches `on_event_stream_message` to a `text/event-stream` response that the upstream
    /// did not content-encode, when the policy has rules for it.
    fn stream_events(&self, conn: &Connection, ex: &mut Exchange) {
        let phase = Phase::EventStreamMessage;
        if self.rules(phase).is_empty() {
            return;
        }
        let Some(res) = &ex.response else { return };
        let needs = self.needs_in(phase);
        let req_value = if needs.req.is_empty() {
            None
        } else {
            Some(std::sync::Arc::from(values::request_val(
                ex,
                &conn.endpoint,
                needs.req,
                conn.now(),
            )))
        };
        let res_value = (!needs.res.is_empty()).then(|| {
            std::sync::Arc::from(values::response_val(res, &ex.response_trailers, needs.res))
        });
        let stream = EventStream::new(StreamContext {
            rules: self.shared_rules(phase),
            needs,
            clock: conn.clock.clone(),
            conn_info: conn.info.clone(),
            endpoint: conn.endpoint.clone(),
            conn_value: conn.conn_value.clone(),
            endpoint_value: conn.endpoint_value.clone(),
            req_value,
            res_value,
            results: ex.results.clone(),
            fired: ex.event_stream_fired.clone(),
        });
        ex.response_transforms.insert(0, Box::new(stream));
        // Messages may change length: the host sends the body chunked.
        if let Some(res) = ex.response.as_mut() {
            res.headers.remove(http::header::CONTENT_LENGTH);
        }
    }

    /// Runs the rules of an HTTP phase (`phase` is [`Phase::HttpRequest`] or
    /// [`Phase::HttpResponse`]) on `ex`: the one loop both HTTP phases share.
    async fn run_http_phase(&self, phase: Phase, conn: &Connection, ex: &mut Exchange) -> HttpEnd {
        let needs = self.http_needs(phase);
        let mut st = http_state(conn, ex, phase, needs, self.http_lazy_needs(phase));
        let mut trace = ex.trace.take();
        let mut rec = trace.as_deref_mut().map(|t| PhaseRecorder::start(t, phase));
        let mut end = HttpEnd::Ran;
        'rules: for (i, rule) in self.rules(phase).iter().enumerate() {
            refresh_http(&mut st, conn, ex);
            let mut issues = Vec::new();
            let reads = Reads::Http(conn, ex);
            let matched = rule_matches(rule, &mut st, reads, phase, i, &mut issues, rec.as_mut());
            ex.issues.append(&mut issues);
            match matched {
                Matched::Yes => {}
                Matched::No => continue,
                Matched::Stopped(why) => {
                    stop_exchange(ex, conn, phase, i, rule, why, rec.as_mut());
                    end = HttpEnd::Responded;
                    break 'rules;
                }
            }
            ex.fired.push(fired(rule, phase, i));
            for action in &rule.actions {
                refresh_http(&mut st, conn, ex);
                bind_for_action(&mut st, conn, ex, action);
                let before = rec.is_some().then(|| Snapshot::http(ex, &st.vars));
                let flow = {
                    let mut cx = HttpCx {
                        conn,
                        ex: &mut *ex,
                        st: &mut st,
                        phase,
                    };
                    if phase == Phase::HttpRequest {
                        action.action.on_http_request(&mut cx).await
                    } else {
                        action.action.on_http_response(&mut cx).await
                    }
                };
                if let (Some(r), Some(before)) = (rec.as_mut(), before) {
                    let mut changes = before.changes(Some(&*ex), &st.vars);
                    let (change, ends) = flow_change(&flow);
                    changes.extend(change);
                    r.action(action.type_name, changes, ends);
                }
                if let Some(why) = st.scope.budget().exhausted() {
                    stop_exchange(ex, conn, phase, i, rule, why, rec.as_mut());
                    end = HttpEnd::Responded;
                    break 'rules;
                }
                match flow {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Respond(resp)) => {
                        ex.set_synthetic(resp);
                        end = HttpEnd::Responded;
                        break 'rules;
                    }
                    Ok(Flow::Handoff) => break 'rules,
                    Ok(Flow::Close) => {
                        ex.close = true;
                        end = HttpEnd::Closed;
                        break 'rules;
                    }
                    Err(e) => {
                        ex.issues.push(RuntimeIssue {
                            phase,
                            rule: i,
                            message: e.message.clone(),
                        });
                        ex.set_synthetic(SyntheticResponse::error(e.status, e.code, &e.message));
                        end = HttpEnd::Responded;
                        break 'rules;
                    }
                }
            }
        }
        if phase == Phase::HttpRequest {
            // A `req` that an action changed after it was last built is not kept: the
            // response phase builds it again if it reads it.
            ex.req_value = if st.dirty.req {
                None
            } else {
                st.scope.shared(ScopeVar::Req).zip(st.req_bound)
            };
        }
        ex.trace = trace;
        ex.vars_by_phase.insert(phase, std::mem::take(&mut st.vars));
        end
    }

    /// What an HTTP phase binds: its own needs, except that `req` is built with the fields
    /// either HTTP phase reads, so the request phase's value serves the response phase too.
    /// The response phase binds `req` only if its own rules read it.
    fn http_needs(&self, phase: Phase) -> Needs {
        http_phase_needs(phase, |p| self.needs_in(p))
    }

    /// The same for the fields bound for an HTTP phase's first interpreted reader.
    fn http_lazy_needs(&self, phase: Phase) -> Needs {
        http_phase_needs(phase, |p| self.interpreted_in(p))
    }
}

/// `needs_in(phase)`, except that `req` has the fields either HTTP phase reads (when the phase
/// reads `req` at all, or is the request phase, whose `req` serves the response phase too).
fn http_phase_needs(phase: Phase, needs_in: impl Fn(Phase) -> Needs) -> Needs {
    let mut both = needs_in(Phase::HttpRequest);
    both.merge(needs_in(Phase::HttpResponse));
    let mut needs = needs_in(phase);
    if phase == Phase::HttpRequest || !needs.req.is_empty() {
        needs.req = both.req;
    }
    needs
}

/// Whether a response is an uncompressed `text/event-stream`.
fn is_event_stream(headers: &http::HeaderMap) -> bool {
    let media_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    let encoded = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    media_type.is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream")) && !encoded
}
