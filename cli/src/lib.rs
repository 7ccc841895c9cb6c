//! The `sluice` command line. Thin: it parses flags and calls the crates.
//!
//! Custom actions: build your own binary that calls [`main_with`] with a registry holding the
//! built-in actions plus yours (see `examples/custom-action/`).

mod agent;
mod config_cmd;
mod edge_cmd;
mod log;
mod policy_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_agent::EndpointKind;
use sluice_policy::Registry;

/// Command-line interface.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Self-hosted tunnels and reverse proxy with Traffic Policy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, explain, test and describe Traffic Policy files.
    Policy(policy_cmd::PolicyArgs),
    /// Run the project's conformance suite (or another folder of cases).
    Conformance(policy_cmd::ConformanceArgs),
    /// Run an edge: the public reverse proxy that routes by host and runs Traffic Policies.
    Edge(edge_cmd::EdgeArgs),
    /// Expose a local HTTP service through a tunnel (an embedded edge unless --connect-url).
    Http(agent::EndpointArgs),
    /// Expose a local TCP service through a tunnel (a public TCP port on the edge).
    Tcp(agent::EndpointArgs),
    /// Expose a local TLS service through a tunnel (routed by SNI, passed through unopened).
    Tls(agent::EndpointArgs),
    /// Start endpoints and tunnels from the agent config files.
    Start(agent::StartArgs),
    /// Edit and validate the agent config file.
    Config(config_cmd::ConfigArgs),
    /// Save an authtoken in the agent config file (as `config add-authtoken`).
    Authtoken(config_cmd::AuthtokenArgs),
}

/// Runs the CLI with the given action registry. Exit codes: 0 success, 1 the input is invalid
/// or a test failed, 2 usage error.
pub fn main_with(registry: Registry) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Policy(args) => policy_cmd::run(args, &registry),
        Command::Conformance(args) => policy_cmd::run_conformance(args, &registry),
        Command::Edge(args) => edge_cmd::run(args, &registry),
        Command::Http(args) => agent::run_endpoint(EndpointKind::Http, args, &registry),
        Command::Tcp(args) => agent::run_endpoint(EndpointKind::Tcp, args, &registry),
        Command::Tls(args) => agent::run_endpoint(EndpointKind::Tls, args, &registry),
        Command::Start(args) => agent::run_start(args, &registry),
        Command::Config(args) => config_cmd::run(args, &registry),
        Command::Authtoken(args) => config_cmd::add_authtoken(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
