//! Joining the edge's policy traces to recorded exchanges (wire shape: `sluice_tunnel::trace`).
//!
//! A forwarded request carries its trace id in a header; its trace comes later, on the control
//! stream, once the edge has run the response phase. The two travel on different streams, so
//! either may come first: whichever arrives first waits here for the other, bounded by
//! [`MAX_WAITING`] each (the oldest is forgotten past it). A request the edge answered itself
//! comes only as a report, recorded here as an exchange of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sluice_tunnel::{ClientTls, EdgeAnswered, NO_REPORT_TRACE_ID, TRACE_ID_HEADER, TraceReport};
use sluice_wire::PolicyTrace;

use super::store::{CapturedRequest, CapturedResponse, Exchange, Inspector};

/// Most traces, and most exchanges, kept waiting for their other half.
pub const MAX_WAITING: usize = 1024;

/// A map that forgets its oldest entries past [`MAX_WAITING`].
#[derive(Debug)]
struct Waiting<V> {
    items: HashMap<u64, V>,
    order: VecDeque<u64>,
}

impl<V> Default for Waiting<V> {
    fn default() -> Self {
        Waiting {
            items: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<V> Waiting<V> {
    fn insert(&mut self, id: u64, v: V) {
        if self.items.insert(id, v).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_WAITING {
            if let Some(old) = self.order.pop_front() {
                self.items.remove(&old);
            }
        }
    }

    fn take(&mut self, id: u64) -> Option<V> {
        let v = self.items.remove(&id)?;
        // The other half usually comes soon after, so search from the newest end.
        if let Some(at) = self.order.iter().rposition(|x| *x == id) {
            self.order.remove(at);
        }
        Some(v)
    }
}

/// Traces and exchanges waiting for each other.
#[derive(Debug, Default)]
pub struct TraceJoin {
    inner: Mutex<JoinState>,
}

#[derive(Debug, Default)]
struct JoinState {
    /// Trace id → a trace (and client TLS) whose exchange is not recorded yet.
    traces: Waiting<(PolicyTrace, Option<ClientTls>)>,
    /// Trace id → the id of a recorded exchange whose trace has not come yet.
    exchanges: Waiting<String>,
}

impl TraceJoin {
    fn lock(&self) -> MutexGuard<'_, JoinState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the edge's trace id header from a request head, returning the id it carried.
/// Done on every request, inspected or not, so no upstream ever sees the header.
pub fn take_trace_id(headers: &mut http::HeaderMap) -> Option<u64> {
    // `remove` drops every value of the name; only one is ever sent.
    let value = headers.remove(TRACE_ID_HEADER)?;
    value.to_str().ok()?.parse().ok()
}

/// Approximate memory a trace costs, for the store's byte bound.
pub fn trace_cost(t: &PolicyTrace) -> usize {
    let text = |s: &str| s.len() + 16;
    32 * t.phases.len()
        + t.phases
            .iter()
            .flat_map(|p| &p.rules)
            .map(|r| {
                64 + text(&r.name)
                    + r.expressions
                        .iter()
                        .map(|e| text(&e.expr) + 32)
                        .sum::<usize>()
                    + r.actions
                        .iter()
                        .map(|a| text(&a.effect) + 64 * (1 + a.changes.len()))
                        .sum::<usize>()
            })
            .sum::<usize>()
}

impl Inspector {
    /// Records a forwarded exchange; `trace_id` is the one its request carried, if any, and
    /// its trace is attached now if it already came, or when it comes.
    pub fn record_traced(&self, mut exchange: Exchange, trace_id: Option<u64>) {
        let Some(tid) = trace_id else {
            return self.record(exchange);
        };
        if tid == NO_REPORT_TRACE_ID {
            // The endpoint has no policy and the client no TLS: the trace is empty.
            exchange.trace = Some(PolicyTrace::default());
            return self.record(exchange);
        }
        let mut join = self.joins.lock();
        let waiting = join.traces.take(tid);
        match waiting {
            Some((trace, tls)) => {
                drop(join);
                exchange.trace = Some(trace);
                exchange.client_tls = tls;
            }
            None => join.exchanges.insert(tid, exchange.id.clone()),
        }
        self.record(exchange);
    }

    /// Takes a report from the edge: attaches its trace to the exchange it belongs to (now or
    /// once recorded), or records the request the edge answered itself under `endpoint`.
    pub fn trace_reported(&self, endpoint: &str, report: TraceReport) {
        if let Some(answered) = report.answered {
            let id = self.next_id();
            let mut exchange = edge_answered(id, endpoint, answered, report.trace);
            exchange.client_tls = report.tls;
            return self.record(exchange);
        }
        let mut join = self.joins.lock();
        let recorded = join.exchanges.take(report.trace_id);
        match recorded {
            Some(exchange_id) => {
                drop(join);
                self.set_trace(&exchange_id, report.trace, report.tls);
            }
            None => join
                .traces
                .insert(report.trace_id, (report.trace, report.tls)),
        }
    }
}

/// The inspector's record of a request the edge answered.
fn edge_answered(id: String, endpoint: &str, a: EdgeAnswered, trace: PolicyTrace) -> Exchange {
    let start = i64::try_from(a.start_unix_ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    Exchange {
        id,
        replay: None,
        endpoint: endpoint.to_string(),
        remote_addr: a.client_addr,
        start,
        duration: Duration::from_millis(a.duration_ms),
        request: CapturedRequest {
            method: a.method,
            uri: a.uri,
            proto: a.proto.clone(),
            headers: a.request_headers,
            // The edge sends no bodies; the response's is marked truncated when it had one.
            body: Bytes::new(),
            body_size: 0,
            truncated: false,
        },
        response: a.status.map(|status| CapturedResponse {
            status,
            proto: a.proto,
            headers: a.response_headers,
            body: Bytes::new(),
            body_size: a.response_bytes,
            truncated: a.response_bytes > 0,
        }),
        trace: Some(trace),
        client_tls: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::store::tests::exchange;
    use sluice_wire::trace::PhaseTrace;

    fn trace(phase: &str) -> PolicyTrace {
        PolicyTrace {
            phases: vec![PhaseTrace {
                phase: phase.into(),
                rules: vec![],
            }],
            truncated: false,
        }
    }

    fn report(id: u64, t: PolicyTrace) -> TraceReport {
        TraceReport {
            endpoint_url: "http://a.localhost".into(),
            trace_id: id,
            answered: None,
            trace: t,
            tls: None,
        }
    }

    #[test]
    fn a_trace_joins_its_exchange_whichever_comes_first() {
        let store = Inspector::default();
        // Exchange first, trace later.
        store.record_traced(exchange("e1", "web", 1), Some(1));
        assert!(store.get("e1").and_then(|e| e.trace.clone()).is_none());
        let before = store.bytes();
        store.trace_reported("web", report(1, trace("on_http_request")));
        let got = store.get("e1").and_then(|e| e.trace.clone());
        assert_eq!(got, Some(trace("on_http_request")));
        assert!(store.bytes() > before, "the trace is accounted");
        // Trace first, exchange later.
        store.trace_reported("web", report(2, trace("on_http_response")));
        store.record_traced(exchange("e2", "web", 1), Some(2));
        let got = store.get("e2").and_then(|e| e.trace.clone());
        assert_eq!(got, Some(trace("on_http_response")));
        assert_eq!(
            store.len(),
            2,
            "reports of forwarded requests add no record"
        );
    }

    #[test]
    fn the_id_that_says_no_report_follows_records_an_empty_trace_at_once() {
        let store = Inspector::default();
        store.record_traced(exchange("e1", "web", 1), Some(NO_REPORT_TRACE_ID));
        assert_eq!(
            store.get("e1").and_then(|e| e.trace.clone()),
            Some(PolicyTrace::default())
        );
        assert!(
            store
                .joins
                .lock()
                .exchanges
                .take(NO_REPORT_TRACE_ID)
                .is_none(),
            "nothing waits for a report"
        );
    }

    #[test]
    fn a_request_the_edge_answered_is_recorded_with_its_trace() {
        let store = Inspector::default();
        let mut r = report(9, trace("on_http_request"));
        r.answered = Some(EdgeAnswered {
            client_addr: "127.0.0.1:4000".parse().expect("addr"),
            start_unix_ms: 1_700_000_000_000,
            duration_ms: 3,
            method: "GET".into(),
            uri: "/admin".into(),
            proto: "HTTP/1.1".into(),
            request_headers: vec![("host".into(), "a.localhost".into())],
            status: Some(403),
            response_headers: vec![],
            response_bytes: 0,
        });
        store.trace_reported("web", r);
        let all = store.list(10, Some("web"));
        assert_eq!(all.len(), 1);
        let e = &all[0];
        assert_eq!(e.request.uri, "/admin");
        assert_eq!(e.response.as_ref().map(|r| r.status), Some(403));
        assert_eq!(e.trace, Some(trace("on_http_request")));
    }

    #[test]
    fn the_client_tls_joins_with_its_trace() {
        let tls = ClientTls {
            sni: Some("a.localhost".into()),
            version: Some("TLSv1_3".into()),
            cipher_suite: Some("TLS13_AES_128_GCM_SHA256".into()),
            alpn: None,
        };
        let store = Inspector::default();
        let mut r = report(1, trace("on_http_request"));
        r.tls = Some(tls.clone());
        store.record_traced(exchange("e1", "web", 1), Some(1));
        store.trace_reported("web", r.clone());
        assert_eq!(
            store.get("e1").and_then(|e| e.client_tls.clone()),
            Some(tls.clone())
        );
        r.trace_id = 2;
        store.trace_reported("web", r);
        store.record_traced(exchange("e2", "web", 1), Some(2));
        assert_eq!(
            store.get("e2").and_then(|e| e.client_tls.clone()),
            Some(tls)
        );
    }

    #[test]
    fn waiting_halves_are_bounded() {
        let mut w = Waiting::default();
        for i in 0..(MAX_WAITING as u64 + 10) {
            w.insert(i, i);
        }
        assert_eq!(w.items.len(), MAX_WAITING);
        assert!(w.take(0).is_none(), "the oldest were forgotten");
        assert_eq!(w.take(MAX_WAITING as u64 + 9), Some(MAX_WAITING as u64 + 9));
    }

    #[test]
    fn traces_out_of_order_join_the_right_exchanges() {
        let store = Inspector::default();
        for (id, tid) in [("e1", 1), ("e2", 2), ("e3", 3)] {
            store.record_traced(exchange(id, "web", 1), Some(tid));
        }
        // The middle one first, then the newest, then the oldest.
        for (tid, phase) in [(2, "two"), (3, "three"), (1, "one")] {
            store.trace_reported("web", report(tid, trace(phase)));
        }
        for (id, phase) in [("e1", "one"), ("e2", "two"), ("e3", "three")] {
            let got = store.get(id).and_then(|e| e.trace.clone());
            assert_eq!(got, Some(trace(phase)), "{id}");
        }
        let mut w = Waiting::default();
        for i in 0..5u64 {
            w.insert(i, i);
        }
        assert_eq!(w.take(2), Some(2));
        assert_eq!(w.order, [0, 1, 3, 4], "taken from the middle of the order");
        assert_eq!(w.take(2), None);
    }

    #[test]
    fn the_trace_id_header_is_taken_off() {
        let mut h = http::HeaderMap::new();
        h.insert(TRACE_ID_HEADER, http::HeaderValue::from_static("42"));
        h.insert("x-other", http::HeaderValue::from_static("1"));
        assert_eq!(take_trace_id(&mut h), Some(42));
        assert!(!h.contains_key(TRACE_ID_HEADER));
        assert_eq!(take_trace_id(&mut h), None);
    }
}
