//! `sluice config add-authtoken|check` (and `sluice authtoken`, ngrok's spelling of the first):
//! edit and validate agent config files.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use sluice_agent::config;
use sluice_policy::Registry;

/// Arguments of `sluice config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

/// Arguments of `sluice config add-authtoken` and `sluice authtoken`.
#[derive(Debug, Args)]
pub struct AuthtokenArgs {
    /// The authtoken.
    token: String,
    /// The file to edit (default: $XDG_CONFIG_HOME/sluice/sluice.yml, else
    /// ~/.config/sluice/sluice.yml).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Save an authtoken in the config file (created with `version: 3` when missing).
    AddAuthtoken(AuthtokenArgs),
    /// Validate a config file, its upstreams and every traffic policy (file:line:col errors).
    Check {
        /// The file to check (default: the default config file).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn path_or_default(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match path {
        Some(p) => Ok(p),
        None => config::default_path()
            .context("no default config path (set HOME or XDG_CONFIG_HOME, or give --config)"),
    }
}

/// Runs `sluice config`. Returns the exit code.
pub fn run(args: ConfigArgs, registry: &Registry) -> anyhow::Result<u8> {
    match args.command {
        ConfigCommand::AddAuthtoken(args) => add_authtoken(args),
        ConfigCommand::Check { config: path } => {
            let path = path_or_default(path)?;
            match config::check(&path, registry) {
                Ok(report) => {
                    for w in &report.warnings {
                        eprintln!("warning: {w}");
                    }
                    println!("Valid configuration file at {}", path.display());
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(1)
                }
            }
        }
    }
}

/// Saves an authtoken in the config file. Returns the exit code.
pub fn add_authtoken(args: AuthtokenArgs) -> anyhow::Result<u8> {
    let path = path_or_default(args.config)?;
    match config::add_authtoken(&path, &args.token) {
        Ok(()) => {
            println!("Authtoken saved to configuration file: {}", path.display());
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(1)
        }
    }
}
