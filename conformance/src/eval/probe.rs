//! Evaluates one expression or template: it becomes the only rule of a generated policy, a
//! `set-vars` in the chosen phase, which the harness runs on the described request. So the
//! value is computed by the same loader (checks, cost limit), scope and interpreter as on a
//! live edge, and nothing here re-implements CEL evaluation.

use cel::Value;
use serde::Serialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{to_json, to_text, type_name};
use sluice_policy::{Diagnostic, LoadOptions, Phase, Policy, Registry, load_policy};

use super::context::EvalContext;
use crate::cli::Format;

/// The variable the generated `set-vars` writes.
const RESULT_VAR: &str = "sluice_eval_result";
/// How the generated policy is named in diagnostics.
const SOURCE_NAME: &str = "<expression>";

/// Why an expression gave no value.
#[derive(Debug)]
pub(super) enum Failure {
    /// It does not load: the loader's diagnostics (code and message).
    Compile(Vec<Diagnostic>),
    /// It failed while evaluating (no such key, wrong type, budget).
    Runtime(String),
}

/// A successful evaluation.
#[derive(Debug)]
pub(super) struct Evaluated {
    /// The value.
    pub value: Value,
    /// The phase it was evaluated in.
    pub phase: Phase,
}

/// The phase an expression is evaluated in when none was asked for.
pub(super) fn default_phase(text: &str, ctx: &EvalContext) -> Phase {
    if let Some(p) = ctx.phase {
        return p;
    }
    let reads_res = Template::compile(text).is_ok_and(|t| !t.needs().res.is_empty());
    if reads_res || ctx.has_response {
        Phase::HttpResponse
    } else {
        Phase::HttpRequest
    }
}

/// `expr` as a template: a plain expression becomes `${expr}` (the value keeps its type);
/// true when it was wrapped so.
pub(super) fn as_template(expr: &str) -> (String, bool) {
    if expr.contains("${") {
        (expr.to_string(), false)
    } else {
        (format!("${{{expr}}}"), true)
    }
}

/// Evaluates `expr` (an expression, or a string with `${…}`) in `phase` against the context.
pub(super) async fn evaluate(
    expr: &str,
    phase: Phase,
    ctx: &EvalContext,
    registry: &Registry,
) -> Result<Evaluated, Failure> {
    let (template, wrapped) = as_template(expr);
    let policy = generated_policy(&template, wrapped, phase, registry)?;
    let (conn, outcome) = ctx.run(&policy, phase != Phase::TcpConnect, false).await;
    let (value, issues, aborted) = match outcome {
        None => (
            conn.vars.get(RESULT_VAR).cloned(),
            conn.issues,
            conn.aborted.as_ref().map(budget_message),
        ),
        Some(outcome) => {
            let ex = outcome.exchange;
            (
                ex.vars_by_phase
                    .get(&phase)
                    .and_then(|v| v.get(RESULT_VAR))
                    .cloned(),
                ex.issues,
                ex.aborted.as_ref().map(budget_message),
            )
        }
    };
    match value {
        Some(value) => Ok(Evaluated { value, phase }),
        None => Err(Failure::Runtime(
            aborted
                .or_else(|| {
                    issues
                        .into_iter()
                        .next()
                        .map(|i| unwrap_message(&i.message, wrapped))
                })
                .unwrap_or_else(|| "the expression produced no value".into()),
        )),
    }
}

fn budget_message(a: &sluice_policy::PolicyAbort) -> String {
    format!(
        "ERR_SLUICE_{}: the evaluation budget ran out: {}",
        sluice_policy::BUDGET_EXHAUSTED_CODE,
        a.reason
    )
}

fn generated_policy(
    template: &str,
    wrapped: bool,
    phase: Phase,
    registry: &Registry,
) -> Result<Policy, Failure> {
    let doc = serde_json::json!({
        phase.key(): [{
            "name": "sluice policy eval",
            "actions": [{
                "type": "set-vars",
                "config": { "vars": [{ RESULT_VAR: template }] },
            }],
        }],
    });
    load_policy(
        SOURCE_NAME,
        &doc.to_string(),
        registry,
        LoadOptions::default(),
    )
    .map_err(|e| {
        let mut diagnostics = e.diagnostics;
        for d in &mut diagnostics {
            d.message = unwrap_message(&d.message, wrapped);
        }
        Failure::Compile(diagnostics)
    })
}

/// Drops what the generated policy adds to a message: the `set-vars` field that carries the
/// expression, and the `${…}` wrapped around a plain expression.
fn unwrap_message(message: &str, wrapped: bool) -> String {
    let field = format!("CEL interpolation failed in action set-vars field {RESULT_VAR}: ");
    let m = message.strip_prefix(field.as_str()).unwrap_or(message);
    if !wrapped {
        return m.to_string();
    }
    match m.strip_prefix("in `${").and_then(|r| r.split_once("}`: ")) {
        Some((_, rest)) => rest.to_string(),
        None => m.to_string(),
    }
}

/// What `--format json` prints for one evaluation.
#[derive(Debug, Serialize)]
struct JsonResult<'a> {
    expression: &'a str,
    phase: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsonError>,
}

/// An error in `--format json` output.
#[derive(Debug, Serialize)]
pub(super) struct JsonError {
    /// `ERR_SLUICE_…` for load errors, absent for run-time failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What is wrong and what to change.
    pub message: String,
}

impl Failure {
    /// One line per problem, for text output.
    pub(super) fn lines(&self) -> Vec<String> {
        match self {
            Failure::Compile(diags) => diags
                .iter()
                .filter(|d| d.is_error())
                .map(|d| format!("error[{}]: {}", d.code, d.message))
                .collect(),
            Failure::Runtime(m) => vec![format!("error at run time: {m}")],
        }
    }

    /// The first problem, for JSON output.
    pub(super) fn json(&self) -> JsonError {
        match self {
            Failure::Compile(diags) => {
                let d = diags.iter().find(|d| d.is_error()).or(diags.first());
                JsonError {
                    code: d.map(|d| d.code.to_string()),
                    message: d.map_or_else(|| "does not compile".into(), |d| d.message.clone()),
                }
            }
            Failure::Runtime(m) => JsonError {
                code: None,
                message: m.clone(),
            },
        }
    }
}

/// `sluice policy eval EXPR`.
pub(super) async fn run(
    expr: &str,
    ctx: &EvalContext,
    registry: &Registry,
    format: Format,
) -> anyhow::Result<u8> {
    let phase = default_phase(&as_template(expr).0, ctx);
    let result = evaluate(expr, phase, ctx, registry).await;
    let ok = result.is_ok();
    match format {
        Format::Text => match &result {
            Ok(ev) => {
                println!("{}", literal(&ev.value));
                println!(
                    "  type: {} · phase: {}",
                    type_name(&ev.value),
                    ev.phase.key()
                );
            }
            Err(f) => {
                for line in f.lines() {
                    eprintln!("{line}");
                }
            }
        },
        Format::Json => {
            let out = JsonResult {
                expression: expr,
                phase: phase.key(),
                value: result.as_ref().ok().map(|e| json(&e.value)),
                r#type: result.as_ref().ok().map(|e| type_name(&e.value)),
                error: result.as_ref().err().map(Failure::json),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(if ok { 0 } else { 1 })
}

/// A value written as a CEL literal: `'text'`, `3`, `3u`, `[1, 2]`, `{'k': 'v'}`,
/// `timestamp('…')`, `duration('…')`.
pub(super) fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => format!("{u}u"),
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => format!("{f:.1}"),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Bytes(b) => format!("b{}", quote(&String::from_utf8_lossy(b))),
        Value::Timestamp(_) => format!("timestamp({})", quote(&to_text(v))),
        Value::Duration(_) => format!("duration({})", quote(&to_text(v))),
        Value::List(items) => {
            let inner: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Map(m) => {
            let mut entries: Vec<(String, String)> = m
                .map
                .iter()
                .filter(|(k, _)| !is_hidden(&Value::from((*k).clone())))
                .map(|(k, v)| (literal(&Value::from(k.clone())), literal(v)))
                .collect();
            entries.sort();
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => json(other).to_string(),
    }
}

/// Hidden keys (`__url`, `__client_ip`) hold the subfields of string-with-fields variables:
/// the engine's plumbing, not values a user can name.
fn is_hidden(key: &Value) -> bool {
    matches!(key, Value::String(s) if s.starts_with("__"))
}

/// A value as JSON, without hidden keys.
pub(super) fn json(v: &Value) -> serde_json::Value {
    let mut j = to_json(v);
    strip_hidden(&mut j);
    j
}

fn strip_hidden(j: &mut serde_json::Value) {
    match j {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !k.starts_with("__"));
            m.values_mut().for_each(strip_hidden);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_hidden),
        _ => {}
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
