//! The policy trace of one request: for each phase that ran, each rule with its expressions'
//! results, whether it matched, and each action taken with what it changed.
//!
//! The engine (`sluice-policy`) records it when the host asks (inspection on), the edge hands
//! it to the agent over the tunnel (`sluice-tunnel`'s `TraceReport` control message), and the
//! agent's inspector serves it as JSON (`GET /api/requests/http/:id`, field `trace`). The types
//! live here because those three crates all share this one and none may depend on the others.
//!
//! A trace is bounded: at most [`MAX_TRACE_ENTRIES`] rules, expressions, actions and changes in
//! all, each text at most [`MAX_TRACE_TEXT`] bytes; what did not fit is left out and
//! [`PolicyTrace::truncated`] says so.

use serde::{Deserialize, Serialize};

/// Most rules + expressions + actions + changes one trace records.
pub const MAX_TRACE_ENTRIES: usize = 256;
/// Longest text (an expression's source, a header value, an error message) kept, in bytes.
pub const MAX_TRACE_TEXT: usize = 200;

/// Everything the policy did to one request (and its connection's `on_tcp_connect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTrace {
    /// The phases that ran, in run order.
    pub phases: Vec<PhaseTrace>,
    /// Some entries or text were left out to keep the trace within its bounds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One phase's rules as they ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTrace {
    /// `on_tcp_connect`, `on_http_request` or `on_http_response`.
    pub phase: String,
    /// The rules evaluated, in document order (rules after the phase ended are not listed).
    pub rules: Vec<RuleTrace>,
}

/// One rule's evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTrace {
    /// Its position in the phase, from 0.
    pub index: usize,
    /// Its `name`, or `rule #<index>` when it has none.
    pub name: String,
    /// The expressions evaluated, in order; evaluation stops at the first that does not hold,
    /// so later ones are not listed.
    pub expressions: Vec<ExprTrace>,
    /// Whether all its expressions held (its actions ran).
    pub matched: bool,
    /// The actions that ran, in order.
    pub actions: Vec<ActionTrace>,
}

/// One expression and what it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExprTrace {
    /// Its CEL source.
    pub expr: String,
    /// `true`, `false`, or the evaluation error's message (an error counts as false).
    pub result: ExprResult,
}

/// The result of an expression: a boolean, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExprResult {
    /// It evaluated to this.
    Bool(bool),
    /// It failed with this message.
    Error(String),
}

/// One action that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTrace {
    /// The action's `type`, e.g. `add-headers`.
    #[serde(rename = "type")]
    pub action_type: String,
    /// What it changed, in a few words (`added x-foo`, `responded 403`, `no change`).
    pub effect: String,
    /// Whether it ended the phase.
    pub terminated: bool,
    /// What it changed, one entry per change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// Which message a header change applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The request going upstream.
    Request,
    /// The response going to the client.
    Response,
}

/// One change an action made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// A header that was not there now is.
    HeaderAdded {
        /// Request or response.
        side: Side,
        /// Header name.
        name: String,
        /// Its value (several joined with `, `).
        value: String,
    },
    /// A header is gone.
    HeaderRemoved {
        /// Request or response.
        side: Side,
        /// Header name.
        name: String,
    },
    /// A header's value changed.
    HeaderChanged {
        /// Request or response.
        side: Side,
        /// Header name.
        name: String,
        /// The value before.
        from: String,
        /// The value after.
        to: String,
    },
    /// The request's method changed.
    MethodChanged {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// The request's path and query changed.
    UrlRewritten {
        /// Before.
        from: String,
        /// After.
        to: String,
    },
    /// The action answered the request (or replaced the response) with this status.
    Responded {
        /// The status code.
        status: u16,
    },
    /// The response's status changed.
    StatusChanged {
        /// Before.
        from: u16,
        /// After.
        to: u16,
    },
    /// A `vars.*` variable was set.
    VarSet {
        /// Its name.
        name: String,
        /// Its value, as JSON text.
        value: String,
    },
    /// The connection is closed.
    Closed,
    /// The request was handed to an internal endpoint (`forward-internal`).
    HandedOff {
        /// The internal endpoint's URL.
        to: String,
    },
    /// The action failed (the engine answered with an error).
    Failed {
        /// Why.
        message: String,
    },
    /// The evaluation budget ran out: the phase stopped.
    BudgetExhausted {
        /// Why.
        message: String,
    },
}

/// Cuts `s` to at most [`MAX_TRACE_TEXT`] bytes on a character boundary, marking the cut with
/// `…`; the flag says whether it cut.
pub fn clip(s: &str) -> (String, bool) {
    if s.len() <= MAX_TRACE_TEXT {
        return (s.to_string(), false);
    }
    let mut end = MAX_TRACE_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}…", &s[..end]), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_text_on_a_char_boundary() {
        assert_eq!(clip("short"), ("short".to_string(), false));
        let long = "é".repeat(MAX_TRACE_TEXT);
        let (cut, was) = clip(&long);
        assert!(was);
        assert!(cut.len() <= MAX_TRACE_TEXT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
