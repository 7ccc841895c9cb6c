//! The `sluice policy test` and `sluice conformance run` commands.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use sluice_policy::Registry;

use crate::report::{self, Totals};
use crate::runner::{FileResult, discover, run_file};

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Readable text.
    Text,
    /// JSON.
    Json,
}

/// `sluice policy test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files or folders (searched for `*.policytest.yml`).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Only run cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Fail when fewer than this percentage of rules were fired by some case.
    #[arg(long)]
    pub fail_under: Option<f64>,
}

/// `sluice conformance run`.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The suite folder: one sub-folder per feature.
    #[arg(default_value = "conformance/suite")]
    pub suite: PathBuf,
    /// Write the JSON report here (text goes to stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn run_all(paths: &[PathBuf], registry: &Registry, filter: Option<&str>) -> Vec<FileResult> {
    discover(paths)
        .iter()
        .map(|p| run_file(p, registry, filter))
        .collect()
}

/// Runs `sluice policy test`; returns the exit code.
pub fn run_tests(args: TestArgs, registry: &Registry) -> anyhow::Result<u8> {
    let results = run_all(&args.paths, registry, args.filter.as_deref());
    if results.is_empty() {
        eprintln!("no *.policytest.yml files found");
        return Ok(1);
    }
    match args.format {
        Format::Text => print!("{}", report::text(&results)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report::json(&results))?),
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&results))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let totals = Totals::of(&results);
    let mut code = u8::from(totals.failed > 0);
    if let Some(min) = args.fail_under
        && totals.coverage() < min
    {
        eprintln!(
            "rule coverage {:.1}% is under the required {min}%",
            totals.coverage()
        );
        code = 1;
    }
    Ok(code)
}

/// Runs `sluice conformance run`; returns the exit code.
pub fn run_suite(args: SuiteArgs, registry: &Registry) -> anyhow::Result<u8> {
    let results = run_all(std::slice::from_ref(&args.suite), registry, None);
    let features = report::by_feature(&args.suite, &results);
    let mut rows = Vec::new();
    println!(
        "{:<28} {:>6} {:>6} {:>6}",
        "feature", "pass", "fail", "skip"
    );
    for (feature, files) in &features {
        let owned: Vec<FileResult> = files.iter().map(|f| (*f).clone()).collect();
        let t = Totals::of(&owned);
        let unsupported = owned.iter().any(|f| {
            f.error
                .as_deref()
                .is_some_and(|e| e.contains("unknown action type"))
        });
        let (pass, fail, skip) = if unsupported {
            (0, 0, owned.len())
        } else {
            (t.passed, t.failed, 0)
        };
        println!("{feature:<28} {pass:>6} {fail:>6} {skip:>6}");
        rows.push(json!({
            "feature": feature, "passed": pass, "failed": fail, "skipped": skip,
            "unsupported": unsupported,
        }));
    }
    let covered: Vec<&String> = features.keys().collect();
    let untested: Vec<&str> = registry
        .type_names()
        .into_iter()
        .filter(|t| !covered.iter().any(|c| c.as_str() == *t))
        .collect();
    if !untested.is_empty() {
        println!(
            "\nactions with no conformance folder: {}",
            untested.join(", ")
        );
    }
    let t = Totals::of(&results);
    let failed_features = rows
        .iter()
        .filter(|r| r["failed"].as_u64() != Some(0))
        .count();
    println!("\n{} passed, {} failed", t.passed, t.failed);
    if t.failed > 0 {
        print!(
            "{}",
            report::text(
                &results
                    .into_iter()
                    .filter(|r| !r.passed())
                    .collect::<Vec<_>>()
            )
        );
    }
    if let Some(path) = &args.json {
        let doc = json!({ "features": rows, "untested_actions": untested, "passed": t.passed, "failed": t.failed });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(u8::from(failed_features > 0 || t.failed > 0))
}
