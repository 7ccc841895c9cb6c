//! The `sluice policy test` and `sluice conformance run` commands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use sluice_policy::Registry;

use crate::live::{KnownGaps, LiveOptions, LiveRunner};
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
    /// Fail when fewer than this percentage of rules were fired by some case (in-process only).
    #[arg(long)]
    pub fail_under: Option<f64>,
    /// Live mode.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// The live mode's flags, shared by `policy test` and `conformance run`.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Send the cases as real HTTP through a real `sluice edge` (one per case) to an echo
    /// upstream started by the runner, instead of running them in-process.
    #[arg(long)]
    pub live: bool,
    /// Send the cases to this edge you already run (implies --live). It must route the URL to
    /// the echo upstream (see --echo-addr) with the test file's policy.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The binary whose `edge` subcommand is started (default: this program).
    #[arg(long, value_name = "PATH")]
    pub edge_bin: Option<PathBuf>,
    /// Bind the echo upstream here (default 127.0.0.1:0; the address is printed).
    #[arg(long, value_name = "ADDR")]
    pub echo_addr: Option<SocketAddr>,
    /// Cases known to fail live because of an edge gap: skipped with their reason (default for
    /// `conformance run`: `live-known-gaps.yml` beside the suite folder, when it exists).
    #[arg(long, value_name = "FILE")]
    pub known_gaps: Option<PathBuf>,
}

impl LiveArgs {
    fn enabled(&self) -> bool {
        self.live || self.target.is_some()
    }

    fn runner(&self, default_gaps: Option<&Path>) -> anyhow::Result<LiveRunner> {
        let edge_bin = match &self.edge_bin {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("finding this program for `edge`")?,
        };
        let gaps_file = self
            .known_gaps
            .clone()
            .or_else(|| default_gaps.filter(|p| p.exists()).map(Path::to_path_buf));
        let known_gaps = match &gaps_file {
            Some(p) => KnownGaps::load(p).map_err(anyhow::Error::msg)?,
            None => KnownGaps::default(),
        };
        let runner = LiveRunner::new(LiveOptions {
            edge_bin,
            target: self.target.clone(),
            echo_addr: self.echo_addr,
            known_gaps,
        })
        .map_err(anyhow::Error::msg)?;
        match &self.target {
            Some(t) => eprintln!(
                "live: sending to {t}; route it to the echo upstream http://{}",
                runner.echo_addr()
            ),
            None => eprintln!(
                "live: one `sluice edge` per case, echo upstream on http://{}",
                runner.echo_addr()
            ),
        }
        Ok(runner)
    }
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
    /// Live mode.
    #[command(flatten)]
    pub live: LiveArgs,
}

fn run_all(
    paths: &[PathBuf],
    registry: &Registry,
    filter: Option<&str>,
    live: Option<&LiveRunner>,
) -> Vec<FileResult> {
    discover(paths)
        .iter()
        .map(|p| match live {
            Some(runner) => runner.run_file(p, registry, filter),
            None => run_file(p, registry, filter),
        })
        .collect()
}

/// Runs `sluice policy test`; returns the exit code.
pub fn run_tests(args: TestArgs, registry: &Registry) -> anyhow::Result<u8> {
    if args.live.enabled() && args.fail_under.is_some() {
        anyhow::bail!(
            "--fail-under needs the in-process mode: live, fired rules are not observable"
        );
    }
    let live = args
        .live
        .enabled()
        .then(|| args.live.runner(None))
        .transpose()?;
    let results = run_all(&args.paths, registry, args.filter.as_deref(), live.as_ref());
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
    let default_gaps = args.suite.parent().map(|p| p.join("live-known-gaps.yml"));
    let live = args
        .live
        .enabled()
        .then(|| args.live.runner(default_gaps.as_deref()))
        .transpose()?;
    let results = run_all(
        std::slice::from_ref(&args.suite),
        registry,
        None,
        live.as_ref(),
    );
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
            (t.passed, t.failed, t.skipped)
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
    println!(
        "\n{} passed, {} failed, {} skipped{}",
        t.passed,
        t.failed,
        t.skipped,
        if live.is_some() { " (live)" } else { "" }
    );
    if live.is_some() && t.skipped > 0 {
        println!("\nskipped live:");
        for r in &results {
            for c in &r.cases {
                if let Some(reason) = &c.skipped {
                    println!("  {} :: {} ({reason})", r.path.display(), c.name);
                }
            }
        }
    }
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
        let doc = json!({
            "mode": if live.is_some() { "live" } else { "in-process" },
            "features": rows, "untested_actions": untested,
            "passed": t.passed, "failed": t.failed, "skipped": t.skipped,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(u8::from(failed_features > 0 || t.failed > 0))
}
