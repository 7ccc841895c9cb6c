//! Compares one send's outcome with its expectations; each mismatch is one line saying what
//! was expected and what came out.

use bytes::Bytes;
use http::HeaderMap;
use sluice_policy::cel::value::to_json;
use sluice_policy::harness::{Outcome, UpstreamSaw};
use sluice_policy::{Connection, Phase};

use crate::format::{Expect, RuleRef};

fn header_text(map: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = map
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn check_headers(
    what: &str,
    map: &HeaderMap,
    equal: &std::collections::BTreeMap<String, String>,
    present: &[String],
    absent: &[String],
    out: &mut Vec<String>,
) {
    for (k, want) in equal {
        let got = header_text(map, &k.to_ascii_lowercase());
        if got.as_deref() != Some(want.as_str()) {
            out.push(format!(
                "{what} header `{k}`: expected {want:?}, got {got:?}"
            ));
        }
    }
    for k in present {
        if header_text(map, &k.to_ascii_lowercase()).is_none() {
            out.push(format!("{what} header `{k}`: expected present, got absent"));
        }
    }
    for k in absent {
        if let Some(got) = header_text(map, &k.to_ascii_lowercase()) {
            out.push(format!("{what} header `{k}`: expected absent, got {got:?}"));
        }
    }
}

/// Whether `want` is contained in `got` (maps: every key of `want` matches; others: equal).
fn subset(want: &serde_json::Value, got: &serde_json::Value) -> bool {
    match (want, got) {
        (serde_json::Value::Object(w), serde_json::Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        (serde_json::Value::Number(a), serde_json::Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == got,
    }
}

/// What one send produced, as seen from outside: the same for the in-process and live modes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// Response status; None when the connection closed without a response.
    pub status: Option<u16>,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
    /// What the upstream received; None when it was never called.
    pub upstream: Option<UpstreamSaw>,
    /// Whether the connection was closed (without a response).
    pub closed: bool,
}

impl Observed {
    /// The observable part of an in-process outcome.
    pub(crate) fn of(o: &Outcome) -> Observed {
        Observed {
            status: o.status.map(|s| s.as_u16()),
            headers: o.headers.clone(),
            body: o.body.clone(),
            upstream: o.upstream.clone(),
            closed: o.closed,
        }
    }
}

/// The engine's view of one send, only available in-process: fired rules, vars, results.
pub(crate) struct EngineView<'a> {
    /// The in-process outcome.
    pub outcome: &'a Outcome,
    /// The connection it ran on.
    pub conn: &'a Connection,
}

/// The expectations of `expect` that only the engine can answer (not observable live).
pub(crate) fn engine_only(expect: &Expect) -> Vec<&'static str> {
    let mut v = Vec::new();
    if expect.fired.is_some() {
        v.push("fired");
    }
    if expect.vars.is_some() {
        v.push("vars");
    }
    if expect.actions.is_some() {
        v.push("actions");
    }
    if expect.forwarded_to.is_some() {
        v.push("forwarded_to");
    }
    v
}

/// All mismatches between `expect` and what happened. `observed` is None when the connection
/// was closed in `on_tcp_connect` (in-process); `engine` is None in live mode, where `fired`,
/// `vars` and `actions` are not checked (see [`engine_only`]).
pub(crate) fn check(
    expect: &Expect,
    observed: Option<&Observed>,
    tcp_closed: bool,
    engine: Option<EngineView<'_>>,
) -> Vec<String> {
    let mut out = Vec::new();
    let closed = tcp_closed || observed.is_some_and(|o| o.closed);
    if let Some(want) = expect.closed
        && want != closed
    {
        out.push(format!("closed: expected {want}, got {closed}"));
    }
    let Some(o) = observed else {
        if expect.status.is_some() {
            out.push(format!(
                "status: expected {:?}, got none (connection closed in on_tcp_connect)",
                expect.status
            ));
        }
        return out;
    };
    if let Some(want) = expect.status {
        let got = o.status;
        if got != Some(want) {
            out.push(format!(
                "status: expected {want}, got {}",
                got.map_or("none (closed)".into(), |g| g.to_string())
            ));
        }
    }
    // Live, HTTP framing is the transport's: a `content-length` the edge sets for the body it
    // actually sent satisfies "absent" (in-process it means the stale length was dropped).
    let mut absent = expect.headers_absent.clone();
    if engine.is_none() {
        absent.retain(|k| {
            !(k.eq_ignore_ascii_case("content-length")
                && header_text(&o.headers, "content-length")
                    .is_some_and(|v| v == o.body.len().to_string()))
        });
    }
    check_headers(
        "response",
        &o.headers,
        &expect.headers,
        &expect.headers_present,
        &absent,
        &mut out,
    );
    let body = String::from_utf8_lossy(&o.body);
    if let Some(want) = &expect.body
        && *want != body
    {
        out.push(format!("body: expected {want:?}, got {body:?}"));
    }
    if let Some(want) = &expect.body_contains
        && !body.contains(want.as_str())
    {
        out.push(format!("body: expected to contain {want:?}, got {body:?}"));
    }
    if let Some(want) = &expect.body_matches {
        match regex::Regex::new(want) {
            Ok(re) if re.is_match(&body) => {}
            Ok(_) => out.push(format!("body: expected to match /{want}/, got {body:?}")),
            Err(e) => out.push(format!("body_matches: invalid regex: {e}")),
        }
    }
    let called = o.upstream.is_some();
    if let Some(want) = expect.upstream_called
        && want != called
    {
        out.push(format!("upstream called: expected {want}, got {called}"));
    }
    if let Some(up) = &expect.upstream {
        match &o.upstream {
            None => {
                out.push("upstream: expected a request, but the upstream was not called".into())
            }
            Some(saw) => {
                if let Some(m) = &up.method
                    && !m.eq_ignore_ascii_case(saw.method.as_str())
                {
                    out.push(format!("upstream method: expected {m}, got {}", saw.method));
                }
                if let Some(p) = &up.path
                    && *p != saw.path_and_query
                {
                    out.push(format!(
                        "upstream path: expected {p:?}, got {:?}",
                        saw.path_and_query
                    ));
                }
                check_headers(
                    "upstream",
                    &saw.headers,
                    &up.headers,
                    &up.headers_present,
                    &up.headers_absent,
                    &mut out,
                );
                let got = String::from_utf8_lossy(&saw.body);
                if let Some(b) = &up.body
                    && *b != got
                {
                    out.push(format!("upstream body: expected {b:?}, got {got:?}"));
                }
            }
        }
    }
    let Some(EngineView { outcome: o, conn }) = engine else {
        return out;
    };
    if let Some(want) = &expect.forwarded_to {
        let got = o.forwarded_to.as_deref().unwrap_or("");
        if want != got {
            out.push(format!("forwarded_to: expected {want:?}, got {got:?}"));
        }
    }
    if let Some(want) = &expect.fired {
        let got: Vec<RuleRef> = conn
            .fired
            .iter()
            .chain(o.exchange.fired.iter())
            .map(|f| match &f.name {
                Some(n) if want.iter().any(|w| *w == RuleRef::Name(n.clone())) => {
                    RuleRef::Name(n.clone())
                }
                _ => RuleRef::Index(f.index),
            })
            .collect();
        if *want != got {
            out.push(format!("fired rules: expected {want:?}, got {got:?}"));
        }
    }
    if let Some(want) = &expect.vars {
        let got = o
            .exchange
            .vars_by_phase
            .get(&Phase::HttpRequest)
            .map(|vars| {
                serde_json::Value::Object(
                    vars.iter().map(|(k, v)| (k.clone(), to_json(v))).collect(),
                )
            })
            .unwrap_or_else(|| serde_json::json!({}));
        let want = serde_json::Value::Object(want.clone());
        if !subset(&want, &got) {
            out.push(format!("vars: expected {want}, got {got}"));
        }
    }
    if let Some(want) = &expect.actions {
        let got = serde_json::Value::Object(
            conn.results
                .iter()
                .chain(o.exchange.results().iter())
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        );
        let want = serde_json::Value::Object(want.clone());
        if !subset(&want, &got) {
            out.push(format!("actions.ngrok: expected {want}, got {got}"));
        }
    }
    out
}
