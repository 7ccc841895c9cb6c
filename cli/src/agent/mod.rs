//! The agent commands: `sluice http|tcp|tls UPSTREAM` bind one endpoint, `sluice start` the
//! endpoints of config files. Each runs one session to an edge (one embedded in this process
//! unless a connect URL is given) that reconnects by itself, forwards every endpoint to its own
//! upstream, and serves the inspector on 127.0.0.1:4040.
//!
//! Files: [`args`] (flags → endpoint and settings), [`legacy`] (deprecated flags → policy),
//! [`embedded`] (the in-process edge), [`policy_url`] (`--traffic-policy-url`), [`run`] (the
//! session, handed to `sluice_agent::runner`, whose events it prints), [`print`] (console
//! lines), [`console`] (the full-screen console on a terminal), [`sources`] (where each setting
//! came from, for `/status`), [`start`] (config-file endpoints). Logs go through [`crate::log`].

mod args;
pub mod console;
mod embedded;
mod legacy;
mod policy_url;
mod print;
mod run;
mod sources;
mod start;

pub use args::EndpointArgs;
pub use start::StartArgs;

use anyhow::Context;
use sluice_agent::EndpointKind;
use sluice_agent::config;
use sluice_policy::Registry;

/// The agent's runtime. An agent that connects to a remote edge runs on one worker thread:
/// its work is one tunnel session feeding short tasks, and with a second worker every hand-off
/// between them can wake the other thread. In bench/ one thread took ~20 % less CPU per
/// tunnelled request and half the context switches, at the same HTTP and TCP throughput.
/// With the embedded edge (no connect URL) it keeps one worker per core, since it also serves
/// the public side. `TOKIO_WORKER_THREADS` overrides both.
fn runtime(settings: &args::Settings) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if settings.connect_url.is_some() && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.enable_all().build().context("starting the runtime")
}

/// Runs `sluice http|tcp|tls` for an endpoint of `kind`. Returns the exit code.
pub fn run_endpoint(
    kind: EndpointKind,
    args: EndpointArgs,
    registry: &Registry,
) -> anyhow::Result<u8> {
    let (endpoint, warnings) = match args.resolve(kind, registry) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    for w in &warnings {
        eprintln!("{w}");
    }
    let mut settings = match config::load(&args.session.config)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| {
            print_warnings(&cfg.warnings);
            args.session.settings(&cfg)
        }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    if let Some(log) = settings.log.take() {
        log.install()?;
    }
    runtime(&settings)?.block_on(run::run(settings, vec![endpoint], registry.clone()))
}

/// Shows the config's warnings (keys sluice reads but cannot act on).
fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Runs `sluice start`. Returns the exit code.
pub fn run_start(args: StartArgs, registry: &Registry) -> anyhow::Result<u8> {
    let (mut settings, endpoints) = match start::plan(&args) {
        Ok((settings, endpoints, warnings)) => {
            print_warnings(&warnings);
            (settings, endpoints)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    if let Some(log) = settings.log.take() {
        log.install()?;
    }
    runtime(&settings)?.block_on(run::run(settings, endpoints, registry.clone()))
}
