//! The agent commands: `sluice http|tcp|tls UPSTREAM` bind one endpoint, `sluice start` the
//! endpoints of config files. Each runs one session to an edge (one embedded in this process
//! unless a connect URL is given) that reconnects by itself, forwards every endpoint to its own
//! upstream, and serves the inspector on 127.0.0.1:4040.
//!
//! Files: [`args`] (flags → endpoint and settings), [`legacy`] (deprecated flags → policy),
//! [`embedded`] (the in-process edge), [`run`] (session and run loop), [`print`] (console and
//! log), [`start`] (config-file endpoints).

mod args;
mod embedded;
mod legacy;
mod print;
mod run;
mod start;

pub use args::EndpointArgs;
pub use start::StartArgs;

use anyhow::Context;
use sluice_agent::EndpointKind;
use sluice_agent::config;
use sluice_policy::Registry;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Runs `sluice http|tcp|tls` for an endpoint of `kind`. Returns the exit code.
pub fn run_endpoint(
    kind: EndpointKind,
    args: EndpointArgs,
    registry: &Registry,
) -> anyhow::Result<u8> {
    let (endpoint, warnings) = match args.resolve(kind) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    for w in &warnings {
        eprintln!("{w}");
    }
    let settings = match config::load(&args.session.config)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| args.session.settings(&cfg.agent))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    runtime()?.block_on(run::run(settings, vec![endpoint], registry.clone()))
}

/// Runs `sluice start`. Returns the exit code.
pub fn run_start(args: StartArgs, registry: &Registry) -> anyhow::Result<u8> {
    let (settings, endpoints) = match start::plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    runtime()?.block_on(run::run(settings, endpoints, registry.clone()))
}
