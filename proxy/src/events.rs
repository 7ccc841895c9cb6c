//! Events: one JSON line per finished request (`http_request_complete.v0`: timing, status,
//! bytes, endpoint, client, the `log` action's metadata of the HTTP phases) and per closed
//! connection (`tcp_connection_closed.v0`: bytes in/out, duration, requests, TLS facts, the
//! `on_tcp_connect` logs), written to stdout or a file.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::Mutex;

use crate::config::EventsOutput;

/// Where event lines go. Lines are small and written whole under a lock.
pub struct EventSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

impl EventSink {
    /// Opens the output (a file is appended to).
    pub fn open(output: &EventsOutput) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = match output {
            EventsOutput::Stdout => Box::new(io::stdout()),
            EventsOutput::File(path) => {
                Box::new(OpenOptions::new().create(true).append(true).open(path)?)
            }
        };
        Ok(EventSink {
            out: Mutex::new(out),
        })
    }

    /// Writes one event as a JSON line.
    pub fn emit(&self, event: &serde_json::Value) {
        let mut line = event.to_string();
        line.push('\n');
        if let Ok(mut out) = self.out.lock() {
            // Events are best-effort: a full disk must not fail requests.
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}
