//! Endpoints of the config with no upstream (ngrok's cloud endpoints): their policy must answer
//! every request itself, which is checked at load, so such an endpoint never has a request
//! left with nowhere to go.

use sluice_policy::{Phase, Policy, Termination};

/// Actions that end the request phase when they run, though they declare so only when they
/// reject: `redirect` always answers, and `forward-internal` hands the request on (or, with
/// `on_error: continue`, lets it through to be answered as offline).
const ENDS_WHEN_RUN: &[&str] = &["redirect", "forward-internal"];

/// Whether `policy` answers every request: its last `on_http_request` rule has no
/// expressions and ends in a terminating action. The error says what is missing.
pub(super) fn answers_every_request(policy: &Policy) -> Result<(), String> {
    let last = policy.rules(Phase::HttpRequest).last();
    let ends = last.is_some_and(|rule| {
        rule.exprs.is_empty()
            && rule.actions.last().is_some_and(|a| {
                a.termination == Termination::Always || ENDS_WHEN_RUN.contains(&a.type_name)
            })
    });
    if ends {
        Ok(())
    } else {
        Err(
            "an endpoint without an upstream needs a traffic policy whose last on_http_request \
             rule has no expressions and ends in forward-internal, custom-response, deny, \
             redirect or close-connection"
                .into(),
        )
    }
}
