//! Where the edge's policy trace reports go: the inspector, under the name of the endpoint
//! whose URL the report names (see `sluice_tunnel::trace`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sluice_tunnel::{TraceReport, TraceSink};

use crate::inspect::Inspector;

/// Endpoint names by bound URL, for naming the requests the edge answered itself.
#[derive(Debug, Clone, Default)]
pub(super) struct TraceRoutes(Arc<Mutex<HashMap<String, String>>>);

impl TraceRoutes {
    /// Names the endpoint bound at `url`.
    pub(super) fn add(&self, url: &str, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(url.to_string(), name.to_string());
    }

    fn name_of(&self, url: &str) -> String {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url)
            .cloned()
            .unwrap_or_else(|| url.to_string())
    }

    /// The session's trace sink: each report to `inspector`.
    pub(super) fn sink(&self, inspector: Inspector) -> TraceSink {
        let routes = self.clone();
        Arc::new(move |report: TraceReport| {
            let name = routes.name_of(&report.endpoint_url);
            inspector.trace_reported(&name, report);
        })
    }
}
