//! Compares one send's outcome with its expectations; each mismatch is one line saying what
//! was expected and what came out.

use http::HeaderMap;
use sluice_policy::cel::value::to_json;
use sluice_policy::harness::Outcome;
use sluice_policy::{Connection, Phase, Policy};

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

/// All mismatches between `expect` and what happened.
pub(crate) fn check(
    expect: &Expect,
    outcome: Option<&Outcome>,
    tcp_closed: bool,
    policy: &Policy,
    conn: &Connection,
) -> Vec<String> {
    let mut out = Vec::new();
    let closed = tcp_closed || outcome.is_some_and(|o| o.closed);
    if let Some(want) = expect.closed
        && want != closed
    {
        out.push(format!("closed: expected {want}, got {closed}"));
    }
    let Some(o) = outcome else {
        if expect.status.is_some() {
            out.push(format!(
                "status: expected {:?}, got none (connection closed in on_tcp_connect)",
                expect.status
            ));
        }
        return out;
    };
    if let Some(want) = expect.status {
        let got = o.status.map(|s| s.as_u16());
        if got != Some(want) {
            out.push(format!(
                "status: expected {want}, got {}",
                got.map_or("none (closed)".into(), |g| g.to_string())
            ));
        }
    }
    check_headers(
        "response",
        &o.headers,
        &expect.headers,
        &expect.headers_present,
        &expect.headers_absent,
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
    let _ = policy;
    out
}
