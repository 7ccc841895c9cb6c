//! The full-screen terminal console (ngrok's `console_ui`): session status, account, version,
//! edge, latency, web interface, every forwarding URL, connection metrics and the last HTTP
//! requests, redrawn live and on resize. Drawn with `ratatui` on its `crossterm` backend.
//!
//! [`ConsoleView`] is what one frame shows, read from the local API's state
//! ([`ConsoleView::read`]) plus what the runner's events said ([`Notes`]); [`render`] draws a
//! view (tested on ratatui's test backend); [`screen`] owns the terminal while the agent runs.

pub mod render;
pub mod screen;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use sluice_agent::InspectApi;
use sluice_agent::config::ConsoleColor;
use sluice_agent::inspect::json::status_line;
use sluice_agent::inspect::status::format_latency;
use sluice_agent::metrics::MetricsSnapshot;
use sluice_agent::runner::RunEvent;

/// Warnings kept for the screen (the newest replace the oldest).
const MAX_NOTES: usize = 3;

/// What the runner's events said, for the screen (the plain console prints these as lines).
#[derive(Debug, Default)]
pub struct NotesInner {
    /// `Session Status` as the events tell it, until the session is first online.
    session: Option<String>,
    /// Where the web interface listens.
    web: Option<SocketAddr>,
    /// Warnings (rebinds that failed, the web interface that could not listen…).
    warnings: Vec<String>,
}

/// [`NotesInner`] shared between the event callback and the screen. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<Mutex<NotesInner>>);

impl Notes {
    fn lock(&self) -> MutexGuard<'_, NotesInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in one runner event.
    pub fn hear(&self, event: &RunEvent) {
        let mut n = self.lock();
        match event {
            RunEvent::Waiting { error } => n.session = Some(format!("reconnecting ({error})")),
            RunEvent::Online { web, .. } => {
                n.session = None;
                n.web = *web;
            }
            RunEvent::WebUnavailable { addr, error } => n.warnings.push(format!(
                "the web interface is off: cannot listen on {addr}: {error}"
            )),
            RunEvent::Status(status) => n.session = Some(status.to_string()),
            RunEvent::RebindFailed { url, error } => n.warnings.push(format!(
                "{url} did not come back after reconnecting: {error}"
            )),
        }
        let excess = n.warnings.len().saturating_sub(MAX_NOTES);
        n.warnings.drain(..excess);
    }
}

/// One line of the request list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// Arrival time, `HH:MM:SS.mmm` UTC.
    pub time: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `200 OK`, or empty while there is none.
    pub status: String,
}

/// Everything one frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleView {
    /// `online`, `reconnecting (…)`…
    pub session: String,
    /// The authtoken's account.
    pub account: String,
    /// sluice's version.
    pub version: String,
    /// The edge's address.
    pub edge: String,
    /// Last round trip to the edge.
    pub latency: String,
    /// `http://127.0.0.1:4040`, if it listens.
    pub web: Option<String>,
    /// Each endpoint's `url -> upstream`.
    pub forwarding: Vec<String>,
    /// Every endpoint's metrics added up.
    pub metrics: MetricsSnapshot,
    /// The newest HTTP requests first.
    pub requests: Vec<RequestLine>,
    /// Warnings to show.
    pub warnings: Vec<String>,
    /// Background.
    pub color: ConsoleColor,
}

impl ConsoleView {
    /// The view as of now: the API's status report, its newest `max_requests` exchanges and
    /// the events' notes.
    pub fn read(api: &InspectApi, notes: &Notes, color: ConsoleColor, max_requests: usize) -> Self {
        let report = api.status_report();
        let notes = notes.lock();
        let requests = api
            .inspector()
            .list(max_requests, None)
            .iter()
            .map(|e| RequestLine {
                time: e.start.format("%H:%M:%S%.3f UTC").to_string(),
                method: e.request.method.clone(),
                path: e.request.uri.clone(),
                status: e
                    .response
                    .as_ref()
                    .map(|r| status_line(r.status))
                    .unwrap_or_default(),
            })
            .collect();
        let session = notes.session.clone().unwrap_or(report.status.clone());
        ConsoleView {
            session,
            account: report.edge.account.clone().unwrap_or_else(|| "—".into()),
            version: report.agent_version.clone(),
            edge: report.edge.address.clone(),
            latency: report
                .edge
                .latency_ns
                .map(|n| format_latency(std::time::Duration::from_nanos(n)))
                .unwrap_or_else(|| "—".into()),
            web: notes.web.map(|a| format!("http://{a}")),
            forwarding: report
                .endpoints
                .iter()
                .map(|e| format!("{} -> {}", e.url, e.upstream.url))
                .collect(),
            metrics: MetricsSnapshot::total(report.endpoints.iter().map(|e| &e.metrics)),
            requests,
            warnings: notes.warnings.clone(),
            color,
        }
    }
}
