//! A phase stopped by the evaluation budget (README.md, CEL section): not a rule that fails to
//! match but a request the edge refuses, answered 500 `ERR_SLUICE_2254`, logged and counted.

use http::StatusCode;

use crate::cel::Exhausted;
use crate::exchange::{EndpointInfo, SyntheticResponse};
use crate::phase::Phase;
use crate::policy::Rule;

/// The error code of a request whose policy evaluation ran out of budget.
pub const BUDGET_EXHAUSTED_CODE: u16 = 2254;

/// Where and why a policy evaluation was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyAbort {
    /// The phase that ran out.
    pub phase: Phase,
    /// Index of the rule that was running, in its phase.
    pub rule: usize,
    /// That rule's name, if it has one.
    pub rule_name: Option<String>,
    /// Which limit was hit.
    pub reason: Exhausted,
}

impl PolicyAbort {
    /// Records the stop with a warning naming the endpoint and rule.
    pub(crate) fn new(
        endpoint: &EndpointInfo,
        phase: Phase,
        rule: usize,
        r: &Rule,
        reason: Exhausted,
    ) -> PolicyAbort {
        tracing::warn!(
            endpoint = %endpoint.url,
            endpoint_id = %endpoint.id,
            %phase,
            rule,
            rule_name = r.name.as_deref().unwrap_or(""),
            code = BUDGET_EXHAUSTED_CODE,
            "traffic policy evaluation stopped: {reason}; the request is refused"
        );
        PolicyAbort {
            phase,
            rule,
            rule_name: r.name.clone(),
            reason,
        }
    }

    /// The response the client gets.
    pub fn response(&self) -> SyntheticResponse {
        SyntheticResponse::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            BUDGET_EXHAUSTED_CODE,
            "The endpoint's traffic policy exceeded its evaluation budget.",
        )
    }

    /// Text for the runtime issue list.
    pub(crate) fn message(&self) -> String {
        format!("evaluation budget exhausted: {}", self.reason)
    }
}
