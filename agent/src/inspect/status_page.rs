//! `GET /status`: the status report ([`StatusReport`]) as a server-rendered page that
//! refreshes itself every few seconds: the session, the agent's settings with where each came
//! from, and each endpoint's configuration and traffic metrics.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;

use super::api::InspectApi;
use super::status::{EndpointStatus, StatusReport};
use crate::forward::file::escape;
use crate::metrics::MetricsSnapshot;

/// Seconds between the page's reloads.
const REFRESH_SECS: u32 = 2;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;\
text-align:left;vertical-align:top}th{font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code{font-size:.95em}.muted{color:#777}\
@media (prefers-color-scheme: dark){body{background:#16181c;color:#ddd}td,th{border-color:#333}\
a{color:#8ab4f8}}";

/// `GET /status`.
pub(super) async fn page(State(api): State<InspectApi>) -> Html<String> {
    Html(render(&api.status_report()))
}

/// Milliseconds from nanoseconds, for reading.
fn ms(nanos: f64) -> String {
    format!("{:.2}", nanos / 1e6)
}

fn row(out: &mut String, cells: &[&str]) {
    out.push_str("<tr>");
    for c in cells {
        let _ = write!(out, "<td>{}</td>", escape(c));
    }
    out.push_str("</tr>\n");
}

fn metrics_table(out: &mut String, m: &MetricsSnapshot) {
    out.push_str(
        "<table><tr><th></th><th>count</th><th>open</th><th>rate 1m</th><th>rate 5m</th>\
         <th>rate 15m</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th></tr>\n",
    );
    let c = &m.conns;
    let h = &m.http;
    let cells = [
        (
            "connections",
            c.count.to_string(),
            c.gauge.to_string(),
            [c.rate1, c.rate5, c.rate15],
            [c.p50, c.p90, c.p95, c.p99],
        ),
        (
            "HTTP requests",
            h.count.to_string(),
            String::new(),
            [h.rate1, h.rate5, h.rate15],
            [h.p50, h.p90, h.p95, h.p99],
        ),
    ];
    for (label, count, open, rates, ps) in cells {
        let _ = write!(
            out,
            "<tr><th>{label}</th><td class=n>{count}</td><td class=n>{open}</td>"
        );
        for r in rates {
            let _ = write!(out, "<td class=n>{r:.2}</td>");
        }
        for p in ps {
            let _ = write!(out, "<td class=n>{}</td>", ms(p));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn endpoint_section(out: &mut String, e: &EndpointStatus) {
    let _ = writeln!(out, "<h2>{}</h2>\n<table>", escape(&e.name));
    row(out, &["URL", &e.url]);
    row(
        out,
        &[
            "upstream",
            &format!("{} ({})", e.upstream.url, e.upstream.protocol),
        ],
    );
    row(out, &["binding", &e.binding]);
    row(
        out,
        &["pooling", if e.pooling_enabled { "enabled" } else { "off" }],
    );
    row(out, &["inspection", if e.inspect { "on" } else { "off" }]);
    let policy = match &e.policy {
        None => "none".to_owned(),
        Some(p) if p.phases.is_empty() => "empty".to_owned(),
        Some(p) => p
            .phases
            .iter()
            .map(|ph| {
                let rules = if ph.rules == 1 { "rule" } else { "rules" };
                format!(
                    "{}: {} {rules} ({})",
                    ph.phase,
                    ph.rules,
                    ph.actions.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    };
    row(out, &["traffic policy", &policy]);
    out.push_str("</table>\n");
    metrics_table(out, &e.metrics);
}

/// The page for `report`.
pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>sluice agent status</title><style>{STYLE}</style></head>\n<body>\
         <h1>sluice agent status</h1>\n<p><a href=\"/\">inspector</a> · \
         <a href=\"/api/status\">JSON</a></p>\n<table>\n"
    );
    let latency = report
        .session
        .legs
        .first()
        .map_or_else(|| "—".to_owned(), |l| l.latency.clone());
    row(&mut out, &["session", &report.status]);
    row(&mut out, &["version", &report.agent_version]);
    row(&mut out, &["edge", &report.edge.address]);
    row(&mut out, &["latency", &latency]);
    row(
        &mut out,
        &["account", report.edge.account.as_deref().unwrap_or("—")],
    );
    out.push_str("</table>\n<h2>Settings</h2>\n<table><tr><th>setting</th><th>value</th><th>from</th></tr>\n");
    for s in &report.settings {
        row(&mut out, &[&s.name, &s.value, &s.source]);
    }
    out.push_str("</table>\n");
    if report.endpoints.is_empty() {
        out.push_str("<p class=muted>No endpoints are running.</p>\n");
    }
    for e in &report.endpoints {
        endpoint_section(&mut out, e);
    }
    out.push_str("<p class=muted>Durations in milliseconds; rates per second.</p></body></html>\n");
    out
}
