//! Recording the policy trace (see [`sluice_wire::trace`]) while the engine runs a phase.
//!
//! Tracing is asked for per request by setting [`crate::Exchange::trace`] (and per connection
//! [`crate::Connection::trace`]) to `Some`. When it is `None` the engine never builds a
//! [`PhaseRecorder`], so nothing here runs: no snapshot, no allocation, no formatting.
//! What an action changed is found by comparing a [`Snapshot`] of the exchange taken before it
//! ran with the exchange after, so every action (custom ones included) is described without
//! telling the engine anything itself.

use std::collections::BTreeMap;

use cel::Value;
use http::HeaderMap;

pub use sluice_wire::trace::{
    ActionTrace, Change, ExprResult, ExprTrace, MAX_TRACE_ENTRIES, PhaseTrace, PolicyTrace,
    RuleTrace, Side, clip,
};

use crate::exchange::{ActionError, Exchange, Flow};
use crate::phase::Phase;
use crate::policy::Rule;

/// Records one phase into a trace, within the trace's bounds.
pub(crate) struct PhaseRecorder<'a> {
    trace: &'a mut PolicyTrace,
    /// Entries recorded so far in the whole trace.
    entries: usize,
    /// Whether the current rule's entry was kept (false once the bound is reached).
    in_rule: bool,
}

impl<'a> PhaseRecorder<'a> {
    /// Starts recording `phase` at the end of `trace`.
    pub(crate) fn start(trace: &'a mut PolicyTrace, phase: Phase) -> Self {
        let entries = count_entries(trace);
        trace.phases.push(PhaseTrace {
            phase: phase.key().to_string(),
            rules: Vec::new(),
        });
        PhaseRecorder {
            trace,
            entries,
            in_rule: false,
        }
    }

    /// Takes one more entry from the bound; `false` (and the trace marked truncated) when full.
    fn take(&mut self) -> bool {
        if self.entries >= MAX_TRACE_ENTRIES {
            self.trace.truncated = true;
            return false;
        }
        self.entries += 1;
        true
    }

    fn clip_text(&mut self, s: &str) -> String {
        let (text, cut) = clip(s);
        self.trace.truncated |= cut;
        text
    }

    fn rule_mut(&mut self) -> Option<&mut RuleTrace> {
        if !self.in_rule {
            return None;
        }
        self.trace
            .phases
            .last_mut()
            .and_then(|p| p.rules.last_mut())
    }

    /// A rule starts being evaluated.
    pub(crate) fn rule(&mut self, index: usize, rule: &Rule) {
        self.in_rule = self.take();
        if !self.in_rule {
            return;
        }
        let name = match &rule.name {
            Some(n) => self.clip_text(n),
            None => format!("rule #{index}"),
        };
        if let Some(phase) = self.trace.phases.last_mut() {
            phase.rules.push(RuleTrace {
                index,
                name,
                expressions: Vec::new(),
                matched: false,
                actions: Vec::new(),
            });
        }
    }

    /// One of the current rule's expressions gave `result`.
    pub(crate) fn expr(&mut self, source: &str, result: Result<bool, &str>) {
        if !self.in_rule || !self.take() {
            return;
        }
        let expr = self.clip_text(source);
        let result = match result {
            Ok(b) => ExprResult::Bool(b),
            Err(message) => ExprResult::Error(self.clip_text(message)),
        };
        if let Some(rule) = self.rule_mut() {
            rule.expressions.push(ExprTrace { expr, result });
        }
    }

    /// The current rule matched: its actions run.
    pub(crate) fn matched(&mut self) {
        if let Some(rule) = self.rule_mut() {
            rule.matched = true;
        }
    }

    /// An action of the current rule ran and made `changes`.
    pub(crate) fn action(&mut self, action_type: &str, changes: Vec<Change>, terminated: bool) {
        if !self.in_rule || !self.take() {
            return;
        }
        let room = MAX_TRACE_ENTRIES.saturating_sub(self.entries);
        let mut changes = changes;
        if changes.len() > room {
            changes.truncate(room);
            self.trace.truncated = true;
        }
        self.entries += changes.len();
        let effect = effect_of(&changes);
        if let Some(rule) = self.rule_mut() {
            rule.actions.push(ActionTrace {
                action_type: action_type.to_string(),
                effect,
                terminated,
                changes,
            });
        }
    }

    /// The evaluation budget stopped the phase in the current rule.
    pub(crate) fn stopped(&mut self, message: &str) {
        let message = self.clip_text(message);
        self.action("budget", vec![Change::BudgetExhausted { message }], true);
    }
}

/// What a flow did, for the trace: the change it names (if any) and whether it ends the phase.
pub(crate) fn flow_change(flow: &Result<Flow, ActionError>) -> (Option<Change>, bool) {
    match flow {
        Ok(Flow::Continue) => (None, false),
        Ok(Flow::Respond(r)) => (
            Some(Change::Responded {
                status: r.status.as_u16(),
            }),
            true,
        ),
        // The hand-off itself shows as `HandedOff` from the exchange's target.
        Ok(Flow::Handoff) => (None, true),
        Ok(Flow::Close) => (Some(Change::Closed), true),
        Err(e) => (
            Some(Change::Failed {
                message: clip(&e.message).0,
            }),
            true,
        ),
    }
}

fn count_entries(trace: &PolicyTrace) -> usize {
    trace
        .phases
        .iter()
        .flat_map(|p| &p.rules)
        .map(|r| {
            1 + r.expressions.len() + r.actions.iter().map(|a| 1 + a.changes.len()).sum::<usize>()
        })
        .sum()
}

/// A few words for a list of changes, e.g. `added x-foo; rewrote /a → /b`.
fn effect_of(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no change".to_string();
    }
    let words: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::HeaderAdded { side, name, .. } => format!("added {}{name}", side_word(*side)),
            Change::HeaderRemoved { side, name } => format!("removed {}{name}", side_word(*side)),
            Change::HeaderChanged { side, name, .. } => format!("set {}{name}", side_word(*side)),
            Change::MethodChanged { from, to } => format!("method {from} → {to}"),
            Change::UrlRewritten { from, to } => format!("rewrote {from} → {to}"),
            Change::Responded { status } => format!("responded {status}"),
            Change::StatusChanged { from, to } => format!("status {from} → {to}"),
            Change::VarSet { name, value } => format!("set vars.{name} = {value}"),
            Change::Closed => "closed the connection".to_string(),
            Change::HandedOff { to } => format!("forwarded to {to}"),
            Change::Failed { message } => format!("failed: {message}"),
            Change::BudgetExhausted { message } => format!("stopped: {message}"),
        })
        .collect();
    words.join("; ")
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Request => "",
        Side::Response => "response header ",
    }
}

/// The parts of an exchange an action may change, as they were before it ran.
pub(crate) struct Snapshot {
    method: Option<http::Method>,
    uri: Option<http::Uri>,
    req_headers: Option<HeaderMap>,
    response: Option<(u16, HeaderMap)>,
    vars: BTreeMap<String, Value>,
    forward_to: Option<String>,
}

impl Snapshot {
    /// Before an HTTP action runs.
    pub(crate) fn http(ex: &Exchange, vars: &BTreeMap<String, Value>) -> Self {
        Snapshot {
            method: Some(ex.request.method.clone()),
            uri: Some(ex.request.uri.clone()),
            req_headers: Some(ex.request.headers.clone()),
            response: ex
                .response
                .as_ref()
                .map(|r| (r.status.as_u16(), r.headers.clone())),
            vars: vars.clone(),
            forward_to: ex.forward_to.clone(),
        }
    }

    /// Before an `on_tcp_connect` action runs: only variables can change.
    pub(crate) fn tcp(vars: &BTreeMap<String, Value>) -> Self {
        Snapshot {
            method: None,
            uri: None,
            req_headers: None,
            response: None,
            vars: vars.clone(),
            forward_to: None,
        }
    }

    /// What changed since the snapshot, in a fixed order: request line, request headers,
    /// response status and headers, variables, hand-off.
    pub(crate) fn changes(
        &self,
        ex: Option<&Exchange>,
        vars: &BTreeMap<String, Value>,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        if let Some(ex) = ex {
            if let Some(m) = &self.method
                && *m != ex.request.method
            {
                out.push(Change::MethodChanged {
                    from: m.to_string(),
                    to: ex.request.method.to_string(),
                });
            }
            if let Some(u) = &self.uri
                && *u != ex.request.uri
            {
                out.push(Change::UrlRewritten {
                    from: clip(&u.to_string()).0,
                    to: clip(&ex.request.uri.to_string()).0,
                });
            }
            if let Some(before) = &self.req_headers {
                header_changes(Side::Request, before, &ex.request.headers, &mut out);
            }
            if let Some(after) = &ex.response {
                let empty = HeaderMap::new();
                let (status, before) = match &self.response {
                    Some((s, h)) => (Some(*s), h),
                    None => (None, &empty),
                };
                if let Some(s) = status
                    && s != after.status.as_u16()
                {
                    out.push(Change::StatusChanged {
                        from: s,
                        to: after.status.as_u16(),
                    });
                }
                // A response made from nothing is described by `Responded`, not by its headers.
                if status.is_some() {
                    header_changes(Side::Response, before, &after.headers, &mut out);
                }
            }
            if ex.forward_to != self.forward_to
                && let Some(to) = &ex.forward_to
            {
                out.push(Change::HandedOff { to: to.clone() });
            }
        }
        for (name, value) in vars {
            if self.vars.get(name) != Some(value) {
                out.push(Change::VarSet {
                    name: clip(name).0,
                    value: clip(&crate::cel::value::to_json(value).to_string()).0,
                });
            }
        }
        out
    }
}

/// The header differences between `before` and `after`, by name.
fn header_changes(side: Side, before: &HeaderMap, after: &HeaderMap, out: &mut Vec<Change>) {
    for name in after.keys() {
        let now = joined(after, name);
        if !before.contains_key(name) {
            out.push(Change::HeaderAdded {
                side,
                name: name.to_string(),
                value: clip(&now).0,
            });
        } else {
            let was = joined(before, name);
            if was != now {
                out.push(Change::HeaderChanged {
                    side,
                    name: name.to_string(),
                    from: clip(&was).0,
                    to: clip(&now).0,
                });
            }
        }
    }
    for name in before.keys() {
        if !after.contains_key(name) {
            out.push(Change::HeaderRemoved {
                side,
                name: name.to_string(),
            });
        }
    }
}

fn joined(map: &HeaderMap, name: &http::header::HeaderName) -> String {
    map.get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}
