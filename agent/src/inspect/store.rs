//! The inspector store: recorded HTTP exchanges, bounded by bytes (oldest evicted first), each
//! body truncated at a limit.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sluice_tunnel::ClientTls;
use sluice_wire::PolicyTrace;

use super::trace_join::TraceJoin;

use super::live::{Live, LiveEvent, ReplayMark};

/// Default store size (ngrok's `inspect_db_size: 0` means 50 MB).
pub const DEFAULT_MAX_BYTES: usize = 50 * 1024 * 1024;
/// Default per-body capture limit.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// What each record costs beyond its heads and bodies.
const RECORD_OVERHEAD: usize = 256;

/// Size limits of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectLimits {
    /// Total bytes kept; older records are evicted past it.
    pub max_bytes: usize,
    /// Bytes kept of each request and response body.
    pub body_limit: usize,
}

impl Default for InspectLimits {
    fn default() -> Self {
        InspectLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// A recorded request head and (possibly truncated) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path and query as received.
    pub uri: String,
    /// `HTTP/1.1`, `HTTP/2.0`…
    pub proto: String,
    /// Headers in order, as received.
    pub headers: Vec<(String, String)>,
    /// The first `body_limit` bytes of the body.
    pub body: Bytes,
    /// The whole body's size as seen so far.
    pub body_size: u64,
    /// True when `body` is shorter than the body.
    pub truncated: bool,
}

/// A recorded response head and (possibly truncated) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedResponse {
    /// Status code.
    pub status: u16,
    /// `HTTP/1.1`, `HTTP/2.0`…
    pub proto: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The first `body_limit` bytes of the body.
    pub body: Bytes,
    /// The whole body's size as seen so far.
    pub body_size: u64,
    /// True when `body` is shorter than the body.
    pub truncated: bool,
}

/// One recorded exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Store-assigned id (16 hex digits, like ngrok's).
    pub id: String,
    /// The endpoint (tunnel) name it arrived on.
    pub endpoint: String,
    /// The public client's address.
    pub remote_addr: SocketAddr,
    /// When the request arrived.
    pub start: DateTime<Utc>,
    /// Time to the end of the response (or to the failure).
    pub duration: Duration,
    /// The request.
    pub request: CapturedRequest,
    /// The response, if there was one.
    pub response: Option<CapturedResponse>,
    /// Set when this exchange replays another.
    pub replay: Option<ReplayMark>,
    /// What the edge's traffic policy did to it, once the edge reported it (see
    /// [`super::trace_join`]).
    pub trace: Option<PolicyTrace>,
    /// The TLS the client spoke to the edge, reported with the trace (when it used TLS).
    pub client_tls: Option<ClientTls>,
}

impl Exchange {
    /// Approximate memory cost, used for the store bound.
    pub fn cost(&self) -> usize {
        let heads =
            |h: &[(String, String)]| h.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>();
        let mut n = RECORD_OVERHEAD
            + self.endpoint.len()
            + self.request.uri.len()
            + heads(&self.request.headers)
            + self.request.body.len();
        if let Some(r) = &self.response {
            n += heads(&r.headers) + r.body.len();
        }
        if let Some(t) = &self.trace {
            n += super::trace_join::trace_cost(t);
        }
        if let Some(t) = &self.client_tls {
            let text = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 24);
            n += text(&t.sni) + text(&t.version) + text(&t.cipher_suite) + text(&t.alpn);
        }
        n
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Arc<Exchange>>,
    bytes: usize,
}

/// The shared store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Inspector {
    inner: Arc<Mutex<Inner>>,
    next: Arc<AtomicU64>,
    prefix: u32,
    limits: InspectLimits,
    live: Arc<Live>,
    /// Policy traces and exchanges waiting for each other.
    pub(super) joins: Arc<TraceJoin>,
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector::new(InspectLimits::default())
    }
}

/// How many of the newest exchanges a late policy trace is looked for in.
const TRACE_SCAN: usize = 4096;

impl Inspector {
    /// An empty store with these limits.
    pub fn new(limits: InspectLimits) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
            .unwrap_or(0);
        Inspector {
            inner: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            prefix: nanos,
            limits,
            live: Arc::default(),
            joins: Arc::default(),
        }
    }

    /// Live updates, replay marks and TCP/TLS connection records.
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// The store's limits.
    pub fn limits(&self) -> InspectLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh id for an exchange about to be recorded.
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}{:08x}", self.prefix, n as u32)
    }

    /// Records an exchange, evicting the oldest ones past the byte bound. An exchange larger
    /// than the whole store is not kept.
    pub fn record(&self, exchange: Exchange) {
        let cost = exchange.cost();
        if cost > self.limits.max_bytes {
            return;
        }
        let exchange = Arc::new(exchange);
        let mut inner = self.lock();
        inner.bytes += cost;
        inner.entries.push_back(exchange.clone());
        while inner.bytes > self.limits.max_bytes {
            match inner.entries.pop_front() {
                Some(old) => inner.bytes -= old.cost(),
                None => break,
            }
        }
        drop(inner);
        self.live.send(LiveEvent::Recorded(exchange));
    }

    /// Sets the policy trace and client TLS of the kept exchange `id`; false when it is no
    /// longer kept.
    pub(super) fn set_trace(&self, id: &str, trace: PolicyTrace, tls: Option<ClientTls>) -> bool {
        let mut inner = self.lock();
        // Newest first: a trace comes right after its exchange, so this stops at once instead
        // of comparing every kept id (a third of a busy agent's samples when it scanned from
        // the oldest).
        // Only the newest entries: a trace for an older one is stale, and a miss must not cost a
        // scan of the whole store per trace (a busy endpoint sends thousands a second).
        let Some(slot) = inner
            .entries
            .iter_mut()
            .rev()
            .take(TRACE_SCAN)
            .find(|e| e.id == id)
        else {
            return false;
        };
        let mut updated = Exchange::clone(slot);
        updated.trace = Some(trace);
        updated.client_tls = tls;
        let (before, after) = (slot.cost(), updated.cost());
        *slot = Arc::new(updated);
        inner.bytes = inner.bytes.saturating_add(after).saturating_sub(before);
        true
    }

    /// Up to `limit` exchanges, newest first, optionally of one endpoint.
    pub fn list(&self, limit: usize, endpoint: Option<&str>) -> Vec<Arc<Exchange>> {
        self.lock()
            .entries
            .iter()
            .rev()
            .filter(|e| endpoint.is_none_or(|name| e.endpoint == name))
            .take(limit)
            .cloned()
            .collect()
    }

    /// One exchange by id.
    pub fn get(&self, id: &str) -> Option<Arc<Exchange>> {
        self.lock()
            .entries
            .iter()
            .rev()
            .find(|e| e.id == id)
            .cloned()
    }

    /// Forgets every exchange.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.bytes = 0;
        drop(inner);
        self.live.send(LiveEvent::Cleared);
    }

    /// Number of exchanges kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes accounted to the kept exchanges.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn exchange(id: &str, endpoint: &str, body: usize) -> Exchange {
        Exchange {
            id: id.into(),
            endpoint: endpoint.into(),
            remote_addr: SocketAddr::from(([127, 0, 0, 1], 1234)),
            start: Utc::now(),
            duration: Duration::from_millis(3),
            request: CapturedRequest {
                method: "POST".into(),
                uri: "/x?y=1".into(),
                proto: "HTTP/1.1".into(),
                headers: vec![("content-type".into(), "text/plain".into())],
                body: Bytes::from(vec![b'a'; body]),
                body_size: body as u64,
                truncated: false,
            },
            response: Some(CapturedResponse {
                status: 200,
                proto: "HTTP/1.1".into(),
                headers: vec![],
                body: Bytes::from_static(b"ok"),
                body_size: 2,
                truncated: false,
            }),
            replay: None,
            trace: None,
            client_tls: None,
        }
    }

    #[test]
    fn evicts_oldest_past_the_byte_bound() {
        let one = exchange("a", "e", 1000).cost();
        let store = Inspector::new(InspectLimits {
            max_bytes: one * 3,
            body_limit: 10,
        });
        for id in ["a", "b", "c", "d"] {
            store.record(exchange(id, "e", 1000));
        }
        let ids: Vec<_> = store.list(10, None).iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids, ["d", "c", "b"]);
        assert!(store.bytes() <= one * 3);
        assert!(store.get("a").is_none());
        // Too big for the whole store: dropped.
        store.record(exchange("huge", "e", one * 4));
        assert!(store.get("huge").is_none());
        store.clear();
        assert!(store.is_empty());
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn a_late_trace_is_looked_for_among_the_newest_exchanges_only() {
        let store = Inspector::default();
        for n in 0..=TRACE_SCAN {
            store.record(exchange(&n.to_string(), "e", 0));
        }
        // Exchange "0" is still kept, one place past the window: its trace is stale.
        assert!(store.get("0").is_some());
        assert!(!store.set_trace("0", PolicyTrace::default(), None));
        assert!(store.set_trace("1", PolicyTrace::default(), None));
        assert!(store.get("1").and_then(|e| e.trace.clone()).is_some());
    }

    #[test]
    fn lists_newest_first_with_filter_and_limit() {
        let store = Inspector::default();
        store.record(exchange("1", "web", 1));
        store.record(exchange("2", "api", 1));
        store.record(exchange("3", "web", 1));
        let web: Vec<_> = store
            .list(10, Some("web"))
            .iter()
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(web, ["3", "1"]);
        assert_eq!(store.list(1, None).len(), 1);
        let a = store.next_id();
        let b = store.next_id();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
