//! What the inspector shares beyond its stored exchanges: a broadcast of store changes for the
//! live event stream, the replay marks (which exchange replays which, and how it was sent), and
//! a bounded list of the TCP and TLS connections the agent spliced.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::store::Exchange;

/// How many connection records are kept (oldest dropped first).
pub const CONNECTIONS_KEPT: usize = 1000;
/// How many events a slow live subscriber may lag behind before it is told to reload.
const EVENT_BUFFER: usize = 256;

/// A change of the store, as the live stream sends it.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// An exchange was recorded.
    Recorded(Arc<Exchange>),
    /// Every exchange was forgotten.
    Cleared,
    /// A TCP or TLS connection ended.
    Connection(Arc<ConnectionRecord>),
}

/// How a replay was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayVia {
    /// Straight to the endpoint's upstream (the edge and its policy are not involved).
    #[default]
    Upstream,
    /// Into the endpoint's public URL again, so the edge's policy runs.
    Edge,
}

/// Marks an exchange as the replay of another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayMark {
    /// The id of the exchange replayed.
    pub of: String,
    /// How it was sent.
    pub via: ReplayVia,
}

/// What the forwarder needs to record a replay: the id chosen in advance (so the API can name
/// the new exchange) and its mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayTag {
    /// The id the replayed exchange is recorded under.
    pub id: String,
    /// The mark it carries.
    pub mark: ReplayMark,
}

/// One TCP or TLS connection the agent spliced to its upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRecord {
    /// Store-assigned id.
    pub id: String,
    /// The endpoint's name.
    pub tunnel_name: String,
    /// `tcp` or `tls`.
    pub proto: String,
    /// The public client's address.
    pub remote_addr: SocketAddr,
    /// When the stream arrived.
    pub start: DateTime<Utc>,
    /// How long it stayed open, in milliseconds.
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// Bytes from the client to the upstream.
    pub bytes_in: u64,
    /// Bytes from the upstream to the client.
    pub bytes_out: u64,
    /// `closed` for a normal end, else the error that ended it.
    pub close_reason: String,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// See the module doc. Shared by every clone of an [`Inspector`](super::Inspector).
#[derive(Debug)]
pub struct Live {
    events: broadcast::Sender<LiveEvent>,
    /// Edge replays in flight: the nonce header value sent → the tag to record under.
    tickets: Mutex<HashMap<String, ReplayTag>>,
    connections: Mutex<VecDeque<Arc<ConnectionRecord>>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            events: broadcast::channel(EVENT_BUFFER).0,
            tickets: Mutex::default(),
            connections: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Live {
    /// Subscribes to store changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    pub(crate) fn send(&self, event: LiveEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// Registers an edge replay about to be sent with header value `nonce`.
    pub fn add_ticket(&self, nonce: &str, tag: ReplayTag) {
        lock(&self.tickets).insert(nonce.to_string(), tag);
    }

    /// Takes the tag of an edge replay by its nonce (once).
    pub fn take_ticket(&self, nonce: &str) -> Option<ReplayTag> {
        lock(&self.tickets).remove(nonce)
    }

    /// Records a finished TCP/TLS connection.
    pub fn record_connection(&self, record: ConnectionRecord) {
        let record = Arc::new(record);
        {
            let mut list = lock(&self.connections);
            list.push_back(record.clone());
            while list.len() > CONNECTIONS_KEPT {
                list.pop_front();
            }
        }
        self.send(LiveEvent::Connection(record));
    }

    /// Up to `limit` connections, newest first.
    pub fn connections(&self, limit: usize) -> Vec<Arc<ConnectionRecord>> {
        lock(&self.connections)
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }
}
