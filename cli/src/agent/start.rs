//! `sluice start [names…] [--all | --none]`: the endpoints (v3 `endpoints:`) and tunnels (legacy
//! v2 `tunnels:`) of the config files, bound on one session, each forwarded to its upstream.

use anyhow::bail;
use clap::Args;
use sluice_agent::config::{self, ResolvedEndpoint};

use super::args::{SessionArgs, Settings};

/// Arguments of `sluice start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Endpoint or tunnel names from the config to start.
    pub names: Vec<String>,
    /// Start every endpoint and tunnel in the config.
    #[arg(long, conflicts_with_all = ["names", "none"])]
    pub all: bool,
    /// Start no endpoint: only the session (and the web interface).
    #[arg(long, conflicts_with = "names")]
    pub none: bool,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// The settings and endpoints `sluice start` runs with, and the config's warnings.
pub fn plan(args: &StartArgs) -> anyhow::Result<(Settings, Vec<ResolvedEndpoint>, Vec<String>)> {
    let cfg = config::load(&args.session.config)?;
    if cfg.files.is_empty() {
        match config::default_path() {
            Some(p) => bail!(
                "no config file: {} does not exist (give --config PATH)",
                p.display()
            ),
            None => bail!("no config file (give --config PATH)"),
        }
    }
    if args.names.is_empty() && !args.all && !args.none {
        bail!("name the endpoints to start, or give --all or --none");
    }
    let endpoints = match args.none {
        true => Vec::new(),
        false => cfg.resolve(&args.names, args.all)?,
    };
    if endpoints.is_empty() && !args.none {
        bail!(
            "the config has no endpoints or tunnels ({})",
            cfg.files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let settings = args.session.settings(&cfg)?;
    Ok((settings, endpoints, cfg.warnings))
}
