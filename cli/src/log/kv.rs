//! The `logfmt` and `json` line formats: `t=… lvl=… msg=… key=value…` (or the same keys as
//! one JSON object per line), the shape and level names ngrok's agent writes, so tools that
//! read ngrok's log read ours.
//!
//! Written here rather than taken from a crate: tracing-subscriber has no logfmt formatter,
//! its JSON formatter nests fields under `fields` with its own key names, and the logfmt
//! crates on the registry use their own keys (`ts`, `level`) and level spellings; this is one
//! small `FormatEvent` for both.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// One line per event: logfmt, or JSON when `json`.
#[derive(Debug, Clone, Copy)]
pub struct KvFormat {
    /// JSON objects instead of logfmt.
    pub json: bool,
}

/// ngrok's spelling of a level.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE | Level::DEBUG => "dbug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "eror",
    }
}

/// A field's value: text, or a number or boolean (bare in JSON).
enum Value {
    Text(String),
    Raw(String),
}

/// Collects an event's message and fields.
#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(&'static str, Value)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .push((field.name(), Value::Text(value.to_owned())));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.push((field.name(), Value::Text(text)));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .push((field.name(), Value::Raw(value.to_string())));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .push((field.name(), Value::Raw(value.to_string())));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let text = if value.is_finite() {
            value.to_string()
        } else {
            format!("\"{value}\"")
        };
        self.fields.push((field.name(), Value::Raw(text)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .push((field.name(), Value::Raw(value.to_string())));
    }
}

/// A logfmt value: bare when it needs no quoting, else a quoted, escaped string.
fn logfmt_value(out: &mut String, v: &str) {
    let bare = !v.is_empty()
        && !v
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c == '\\' || c.is_control());
    if bare {
        out.push_str(v);
    } else {
        json_string(out, v);
    }
}

/// `v` as a JSON string literal.
fn json_string(out: &mut String, v: &str) {
    out.push_str(&serde_json::Value::from(v).to_string());
}

impl KvFormat {
    /// The line for an event at `level` from `target` with `fields`, at time `t`.
    fn render(&self, t: &str, level: &Level, target: &str, f: &Fields) -> String {
        let mut out = String::with_capacity(128);
        let pairs = [
            ("t", t),
            ("lvl", level_name(level)),
            ("msg", f.message.as_str()),
            ("obj", target),
        ];
        if self.json {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{k}\":");
                json_string(&mut out, v);
            }
            for (k, v) in &f.fields {
                out.push(',');
                json_string(&mut out, k);
                out.push(':');
                match v {
                    Value::Text(s) => json_string(&mut out, s),
                    Value::Raw(s) => out.push_str(s),
                }
            }
            out.push('}');
        } else {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}=");
                logfmt_value(&mut out, v);
            }
            for (k, v) in &f.fields {
                let _ = write!(out, " {k}=");
                match v {
                    Value::Text(s) => logfmt_value(&mut out, s),
                    Value::Raw(s) => out.push_str(s.trim_matches('"')),
                }
            }
        }
        out
    }
}

impl<S, N> FormatEvent<S, N> for KvFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let t = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let meta = event.metadata();
        let line = self.render(&t, meta.level(), meta.target(), &fields);
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            message: "started endpoint".into(),
            fields: vec![
                ("url", Value::Text("http://a b".into())),
                ("n", Value::Raw("3".into())),
                ("ok", Value::Raw("true".into())),
            ],
        }
    }

    #[test]
    fn json_lines() -> anyhow::Result<()> {
        let line = KvFormat { json: true }.render("T", &Level::WARN, "sluice_proxy", &fields());
        let v: serde_json::Value = serde_json::from_str(&line)?;
        assert_eq!(v["lvl"], "warn");
        assert_eq!(v["msg"], "started endpoint");
        assert_eq!(v["obj"], "sluice_proxy");
        assert_eq!(v["url"], "http://a b");
        assert_eq!(v["n"], 3);
        assert_eq!(v["ok"], true);
        Ok(())
    }

    #[test]
    fn logfmt_lines() {
        let line = KvFormat { json: false }.render("T", &Level::ERROR, "x", &fields());
        assert_eq!(
            line,
            "t=T lvl=eror msg=\"started endpoint\" obj=x url=\"http://a b\" n=3 ok=true"
        );
    }
}
