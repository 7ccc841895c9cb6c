//! One rule's evaluation inside a phase: whether its expressions hold (each result recorded
//! when tracing), which rule fired, and how a phase stopped by the evaluation budget ends.

use crate::abort::PolicyAbort;
use crate::cel::fast::View;
use crate::cel::{EvalError, Exhausted, Expr};
use crate::cx::PhaseState;
use crate::exchange::{Connection, Exchange, FiredRule, RuntimeIssue};
use crate::phase::Phase;
use crate::phase_scope::bind_http;
use crate::policy::Rule;
use crate::trace::PhaseRecorder;

/// Whether a rule's expressions all hold.
pub(crate) enum Matched {
    Yes,
    No,
    /// The evaluation budget ran out: the phase stops.
    Stopped(Exhausted),
}

/// Where a rule's expressions read from.
#[derive(Clone, Copy)]
pub(crate) enum Reads<'a> {
    /// The scope has every variable bound already (`on_tcp_connect`, event-stream messages).
    Scope,
    /// An HTTP phase: expressions with a fast form read the heads directly; `req`/`res` are
    /// bound for the first one that the interpreter runs.
    Http(&'a Connection, &'a Exchange),
}

impl Reads<'_> {
    /// Evaluates one expression: the fast path when it answers, else the interpreter.
    fn eval(self, expr: &Expr, st: &mut PhaseState) -> Result<bool, EvalError> {
        if let Reads::Http(conn, ex) = self {
            let view = View {
                req: &ex.request,
                res: ex.response.as_ref(),
                conn: &conn.info,
            };
            if let Some(answer) = expr.eval_fast(&view) {
                return Ok(answer);
            }
            bind_http(st, conn, ex, expr.needs());
        }
        expr.eval_bool(&st.scope)
    }
}

/// Whether a rule's expressions all hold; failures count as "no" and are recorded, except
/// running out of budget, which stops the phase. Each result goes to `rec` when tracing.
pub(crate) fn rule_matches(
    rule: &Rule,
    st: &mut PhaseState,
    reads: Reads<'_>,
    phase: Phase,
    index: usize,
    issues: &mut Vec<RuntimeIssue>,
    mut rec: Option<&mut PhaseRecorder<'_>>,
) -> Matched {
    if let Some(r) = rec.as_deref_mut() {
        r.rule(index, rule);
    }
    for expr in &rule.exprs {
        let result = reads.eval(expr, st);
        if let Some(r) = rec.as_deref_mut() {
            r.expr(
                expr.source(),
                result.as_ref().copied().map_err(|e| e.message.as_str()),
            );
        }
        match result {
            Ok(true) => {}
            Ok(false) => return Matched::No,
            Err(e) => {
                if let Some(why) = e.exhausted {
                    return Matched::Stopped(why);
                }
                issues.push(RuntimeIssue {
                    phase,
                    rule: index,
                    message: e.message,
                });
                return Matched::No;
            }
        }
    }
    if let Some(r) = rec {
        r.matched();
    }
    Matched::Yes
}

/// Stops an exchange whose phase ran out of budget: 500 `ERR_SLUICE_2254`, nothing more runs.
pub(crate) fn stop_exchange(
    ex: &mut Exchange,
    conn: &Connection,
    phase: Phase,
    index: usize,
    rule: &Rule,
    why: Exhausted,
    rec: Option<&mut PhaseRecorder<'_>>,
) {
    let abort = PolicyAbort::new(&conn.endpoint, phase, index, rule, why);
    if let Some(r) = rec {
        r.stopped(&abort.message());
    }
    ex.issues.push(RuntimeIssue {
        phase,
        rule: index,
        message: abort.message(),
    });
    ex.set_synthetic(abort.response());
    ex.aborted = Some(abort);
}

pub(crate) fn fired(rule: &Rule, phase: Phase, index: usize) -> FiredRule {
    FiredRule {
        phase,
        index,
        name: rule.name.clone(),
    }
}

/// Stops a connection whose `on_tcp_connect` ran out of budget: it is closed.
pub(crate) fn stop_connection(
    conn: &mut Connection,
    index: usize,
    rule: &Rule,
    why: Exhausted,
    rec: Option<&mut PhaseRecorder<'_>>,
) {
    let abort = PolicyAbort::new(&conn.endpoint, Phase::TcpConnect, index, rule, why);
    if let Some(r) = rec {
        r.stopped(&abort.message());
    }
    conn.issues.push(RuntimeIssue {
        phase: Phase::TcpConnect,
        rule: index,
        message: abort.message(),
    });
    conn.aborted = Some(abort);
}
