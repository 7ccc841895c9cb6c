//! The variables a phase's expressions see: bound once when the phase starts, and rebuilt
//! lazily after an action changes what they describe (the request, the response, results).

use std::collections::BTreeMap;

use crate::cel::{Needs, ScopeVar};
use crate::cx::PhaseState;
use crate::exchange::{Connection, Exchange};
use crate::phase::Phase;
use crate::values;

/// The scope an HTTP phase starts with: `conn`, `endpoint` and `time`, `req` (reused from the
/// request phase when nothing changed it), `res`, `vars` and `actions`, as the policy reads them.
pub(crate) fn http_state(
    conn: &Connection,
    ex: &Exchange,
    phase: Phase,
    needs: Needs,
) -> PhaseState {
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
    // The response phase reuses the request phase's `req` when nothing changed it since, and
    // binds none when its rules do not read it.
    match &ex.req_value {
        _ if phase == Phase::HttpResponse && needs.req.is_empty() => {}
        Some(v) if phase == Phase::HttpResponse => st.scope.set_shared(ScopeVar::Req, v.clone()),
        _ => st.scope.set_val(
            ScopeVar::Req,
            values::request_val(ex, &conn.endpoint, needs.req, conn.now()),
        ),
    }
    if phase == Phase::HttpResponse
        && let Some(res) = &ex.response
    {
        st.scope.set_val(
            ScopeVar::Res,
            values::response_val(res, &ex.response_trailers, needs.res),
        );
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

/// Rebuilds what actions changed since the last expression or action ran. Called lazily, just
/// before the next reader, so a change by a phase's last action costs nothing.
pub(crate) fn refresh_http(st: &mut PhaseState, conn: &Connection, ex: &Exchange) {
    let needs = st.needs;
    let d = std::mem::take(&mut st.dirty);
    if d.req {
        st.scope.set_val(
            ScopeVar::Req,
            values::request_val(ex, &conn.endpoint, needs.req, conn.now()),
        );
    }
    if d.res
        && let Some(res) = &ex.response
    {
        st.scope.set_val(
            ScopeVar::Res,
            values::response_val(res, &ex.response_trailers, needs.res),
        );
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
