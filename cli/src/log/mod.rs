//! The process's one log pipeline: every crate logs with `tracing`, and the command that runs
//! (`sluice edge`, `sluice http|tcp|tls|start`) installs one `tracing-subscriber` here from
//! `--log` (`stdout`, `stderr`, `false` or a file appended to), `--log-level` and
//! `--log-format` (`term`, `logfmt`, `json`).
//!
//! The level applies to sluice's own crates; other crates' events pass at `warn` and above
//! (or at the chosen level when it is stricter), so `debug` does not drown in dependencies.

mod kv;

use std::io::IsTerminal;
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::Args;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;

pub use kv::KvFormat;

/// The log flags every long-running command shares.
#[derive(Debug, Clone, Default, Args)]
pub struct LogArgs {
    /// Where to log: `stdout`, `stderr`, `false` or a file path (appended to).
    #[arg(long)]
    pub log: Option<String>,
    /// `debug`, `info`, `warn`, `error` or `crit` (`trace` and `warning` are accepted too).
    #[arg(long)]
    pub log_level: Option<String>,
    /// `term`, `logfmt` or `json`.
    #[arg(long)]
    pub log_format: Option<String>,
}

/// Where log lines go.
#[derive(Debug)]
enum Sink {
    Off,
    Stdout,
    Stderr,
    File(std::fs::File),
}

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Term,
    Logfmt,
    Json,
}

/// A validated log setting, ready to install.
#[derive(Debug)]
pub struct LogSetup {
    sink: Sink,
    level: LevelFilter,
    format: Format,
}

/// Parses a `--log-level` value.
fn parse_level(s: &str) -> anyhow::Result<LevelFilter> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" | "warning" => LevelFilter::WARN,
        "error" | "crit" => LevelFilter::ERROR,
        other => {
            bail!("unknown log level `{other}` (expected debug, info, warn, error or crit)")
        }
    })
}

impl LogSetup {
    /// The setting for `target` (default `default_target`), `level` (default `info`) and
    /// `format` (default `term`); a file target is opened (appended to) now.
    pub fn new(
        target: Option<&str>,
        level: Option<&str>,
        format: Option<&str>,
        default_target: &str,
    ) -> anyhow::Result<LogSetup> {
        let sink = match target.unwrap_or(default_target) {
            "false" | "" | "none" => Sink::Off,
            "stdout" => Sink::Stdout,
            "stderr" => Sink::Stderr,
            path => Sink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the log file {path}"))?,
            ),
        };
        let format = match format.unwrap_or("term") {
            "term" => Format::Term,
            "logfmt" => Format::Logfmt,
            "json" => Format::Json,
            other => bail!("unknown log format `{other}` (expected term, logfmt or json)"),
        };
        Ok(LogSetup {
            sink,
            level: parse_level(level.unwrap_or("info"))?,
            format,
        })
    }

    /// The setting the flags ask for, `default_target` when `--log` is absent.
    pub fn from_args(args: &LogArgs, default_target: &str) -> anyhow::Result<LogSetup> {
        Self::new(
            args.log.as_deref(),
            args.log_level.as_deref(),
            args.log_format.as_deref(),
            default_target,
        )
    }

    /// Whether the lines go to a terminal (standard output or error that is one).
    pub fn writes_to_terminal(&self) -> bool {
        match self.sink {
            Sink::Off | Sink::File(_) => false,
            Sink::Stdout => std::io::stdout().is_terminal(),
            Sink::Stderr => std::io::stderr().is_terminal(),
        }
    }

    /// Which events pass: sluice's crates at the chosen level, others at `warn` or stricter.
    fn filter(&self) -> Targets {
        let others = self.level.min(LevelFilter::WARN);
        Targets::new()
            .with_default(others)
            .with_target("sluice", self.level)
    }

    /// Installs the subscriber for the whole process. Call once, before anything logs; a
    /// second call (another command in the same process, as in tests) keeps the first.
    pub fn install(self) -> anyhow::Result<()> {
        let filter = self.filter();
        let (writer, terminal) = match self.sink {
            Sink::Off => return Ok(()),
            Sink::Stdout => (
                BoxMakeWriter::new(std::io::stdout),
                std::io::stdout().is_terminal(),
            ),
            Sink::Stderr => (
                BoxMakeWriter::new(std::io::stderr),
                std::io::stderr().is_terminal(),
            ),
            Sink::File(file) => (BoxMakeWriter::new(Mutex::new(file)), false),
        };
        let builder = tracing_subscriber::fmt().with_writer(writer);
        let subscriber: Box<dyn tracing::Subscriber + Send + Sync> = match self.format {
            Format::Term => Box::new(builder.with_ansi(terminal).finish().with(filter)),
            Format::Logfmt => Box::new(
                builder
                    .event_format(KvFormat { json: false })
                    .finish()
                    .with(filter),
            ),
            Format::Json => Box::new(
                builder
                    .event_format(KvFormat { json: true })
                    .finish()
                    .with(filter),
            ),
        };
        // Err only when a subscriber is installed already: the first one stays.
        let _ = tracing::subscriber::set_global_default(subscriber);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_settings() -> anyhow::Result<()> {
        let s = LogSetup::new(None, Some("crit"), Some("json"), "false")?;
        assert!(matches!(s.sink, Sink::Off));
        assert_eq!((s.level, s.format), (LevelFilter::ERROR, Format::Json));
        let s = LogSetup::new(Some("stderr"), None, None, "false")?;
        assert!(matches!(s.sink, Sink::Stderr));
        assert_eq!((s.level, s.format), (LevelFilter::INFO, Format::Term));
        assert!(LogSetup::new(None, Some("loud"), None, "false").is_err());
        assert!(LogSetup::new(None, None, Some("xml"), "false").is_err());
        Ok(())
    }

    #[test]
    fn dependencies_stay_at_warn() {
        use tracing::Level;
        let s = LogSetup::new(None, Some("debug"), None, "false").ok();
        let f = s.map(|s| s.filter());
        let f = f.as_ref();
        assert!(f.is_some_and(|f| f.would_enable("sluice_proxy::server", &Level::DEBUG)));
        assert!(f.is_some_and(|f| !f.would_enable("yamux::connection", &Level::DEBUG)));
        assert!(f.is_some_and(|f| f.would_enable("yamux::connection", &Level::WARN)));
    }
}
