//! `sluice edge --config edge.yml`: loads the edge config (every error printed with its
//! line:column, exit 1, nothing started), then runs the edge in the foreground. SIGHUP, or a
//! change to the file, reloads it; an invalid new config is refused and the old one keeps
//! serving.

use std::path::PathBuf;

use clap::Args;
use sluice_policy::Registry;

/// Arguments of `sluice edge`.
#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// The edge config file (YAML, `version: 1`).
    #[arg(long, short)]
    config: PathBuf,
}

/// Runs `sluice edge`. Returns the exit code.
pub fn run(args: EdgeArgs, registry: &Registry) -> anyhow::Result<u8> {
    let config = match sluice_proxy::load_file(&args.config, registry) {
        Ok(c) => c,
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("{d}");
            }
            let n = e.diagnostics.iter().filter(|d| d.is_error()).count();
            eprintln!("error: the edge config has {n} error(s); nothing was started");
            return Ok(1);
        }
    };
    for ep in &config.endpoints {
        eprintln!("  {} -> {}", ep.info.url, ep.upstream.url);
    }
    sluice_proxy::run(config, args.config, registry.clone())?;
    Ok(0)
}
