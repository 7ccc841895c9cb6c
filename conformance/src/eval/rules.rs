//! `sluice policy eval --policy FILE`: runs a policy on the described request, as the edge
//! would, and shows per phase which rules fired, which were not reached because an earlier
//! action ended the phase, and the value each expression has against the incoming request.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use sluice_policy::cel::value::type_name;
use sluice_policy::trace::{ExprResult, PolicyTrace};
use sluice_policy::{FiredRule, LoadOptions, Phase, Policy, Registry, Termination, load_policy};

use super::context::EvalContext;
use super::probe::{self, Failure, JsonError};
use crate::cli::Format;

/// The phases in the order they run.
const PHASES: [Phase; 3] = [Phase::TcpConnect, Phase::HttpRequest, Phase::HttpResponse];

/// One expression of a rule and its value against the incoming request.
#[derive(Debug, Serialize)]
struct ExprReport {
    expression: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    literal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsonError>,
}

/// One rule and what happened to it.
#[derive(Debug, Serialize)]
struct RuleReport {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    fired: bool,
    reached: bool,
    actions: Vec<&'static str>,
    expressions: Vec<ExprReport>,
}

/// One phase's rules.
#[derive(Debug, Serialize)]
struct PhaseReport {
    phase: &'static str,
    rules: Vec<RuleReport>,
}

/// The whole run.
#[derive(Debug, Serialize)]
struct Report {
    policy: String,
    phases: Vec<PhaseReport>,
    /// The connection was closed by the policy.
    closed: bool,
    /// The request reached the upstream.
    forwarded: bool,
    /// The status the client got, when it got one.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// The policy trace, with `--trace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<PolicyTrace>,
}

/// Runs the policy in `file` on the context and prints the report.
pub(super) async fn run(
    file: &Path,
    ctx: &EvalContext,
    registry: &Registry,
    format: Format,
    traced: bool,
) -> anyhow::Result<u8> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
    let policy = match load_policy(&name, &text, registry, LoadOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let (conn, outcome) = ctx.run(&policy, true, traced).await;
    let mut fired = conn.fired.clone();
    let mut report = Report {
        policy: name,
        phases: Vec::new(),
        closed: outcome.is_none(),
        forwarded: false,
        status: None,
        trace: conn.trace.as_deref().cloned(),
    };
    let tcp_closed = outcome.is_none();
    if let Some(outcome) = outcome {
        if let (Some(t), Some(http)) = (report.trace.as_mut(), &outcome.exchange.trace) {
            t.phases.extend(http.phases.iter().cloned());
            t.truncated |= http.truncated;
        }
        fired.extend(outcome.exchange.fired.iter().cloned());
        report.closed = outcome.closed;
        report.forwarded = outcome.upstream.is_some();
        report.status = outcome.status.map(|s| s.as_u16());
    }
    for phase in PHASES {
        let rules = policy.rules(phase);
        if rules.is_empty() {
            continue;
        }
        // After on_tcp_connect closed the connection no HTTP rule runs.
        let http_skipped = tcp_closed && phase != Phase::TcpConnect;
        let stop = stopped_at(&policy, phase, &fired, &report);
        let mut phase_report = PhaseReport {
            phase: phase.key(),
            rules: Vec::new(),
        };
        for (index, rule) in rules.iter().enumerate() {
            let mut expressions = Vec::new();
            for expr in &rule.exprs {
                let result = probe::evaluate(expr.source(), phase, ctx, registry).await;
                expressions.push(expr_report(expr.source(), result));
            }
            phase_report.rules.push(RuleReport {
                index,
                name: rule.name.clone(),
                fired: fired.iter().any(|f| f.phase == phase && f.index == index),
                reached: !http_skipped && stop.is_none_or(|s| index <= s),
                actions: rule.actions.iter().map(|a| a.type_name).collect(),
                expressions,
            });
        }
        report.phases.push(phase_report);
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print_text(&report),
    }
    Ok(0)
}

/// The rule that ended `phase`, if one did: the last rule that fired in it, when that rule
/// has an action that always ends the phase, or one that ends it when rejecting and the
/// outcome shows a rejection (no upstream call, a closed connection).
fn stopped_at(
    policy: &Policy,
    phase: Phase,
    fired: &[FiredRule],
    report: &Report,
) -> Option<usize> {
    let last = fired
        .iter()
        .filter(|f| f.phase == phase)
        .map(|f| f.index)
        .max()?;
    let rule = policy.rules(phase).get(last)?;
    let always = rule
        .actions
        .iter()
        .any(|a| a.termination == Termination::Always);
    let rejecting = rule
        .actions
        .iter()
        .any(|a| a.termination == Termination::WhenRejecting);
    let rejected = match phase {
        Phase::TcpConnect => report.closed && !report.forwarded && report.status.is_none(),
        Phase::HttpRequest => !report.forwarded,
        Phase::HttpResponse | Phase::EventStreamMessage => false,
    };
    (always || (rejecting && rejected)).then_some(last)
}

fn expr_report(source: &str, result: Result<probe::Evaluated, Failure>) -> ExprReport {
    match result {
        Ok(ev) => ExprReport {
            expression: source.to_string(),
            value: Some(probe::json(&ev.value)),
            r#type: Some(type_name(&ev.value)),
            literal: Some(probe::literal(&ev.value)),
            error: None,
        },
        Err(f) => ExprReport {
            expression: source.to_string(),
            value: None,
            r#type: None,
            literal: None,
            error: Some(f.json()),
        },
    }
}

fn print_text(report: &Report) {
    for phase in &report.phases {
        println!("{}", phase.phase);
        for rule in &phase.rules {
            let mark = match (rule.fired, rule.reached) {
                (true, _) => "fired      ",
                (false, true) => "not fired  ",
                (false, false) => "not reached",
            };
            let name = rule
                .name
                .as_deref()
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            println!(
                "  {mark} rule {}{name}: {}",
                rule.index,
                rule.actions.join(", ")
            );
            for e in &rule.expressions {
                match (&e.literal, &e.error) {
                    (Some(lit), _) => println!("      {}  →  {lit}", e.expression),
                    (None, Some(err)) => {
                        println!("      {}  →  error: {}", e.expression, err.message)
                    }
                    (None, None) => println!("      {}", e.expression),
                }
            }
        }
    }
    let outcome = match (report.closed, report.forwarded, report.status) {
        (true, _, _) => "the connection was closed by the policy".to_string(),
        (false, true, Some(s)) => format!("forwarded to the upstream; the client gets {s}"),
        (false, false, Some(s)) => format!("answered by the policy with {s}"),
        (false, _, None) => "no response".to_string(),
    };
    println!("outcome: {outcome}");
    if let Some(trace) = &report.trace {
        print_trace(trace);
    }
}

fn print_trace(trace: &PolicyTrace) {
    println!("trace:");
    for phase in &trace.phases {
        println!("  {}", phase.phase);
        for rule in &phase.rules {
            let mark = if rule.matched { "matched" } else { "no match" };
            println!("    rule {} {:?}: {mark}", rule.index, rule.name);
            for e in &rule.expressions {
                let result = match &e.result {
                    ExprResult::Bool(b) => b.to_string(),
                    ExprResult::Error(m) => format!("error: {m}"),
                };
                println!("      {}  →  {result}", e.expr);
            }
            for a in &rule.actions {
                let ends = if a.terminated {
                    " (ends the phase)"
                } else {
                    ""
                };
                println!("      {}: {}{ends}", a.action_type, a.effect);
            }
        }
    }
    if trace.truncated {
        println!("  (trace truncated)");
    }
}
