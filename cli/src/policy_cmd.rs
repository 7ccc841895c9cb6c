//! `sluice policy check|explain|schema|test` and `sluice conformance run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use sluice_policy::{
    Diagnostic, IpPolicyNames, LoadOptions, Phase, Protocol, Registry, Severity, Termination,
    load_policy,
};

/// `sluice policy …`
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Check policy files; prints every error with file:line:column. Exit 0 valid, 1 invalid.
    Check {
        /// Policy files (YAML or JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// The endpoint protocol the policy is for (tcp and tls only allow on_tcp_connect).
        #[arg(long, value_parser = parse_protocol)]
        protocol: Option<Protocol>,
        /// Treat warnings as errors: unreachable actions after a terminating one, deprecated
        /// aliases and legacy names then fail the check (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Show each phase's rules in order, what each action does, and which end the phase.
    Explain {
        /// Policy file.
        file: PathBuf,
    },
    /// Print the policy JSON Schema (draft-07).
    Schema,
    /// Run policy test cases (`*.policytest.yml`) in-process, or live through a real edge.
    Test(sluice_conformance::cli::TestArgs),
    /// Evaluate a CEL expression or `${…}` template against a request, as the engine would,
    /// and print its value and type; or, with --policy, show which rules a request fires.
    Eval(sluice_conformance::eval::EvalArgs),
}

/// `sluice conformance …`
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    #[command(subcommand)]
    command: ConformanceCommand,
}

#[derive(Debug, Subcommand)]
enum ConformanceCommand {
    /// Run the conformance suite and report per feature.
    Run(sluice_conformance::cli::SuiteArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Human-readable.
    Text,
    /// JSON.
    Json,
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(s).ok_or_else(|| format!("unknown protocol `{s}`: use http, https, tcp or tls"))
}

/// Runs a `policy` subcommand.
pub fn run(args: PolicyArgs, registry: &Registry) -> anyhow::Result<u8> {
    match args.command {
        PolicyCommand::Check {
            files,
            format,
            protocol,
            strict,
        } => check(&files, format, protocol, strict, registry),
        PolicyCommand::Explain { file } => explain(&file, registry),
        PolicyCommand::Schema => {
            let schema = sluice_policy::schema::policy_schema(registry);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(0)
        }
        PolicyCommand::Test(args) => sluice_conformance::cli::run_tests(args, registry),
        PolicyCommand::Eval(args) => sluice_conformance::eval::run_eval(args, registry),
    }
}

/// Runs a `conformance` subcommand.
pub fn run_conformance(args: ConformanceArgs, registry: &Registry) -> anyhow::Result<u8> {
    match args.command {
        ConformanceCommand::Run(args) => sluice_conformance::cli::run_suite(args, registry),
    }
}

fn check(
    files: &[PathBuf],
    format: Format,
    protocol: Option<Protocol>,
    strict: bool,
    registry: &Registry,
) -> anyhow::Result<u8> {
    let mut all_ok = true;
    let mut report = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
        let result = load_policy(
            &name,
            &text,
            registry,
            LoadOptions {
                protocol,
                local_secrets: true,
                // Named IP policies live in an edge's config: named, not checked, here.
                ip_policies: IpPolicyNames::Deferred,
                shared_counters: None,
            },
        );
        let mut diagnostics = match &result {
            Ok(p) => p.warnings().to_vec(),
            Err(e) => e.diagnostics.clone(),
        };
        if strict {
            for d in &mut diagnostics {
                d.severity = Severity::Error;
            }
        }
        let valid = !diagnostics.iter().any(Diagnostic::is_error);
        all_ok &= valid;
        match format {
            Format::Text => {
                for d in &diagnostics {
                    eprintln!("{d}");
                }
                if valid {
                    println!("{name}: ok");
                } else {
                    let n = diagnostics.iter().filter(|d| d.is_error()).count();
                    println!("{name}: {n} error{}", if n == 1 { "" } else { "s" });
                }
            }
            Format::Json => report.push(serde_json::json!({
                "file": name,
                "valid": valid,
                "diagnostics": diagnostics.iter().map(|d| serde_json::json!({
                    "severity": if d.is_error() { "error" } else { "warning" },
                    "code": d.code.to_string(),
                    "line": d.loc.line,
                    "column": d.loc.col,
                    "path": d.path,
                    "message": d.message,
                })).collect::<Vec<_>>(),
            })),
        }
    }
    if let Format::Json = format {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if all_ok { 0 } else { 1 })
}

fn explain(file: &PathBuf, registry: &Registry) -> anyhow::Result<u8> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
    let options = LoadOptions {
        ip_policies: IpPolicyNames::Deferred,
        ..LoadOptions::default()
    };
    let policy = match load_policy(&name, &text, registry, options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    for w in policy.warnings() {
        eprintln!("{w}");
    }
    println!("{name}");
    if policy.is_empty() {
        println!("  (no rules: all traffic passes to the upstream)");
    }
    for phase in Phase::ALL {
        let rules = policy.rules(phase);
        if rules.is_empty() {
            continue;
        }
        println!(
            "\n{} — {} rule{}",
            phase.key(),
            rules.len(),
            if rules.len() == 1 { "" } else { "s" }
        );
        for (i, rule) in rules.iter().enumerate() {
            let label = rule.name.clone().unwrap_or_else(|| "(unnamed)".into());
            println!("  [{i}] {label}  (line {})", rule.loc.line);
            if rule.exprs.is_empty() {
                println!("      when: always");
            } else {
                for (j, e) in rule.exprs.iter().enumerate() {
                    let lead = if j == 0 { "when:" } else { "and: " };
                    println!("      {lead} {}", e.source());
                }
            }
            for a in &rule.actions {
                let end = match a.termination {
                    Termination::Always => "  → ends the phase",
                    Termination::WhenRejecting => "  → ends the phase when it rejects or redirects",
                    Termination::Never => "",
                };
                let summary = a.action.summary();
                let detail = if summary.is_empty() {
                    String::new()
                } else {
                    format!(": {summary}")
                };
                println!("      - {}{detail}{end}", a.type_name);
                println!("        {}", a.about);
            }
        }
    }
    Ok(0)
}
