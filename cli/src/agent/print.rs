//! What the agent prints: the console lines ngrok prints (`Session Status`, `Forwarding`,
//! `Web Interface`) on standard output, and the log (`--log`, `--log-level`, `--log-format`).

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};

/// Prints one console line, label padded like ngrok's.
pub fn console(label: &str, value: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{label:<30}{value}");
    let _ = out.flush();
}

/// Log severity, most verbose first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Details.
    Debug,
    /// Normal events.
    Info,
    /// Something odd.
    Warn,
    /// A failure.
    Error,
    /// A fatal failure.
    Crit,
}

impl Level {
    fn parse(s: &str) -> anyhow::Result<Level> {
        Ok(match s {
            "debug" | "trace" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            "crit" => Level::Crit,
            other => {
                bail!("unknown log level `{other}` (expected debug, info, warn, error or crit)")
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "dbug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "eror",
            Level::Crit => "crit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Term,
    Logfmt,
    Json,
}

#[derive(Debug)]
enum Sink {
    Off,
    Stdout,
    Stderr,
    File(Mutex<File>),
}

/// The agent's log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Logger {
    sink: Arc<Sink>,
    level: Level,
    format: Format,
}

impl Logger {
    /// A logger writing to `target` (`stdout`, `stderr`, `false` or a file path appended to;
    /// default off) at `level` (default `info`) in `format` (`term`, `logfmt` or `json`).
    pub fn new(
        target: Option<&str>,
        level: Option<&str>,
        format: Option<&str>,
    ) -> anyhow::Result<Logger> {
        let sink = match target.unwrap_or("false") {
            "false" | "" | "none" => Sink::Off,
            "stdout" => Sink::Stdout,
            "stderr" => Sink::Stderr,
            path => Sink::File(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the log file {path}"))?,
            )),
        };
        let format = match format.unwrap_or("term") {
            "term" => Format::Term,
            "logfmt" => Format::Logfmt,
            "json" => Format::Json,
            other => bail!("unknown log format `{other}` (expected term, logfmt or json)"),
        };
        Ok(Logger {
            sink: Arc::new(sink),
            level: Level::parse(level.unwrap_or("info"))?,
            format,
        })
    }

    /// Logs `msg` with `fields` at `level`.
    pub fn log(&self, level: Level, msg: &str, fields: &[(&str, &str)]) {
        if level < self.level || matches!(*self.sink, Sink::Off) {
            return;
        }
        let line = self.render(level, msg, fields);
        match &*self.sink {
            Sink::Off => {}
            Sink::Stdout => {
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::File(f) => {
                let mut f = f.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    /// Logs at info.
    pub fn info(&self, msg: &str, fields: &[(&str, &str)]) {
        self.log(Level::Info, msg, fields);
    }

    /// Logs at warn.
    pub fn warn(&self, msg: &str, fields: &[(&str, &str)]) {
        self.log(Level::Warn, msg, fields);
    }

    fn render(&self, level: Level, msg: &str, fields: &[(&str, &str)]) -> String {
        let t = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        match self.format {
            Format::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("t".into(), t.into());
                obj.insert("lvl".into(), level.as_str().into());
                obj.insert("msg".into(), msg.into());
                for (k, v) in fields {
                    obj.insert((*k).into(), (*v).into());
                }
                format!("{}\n", serde_json::Value::Object(obj))
            }
            Format::Logfmt | Format::Term => {
                let mut s = format!("t={t} lvl={} msg={}", level.as_str(), logfmt_value(msg));
                for (k, v) in fields {
                    let _ = write!(s, " {k}={}", logfmt_value(v));
                }
                s.push('\n');
                s
            }
        }
    }
}

/// A logfmt value: bare when it has no spaces, quotes or `=`, else quoted.
fn logfmt_value(v: &str) -> String {
    if !v.is_empty() && !v.contains([' ', '"', '=', '\n', '\t']) {
        v.to_owned()
    } else {
        serde_json::to_string(v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_formats() -> anyhow::Result<()> {
        let l = Logger::new(Some("false"), Some("debug"), Some("json"))?;
        let line = l.render(Level::Info, "started tunnel", &[("url", "http://a")]);
        let v: serde_json::Value = serde_json::from_str(&line)?;
        assert_eq!(v["msg"], "started tunnel");
        assert_eq!(v["url"], "http://a");
        let l = Logger::new(None, None, Some("logfmt"))?;
        let line = l.render(Level::Warn, "x y", &[("k", "v")]);
        assert!(line.contains("lvl=warn msg=\"x y\" k=v"), "{line}");
        assert!(Logger::new(None, Some("loud"), None).is_err());
        assert!(Logger::new(None, None, Some("xml")).is_err());
        Ok(())
    }
}
