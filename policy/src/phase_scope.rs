//! The variables a phase's expressions see: bound once when the phase starts, and rebuilt
//! lazily after an action changes what they describe (the request, the response, results).

use std::collections::BTreeMap;

use crate::cel::fast::View;
use crate::cel::{Needs, ScopeVar};
use crate::cx::PhaseState;
use crate::exchange::{Connection, Exchange};
use crate::phase::Phase;
use crate::policy::PolicyAction;
use crate::values;

/// The scope an HTTP phase starts with: `conn`, `endpoint` and `time`, `vars` and `actions`,
/// as the policy reads them. `req` and `res` are bound later, by [`bind_http`], for the first
/// reader the fast path does not serve (the response phase reuses the request phase's `req`
/// when nothing changed it since).
pub(crate) fn http_state(
    conn: &Connection,
    ex: &Exchange,
    phase: Phase,
    needs: Needs,
    lazy: Needs,
) -> PhaseState {
    let mut st = PhaseState {
        needs,
        lazy,
        ..PhaseState::default()
    };
    st.scope.set_shared(ScopeVar::Conn, conn.conn_value.clone());
    st.scope
        .set_shared(ScopeVar::Endpoint, conn.endpoint_value.clone());
    if needs.time {
        st.scope
            .set_val(ScopeVar::Time, values::time_value(conn.now()));
    }
    if phase == Phase::HttpResponse
        && !needs.req.is_empty()
        && let Some((v, fields)) = &ex.req_value
    {
        st.scope.set_shared(ScopeVar::Req, v.clone());
        st.req_bound = Some(*fields);
    }
    if st.needs.vars {
        st.scope.set(ScopeVar::Vars, values::vars_value(&st.vars));
    }
    if st.needs.actions {
        st.scope.set(
            ScopeVar::Actions,
            values::layered_actions_value(&conn.results, &ex.results),
        );
    }
    st
}

/// Binds `req` and `res` with at least the fields in `want` (and the phase's `lazy` ones, so
/// later readers find theirs), unless they are bound with them already.
pub(crate) fn bind_http(st: &mut PhaseState, conn: &Connection, ex: &Exchange, want: Needs) {
    if !want.req.is_empty() && !st.req_bound.is_some_and(|b| b.covers(want.req)) {
        let mut fields = st.lazy.req.union(want.req);
        if let Some(bound) = st.req_bound {
            fields = fields.union(bound);
        }
        st.scope.set_val(
            ScopeVar::Req,
            values::request_val(ex, &conn.endpoint, fields, conn.now()),
        );
        st.req_bound = Some(fields);
    }
    if !want.res.is_empty()
        && !st.res_bound.is_some_and(|b| b.covers(want.res))
        && let Some(res) = &ex.response
    {
        let mut fields = st.lazy.res.union(want.res);
        if let Some(bound) = st.res_bound {
            fields = fields.union(bound);
        }
        st.scope.set_val(
            ScopeVar::Res,
            values::response_val(res, &ex.response_trailers, fields),
        );
        st.res_bound = Some(fields);
    }
}

/// Readies the scope for `action`: the values of its expressions with a fast form worked out
/// from the heads, and `req`/`res` bound only for what the interpreter still reads (all that
/// the action reads when one of them needs the interpreter after all).
pub(crate) fn bind_for_action(
    st: &mut PhaseState,
    conn: &Connection,
    ex: &Exchange,
    action: &PolicyAction,
) {
    st.scope.clear_precomputed();
    let view = View {
        req: &ex.request,
        res: ex.response.as_ref(),
        conn: &conn.info,
    };
    let mut want = action.interpreted_needs;
    for e in &action.fast_exprs {
        match e.eval_fast_value(&view) {
            Some(v) => st.scope.precompute(e.id(), v),
            None => {
                st.scope.clear_precomputed();
                want = action.needs;
                break;
            }
        }
    }
    bind_http(st, conn, ex, want);
}

/// Binds `vars` (empty at a phase's start) and `actions`, if the policy reads them.
pub(crate) fn init_vars_and_results(st: &mut PhaseState, results: &BTreeMap<String, cel::Value>) {
    if st.needs.vars {
        st.scope.set(ScopeVar::Vars, values::vars_value(&st.vars));
    }
    if st.needs.actions {
        st.scope
            .set(ScopeVar::Actions, values::actions_value(results));
    }
}

/// Forgets what actions changed since the last expression or action ran (the next reader
/// binds it again, see [`bind_http`]) and rebuilds `actions`. Called just before the next
/// reader, so a change by a phase's last action costs nothing.
pub(crate) fn refresh_http(st: &mut PhaseState, conn: &Connection, ex: &Exchange) {
    let needs = st.needs;
    let d = std::mem::take(&mut st.dirty);
    if d.req {
        st.scope.clear(ScopeVar::Req);
        st.req_bound = None;
    }
    if d.res {
        st.scope.clear(ScopeVar::Res);
        st.res_bound = None;
    }
    if d.actions && needs.actions {
        st.scope.set(
            ScopeVar::Actions,
            values::layered_actions_value(&conn.results, &ex.results),
        );
    }
}

/// Rebuilds what an `on_tcp_connect` action changed (`conn` after `terminate-tls`, `actions`).
pub(crate) fn refresh_tcp(st: &mut PhaseState, conn: &Connection) {
    let d = std::mem::take(&mut st.dirty);
    if d.conn {
        st.scope.set_shared(ScopeVar::Conn, conn.conn_value.clone());
    }
    if d.actions && st.needs.actions {
        st.scope
            .set(ScopeVar::Actions, values::actions_value(&conn.results));
    }
}
