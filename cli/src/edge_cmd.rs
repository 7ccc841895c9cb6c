//! `sluice edge --config edge.yml`: loads the edge config (every error printed with its
//! line:column, exit 1, nothing started), then runs the edge in the foreground. SIGHUP, or a
//! change to the file, reloads it; an invalid new config is refused and the old one keeps
//! serving.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sluice_policy::Registry;

use crate::log::{LogArgs, LogSetup};

/// Arguments of `sluice edge`.
#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// The edge config file (YAML, `version: 1`).
    #[arg(long, short)]
    config: PathBuf,
    /// The log (default: `--log stderr`, `term`, `info`).
    #[command(flatten)]
    log: LogArgs,
}

/// How the edge reads an upstream, as printed at start-up: the URL as written, and where it
/// goes when that is not spelled out (`443` → `https://[::1]:443`, say).
fn upstream_text(up: &sluice_proxy::config::Upstream) -> String {
    match &up.target {
        sluice_proxy::config::Target::Address(a) => {
            let scheme = if a.tls { "https" } else { "http" };
            let verify = if a.tls && a.tls_verify {
                ", certificate verified"
            } else {
                ""
            };
            format!("{} ({scheme}://{}{verify})", up.url, a.addr)
        }
        _ => up.url.clone(),
    }
}

/// Runs `sluice edge`. Returns the exit code.
pub fn run(args: EdgeArgs, registry: &Registry) -> anyhow::Result<u8> {
    match LogSetup::from_args(&args.log, "stderr") {
        Ok(log) => log.install()?,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    }
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
        eprintln!("  {} -> {}", ep.info.url, upstream_text(&ep.upstream));
    }
    // `oauth` / `openid-connect` seal sessions with a key kept in the state dir, so a
    // restart keeps users logged in.
    sluice_modules::load_or_create_session_key(&config.state_dir).with_context(|| {
        format!(
            "session key in {} (oauth / openid-connect)",
            config.state_dir.display()
        )
    })?;
    sluice_proxy::run(config, args.config, registry.clone())?;
    Ok(0)
}
