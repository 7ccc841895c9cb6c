//! `sluice policy eval`: a CEL playground. Evaluates one expression (or a `${…}` template)
//! against a request the user describes, by running it through the real engine in the phase
//! asked for, and prints the value with its CEL type; or, with `--policy`, shows which of a
//! policy's rules that request would fire.

mod context;
mod probe;
mod rules;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sluice_policy::{Phase, Registry};

use crate::cli::Format;
pub use context::EvalContext;

/// `sluice policy eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A CEL expression (`req.url.query_params['b'][0]`) or a string with `${…}` interpolations.
    /// Optional with --policy.
    pub expr: Option<String>,
    /// The request: `[METHOD] URL`, the URL full (`https://x.test/a?b=1`) or a path on the
    /// endpoint (`/a?b=1`). Default `GET /`.
    #[arg(long, value_name = "REQUEST")]
    pub request: Option<String>,
    /// A request header, `name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// The request body.
    #[arg(long)]
    pub body: Option<String>,
    /// The client's IP address (default 203.0.113.7).
    #[arg(long, value_name = "IP")]
    pub client_ip: Option<String>,
    /// The TLS server name the client sent (makes `conn.tls.*` present).
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// The endpoint URL (default: the request URL's scheme and host, else
    /// `https://app.example.com`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The upstream's status code, for `on_http_response` (default 200).
    #[arg(long, value_name = "CODE")]
    pub response_status: Option<u16>,
    /// An upstream response header, `name: value` (repeatable).
    #[arg(long = "response-header", value_name = "HEADER")]
    pub response_headers: Vec<String>,
    /// The upstream's response body.
    #[arg(long, value_name = "BODY")]
    pub response_body: Option<String>,
    /// The phase to evaluate in (default: `on_http_response` when the expression reads `res`
    /// or a response is described, else `on_http_request`).
    #[arg(long, value_enum)]
    pub phase: Option<EvalPhase>,
    /// A YAML or JSON file describing the request (`endpoint`, `phase`, `conn`, `request`,
    /// `response`, as in `*.policytest.yml` cases); flags override it.
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// Instead of one expression, run this policy file's rules on the request and show which
    /// fire, with the value of each expression.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// With --policy: also print the policy trace the edge would record for the inspector
    /// (each expression's result, each action and what it changed).
    #[arg(long, requires = "policy")]
    pub trace: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// A phase, spelled as in policy files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
pub enum EvalPhase {
    /// `on_tcp_connect`.
    #[value(name = "on_tcp_connect")]
    #[serde(rename = "on_tcp_connect")]
    TcpConnect,
    /// `on_http_request`.
    #[value(name = "on_http_request")]
    #[serde(rename = "on_http_request")]
    HttpRequest,
    /// `on_http_response`.
    #[value(name = "on_http_response")]
    #[serde(rename = "on_http_response")]
    HttpResponse,
}

impl From<EvalPhase> for Phase {
    fn from(p: EvalPhase) -> Phase {
        match p {
            EvalPhase::TcpConnect => Phase::TcpConnect,
            EvalPhase::HttpRequest => Phase::HttpRequest,
            EvalPhase::HttpResponse => Phase::HttpResponse,
        }
    }
}

/// Runs `sluice policy eval`. Exit code 0 when the expression evaluated (or the policy ran),
/// 1 when it did not compile or failed at run time, 2 on a bad request description.
pub fn run_eval(args: EvalArgs, registry: &Registry) -> anyhow::Result<u8> {
    let ctx = match EvalContext::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match (&args.policy, &args.expr) {
        (Some(file), None) => {
            runtime.block_on(rules::run(file, &ctx, registry, args.format, args.trace))
        }
        (None, Some(expr)) => runtime.block_on(probe::run(expr, &ctx, registry, args.format)),
        (Some(_), Some(_)) => {
            eprintln!("error: give an expression or --policy FILE, not both");
            Ok(2)
        }
        (None, None) => {
            eprintln!("error: give an expression to evaluate, or --policy FILE");
            Ok(2)
        }
    }
}
