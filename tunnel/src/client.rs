//! The agent side: [`ClientSession`] binds endpoints and accepts the edge's proxy streams (see
//! [`SessionBuilder`](crate::SessionBuilder) to get one).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::codec::{MAX_HEADER_FRAME, read_frame, read_stream_type};
use crate::control::{ControlReader, ControlTx};
use crate::error::{CloseReason, Result, TunnelError};
use crate::mux::{Mux, MuxStream};
use crate::proto::{
    Bind, BindError, BindOk, BindRequest, ControlMessage, StreamHeader, StreamType,
};
use crate::stream::{StreamTimeouts, TunnelStream};

/// Proxy streams whose header has arrived, waiting for [`ClientSession::accept`].
const ACCEPT_BACKLOG: usize = 128;
/// Time a new proxy stream has to deliver its header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

type PendingBinds = HashMap<u64, oneshot::Sender<Result<BindOk, BindError>>>;

struct Inner {
    session_id: String,
    client_id: String,
    account: String,
    /// The last round trip to the edge, in nanoseconds.
    latency_nanos: AtomicU64,
    control_tx: ControlTx,
    pending: StdMutex<PendingBinds>,
    next_id: AtomicU64,
    accept_rx: Mutex<mpsc::Receiver<(StreamHeader, TunnelStream)>>,
    closed: watch::Sender<Option<CloseReason>>,
    cancel: CancellationToken,
    mux: Mux,
    bind_timeout: Duration,
}

/// An authenticated agent session. Cheap to clone; dropping every clone does not close it —
/// call [`close`](Self::close).
#[derive(Clone)]
pub struct ClientSession {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("session_id", &self.inner.session_id)
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

/// Everything a freshly authenticated session starts from.
pub(crate) struct StartParams {
    pub session_id: String,
    pub client_id: String,
    pub account: String,
    /// The first round trip measured (the authentication's).
    pub latency: Duration,
    pub mux: Mux,
    pub inbound: mpsc::Receiver<MuxStream>,
    pub control_tx: ControlTx,
    pub reader: ControlReader,
    pub heartbeat: (Duration, Duration),
    pub bind_timeout: Duration,
    pub stream_timeouts: StreamTimeouts,
    pub on_trace: Option<crate::trace::TraceSink>,
}

impl ClientSession {
    pub(crate) fn start(p: StartParams) -> Self {
        let (accept_tx, accept_rx) = mpsc::channel(ACCEPT_BACKLOG);
        let inner = Arc::new(Inner {
            session_id: p.session_id,
            client_id: p.client_id,
            account: p.account,
            latency_nanos: AtomicU64::new(nanos(p.latency)),
            control_tx: p.control_tx,
            pending: StdMutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            accept_rx: Mutex::new(accept_rx),
            closed: watch::channel(None).0,
            cancel: CancellationToken::new(),
            mux: p.mux,
            bind_timeout: p.bind_timeout,
        });
        tokio::spawn(dispatch_inbound(p.inbound, accept_tx, p.stream_timeouts));
        let (every, tolerance) = p.heartbeat;
        tokio::spawn(run_control(
            inner.clone(),
            p.reader,
            (every, tolerance),
            p.on_trace,
        ));
        Self { inner }
    }

    /// The edge-assigned id of this connection.
    pub fn session_id(&self) -> &str {
        &self.inner.session_id
    }

    /// The stable client id this session authenticated with.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The account the edge says the authtoken belongs to (empty from older edges).
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The last measured round trip to the edge: a heartbeat and its acknowledgement (before
    /// the first one, the authentication's request and answer).
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.inner.latency_nanos.load(Ordering::Relaxed))
    }

    fn closed_error(&self) -> TunnelError {
        TunnelError::Closed(self.close_reason().unwrap_or(CloseReason::PeerClosed))
    }

    /// Binds an endpoint; a refusal is [`TunnelError::BindRefused`] with the edge's code and
    /// (possibly multi-line) message.
    pub async fn bind(&self, request: BindRequest) -> Result<BindOk> {
        let request_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.inner.pending.lock() {
            p.insert(request_id, tx);
        }
        let msg = ControlMessage::Bind(Bind {
            request_id,
            request,
        });
        let sent = self.inner.control_tx.send(msg).await;
        let answer = match sent {
            false => Err(self.closed_error()),
            true => match tokio::time::timeout(self.inner.bind_timeout, rx).await {
                Ok(Ok(Ok(ok))) => Ok(ok),
                Ok(Ok(Err(e))) => Err(TunnelError::BindRefused(e)),
                Ok(Err(_)) => Err(self.closed_error()),
                Err(_) => Err(TunnelError::Timeout("waiting for the bind answer")),
            },
        };
        if let Ok(mut p) = self.inner.pending.lock() {
            p.remove(&request_id);
        }
        answer
    }

    /// Releases a bound URL.
    pub async fn unbind(&self, url: &str) -> Result<()> {
        let msg = ControlMessage::Unbind {
            url: url.to_owned(),
        };
        if self.inner.control_tx.send(msg).await {
            Ok(())
        } else {
            Err(self.closed_error())
        }
    }

    /// The next proxy stream opened by the edge, with its header; `None` once the session ends.
    pub async fn accept(&self) -> Option<(StreamHeader, TunnelStream)> {
        let mut rx = self.inner.accept_rx.lock().await;
        tokio::select! {
            s = rx.recv() => s,
            _ = self.closed() => rx.try_recv().ok(),
        }
    }

    /// Why the session ended, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.closed.borrow().clone()
    }

    /// Resolves when the session ends, with the reason.
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.inner.closed.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or(CloseReason::Local),
            Err(_) => CloseReason::Local,
        }
    }

    /// Closes the session (the edge sees the connection end).
    pub fn close(&self) {
        self.inner.cancel.cancel();
    }
}

async fn read_header(mut stream: MuxStream) -> Result<(StreamHeader, MuxStream)> {
    match read_stream_type(&mut stream).await? {
        StreamType::Proxy => {}
        other => {
            return Err(TunnelError::Protocol(format!(
                "edge opened a {other:?} stream"
            )));
        }
    }
    let header = read_frame(&mut stream, MAX_HEADER_FRAME).await?;
    Ok((header, stream))
}

async fn dispatch_inbound(
    mut inbound: mpsc::Receiver<MuxStream>,
    accept_tx: mpsc::Sender<(StreamHeader, TunnelStream)>,
    timeouts: StreamTimeouts,
) {
    while let Some(stream) = inbound.recv().await {
        let tx = accept_tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HEADER_TIMEOUT, read_header(stream)).await {
                Ok(Ok((header, stream))) => {
                    let _ = tx.send((header, TunnelStream::new(stream, timeouts))).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "bad proxy stream from edge"),
                Err(_) => tracing::debug!("proxy stream header timed out"),
            }
        });
    }
}

/// Reports that may wait for the trace sink before newer ones are dropped.
const TRACE_BACKLOG: usize = 1024;
/// How long the trace thread lets reports gather after waking (they reach the inspector at
/// most this much later).
const TRACE_BATCH: Duration = Duration::from_millis(2);

/// Starts the thread that hands trace reports to `sink`, off the control loop and off the
/// runtime (a slow sink then holds up neither the heartbeat acks nor other tasks); the queue
/// to it. The thread ends with the session (the queue's sender dropped).
fn trace_worker(
    sink: crate::trace::TraceSink,
) -> std::sync::mpsc::SyncSender<crate::trace::TraceReport> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<crate::trace::TraceReport>(TRACE_BACKLOG);
    let spawned = std::thread::Builder::new()
        .name("sluice-traces".into())
        .spawn(move || {
            // Woken by the first report, then by a short sleep: under load the reports of a
            // few milliseconds go to the sink in one wake-up, not one thread switch each.
            while let Ok(report) = rx.recv() {
                sink(report);
                std::thread::sleep(TRACE_BATCH);
                while let Ok(report) = rx.try_recv() {
                    sink(report);
                }
            }
        });
    if let Err(e) = spawned {
        // The receiver is gone with the closure: every report is dropped, the session lives.
        tracing::warn!(error = %e, "cannot start the trace thread; policy traces are dropped");
    }
    tx
}

/// Why the edge closed the connection: a GoAway it sent just before closing may still sit
/// unread in the control stream when the connection's end is noticed, so read what is left
/// (briefly) before settling for [`CloseReason::PeerClosed`].
async fn last_word(reader: &mut ControlReader) -> CloseReason {
    let read = async {
        loop {
            match reader.next().await {
                Ok(Some(ControlMessage::GoAway { code, message })) => {
                    return CloseReason::GoAway { code, message };
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return CloseReason::PeerClosed,
            }
        }
    };
    tokio::time::timeout(Duration::from_millis(250), read)
        .await
        .unwrap_or(CloseReason::PeerClosed)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

async fn run_control(
    inner: Arc<Inner>,
    mut reader: ControlReader,
    (every, tol): (Duration, Duration),
    on_trace: Option<crate::trace::TraceSink>,
) {
    let traces = on_trace.map(trace_worker);
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ack_deadline: Option<Instant> = None;
    // Send times of the heartbeats not yet acknowledged; the stream keeps them in order.
    let mut in_flight: VecDeque<Instant> = VecDeque::new();
    let reason = loop {
        let deadline = ack_deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86400));
        tokio::select! {
            _ = inner.cancel.cancelled() => break CloseReason::Local,
            _ = inner.mux.closed() => break last_word(&mut reader).await,
            _ = tokio::time::sleep_until(deadline), if ack_deadline.is_some() => {
                break CloseReason::HeartbeatTimeout;
            }
            _ = ticker.tick() => {
                if inner.control_tx.try_send(ControlMessage::Heartbeat) && in_flight.len() < 64 {
                    in_flight.push_back(Instant::now());
                }
                ack_deadline.get_or_insert(Instant::now() + tol);
            }
            msg = reader.next() => {
                let msg = match msg {
                    Ok(Some(m)) => m,
                    Ok(None) => break CloseReason::PeerClosed,
                    Err(e) => break CloseReason::Error(e.to_string()),
                };
                ack_deadline = None;
                let answer = match msg {
                    ControlMessage::BindOk(ok) => Some((ok.request_id, Ok(ok))),
                    ControlMessage::BindError(e) => Some((e.request_id, Err(e))),
                    ControlMessage::GoAway { code, message } => {
                        break CloseReason::GoAway { code, message };
                    }
                    ControlMessage::HeartbeatAck => {
                        if let Some(sent) = in_flight.pop_front() {
                            let rtt = nanos(sent.elapsed());
                            inner.latency_nanos.store(rtt, Ordering::Relaxed);
                        }
                        None
                    }
                    ControlMessage::Trace(report) => {
                        // Handed off: a sink slower than the edge's traces must not hold up
                        // the heartbeat acks behind them. Dropped when the worker is behind.
                        if let Some(traces) = &traces
                            && traces.try_send(*report).is_err()
                        {
                            tracing::debug!("trace worker behind; trace dropped");
                        }
                        None
                    }
                    other => {
                        tracing::debug!(?other, "ignoring unexpected control message");
                        None
                    }
                };
                if let Some((id, answer)) = answer {
                    let tx = inner.pending.lock().ok().and_then(|mut p| p.remove(&id));
                    if let Some(tx) = tx {
                        let _ = tx.send(answer);
                    }
                }
            }
        }
    };
    tracing::debug!(session = %inner.session_id, %reason, "tunnel session closed");
    inner.closed.send_replace(Some(reason));
    if let Ok(mut p) = inner.pending.lock() {
        p.clear();
    }
    inner.mux.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceReport;

    fn report(id: u64) -> TraceReport {
        TraceReport {
            endpoint_url: "http://app.localhost".into(),
            trace_id: id,
            answered: None,
            trace: Default::default(),
            tls: None,
        }
    }

    #[test]
    fn the_trace_thread_keeps_at_most_its_backlog_and_hands_reports_on_in_order() {
        // The sink tells which report it holds, then blocks until released.
        let (got_tx, got_rx) = std::sync::mpsc::channel::<u64>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = StdMutex::new(release_rx);
        let sink: crate::trace::TraceSink = Arc::new(move |r: TraceReport| {
            let _ = got_tx.send(r.trace_id);
            let _ = release_rx.lock().map(|rx| rx.recv());
        });
        let tx = trace_worker(sink);
        tx.try_send(report(0)).expect("first report");
        assert_eq!(got_rx.recv().ok(), Some(0), "the thread holds the first");
        for id in 1..=TRACE_BACKLOG as u64 {
            assert!(tx.try_send(report(id)).is_ok(), "report {id} waits");
        }
        assert!(
            tx.try_send(report(9999)).is_err(),
            "past the backlog: dropped"
        );
        for _ in 0..=TRACE_BACKLOG {
            let _ = release_tx.send(());
        }
        let handed: Vec<u64> = got_rx.iter().take(TRACE_BACKLOG).collect();
        assert_eq!(handed, (1..=TRACE_BACKLOG as u64).collect::<Vec<_>>());
    }
}
