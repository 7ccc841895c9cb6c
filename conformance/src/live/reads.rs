//! What a live run must know about a case before sending it.

use crate::format::Expect;
use crate::runner::Prepared;

/// Connection facts the policy reads whose in-process defaults a live client cannot give.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PolicyReads {
    pub(super) client_ip: bool,
    pub(super) client_port: bool,
    pub(super) server_port: bool,
}

impl PolicyReads {
    pub(super) fn of(prepared: &Prepared) -> PolicyReads {
        let text = match (&prepared.policy_text, &prepared.file.policy) {
            (Some((_, text)), _) => text.clone(),
            (None, Some(v)) => v.to_string(),
            (None, None) => String::new(),
        };
        PolicyReads {
            client_ip: text.contains("client_ip") || text.contains("restrict-ips"),
            client_port: text.contains("client_port"),
            server_port: text.contains("server_port"),
        }
    }
}

/// Whether an expectation has something a client can observe.
pub(super) fn has_observable(e: &Expect) -> bool {
    e.status.is_some()
        || !e.headers.is_empty()
        || !e.headers_present.is_empty()
        || !e.headers_absent.is_empty()
        || e.body.is_some()
        || e.body_contains.is_some()
        || e.body_matches.is_some()
        || e.upstream_called.is_some()
        || e.upstream.is_some()
        || e.closed.is_some()
}
