//! Where events go: [`EventSink`] writes the [`Event`]s of [`crate::events`] as JSON lines to
//! stdout or a file.
//!
//! Writing is off the request path: [`EventSink::emit`] hands the event to a bounded queue
//! (never blocking; when the queue is full the event is dropped and counted, see
//! [`EventSink::dropped`]) and one writer thread serializes the events into a buffer. Under
//! load the writer takes the queue in rounds a few milliseconds apart, so a request neither
//! wakes a thread nor makes a system call, and one write carries many lines.
//! [`EventSink::flush`] (called on shutdown) and dropping the sink write out everything queued
//! before it.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::EventsOutput;
use crate::events::Event;

/// Events waiting for the writer, at most (about 8 MiB of queued events at ~1 KiB each).
pub const QUEUE_CAPACITY: usize = 8192;
/// Longest time a written event waits in the buffer under steady load (when the queue goes
/// quiet, the buffer is written out within [`BATCH_PAUSE`]).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// The writer's pause between rounds while events keep coming.
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// The writer's buffer.
const BUFFER_BYTES: usize = 64 * 1024;
/// How long [`EventSink::flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

enum Msg {
    Event(Event),
    /// Write out everything queued before this, then answer.
    Flush(SyncSender<()>),
}

/// Where event lines go: a bounded queue in front of one writer thread.
pub struct EventSink {
    tx: Option<SyncSender<Msg>>,
    dropped: Arc<AtomicU64>,
    /// Writes and flushes of the output that failed (shared with the writer thread).
    write_errors: Arc<AtomicU64>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl EventSink {
    /// Opens the output (a file is appended to) and starts the writer thread.
    pub fn open(output: &EventsOutput) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = match output {
            EventsOutput::Stdout => Box::new(io::stdout()),
            EventsOutput::File(path) => {
                Box::new(OpenOptions::new().create(true).append(true).open(path)?)
            }
        };
        Self::with_writer(out, QUEUE_CAPACITY)
    }

    /// A sink writing to `out` with a queue of `capacity` events.
    pub fn with_writer(out: Box<dyn Write + Send>, capacity: usize) -> io::Result<Self> {
        let (tx, rx) = sync_channel(capacity.max(1));
        let write_errors = Arc::new(AtomicU64::new(0));
        let mut output = Output {
            out: BufWriter::with_capacity(BUFFER_BYTES, out),
            errors: write_errors.clone(),
            failing: false,
        };
        let writer = std::thread::Builder::new()
            .name("sluice-events".into())
            .spawn(move || write_loop(&rx, &mut output))?;
        Ok(EventSink {
            tx: Some(tx),
            dropped: Arc::new(AtomicU64::new(0)),
            write_errors,
            writer: Some(writer),
        })
    }

    /// Queues one event, to be written as a JSON line. Never blocks: when the queue is full
    /// (the output cannot keep up) the event is dropped and counted.
    pub fn emit(&self, event: Event) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Msg::Event(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The counter behind [`EventSink::dropped`] (for the metrics).
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    /// Writes and flushes of the output that failed so far (events lost to a full disk, a
    /// closed pipe…).
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }

    /// The counter behind [`EventSink::write_errors`] (for the metrics).
    pub fn write_errors_counter(&self) -> Arc<AtomicU64> {
        self.write_errors.clone()
    }

    /// Waits (up to 5 s) until every event queued before this call is written to the output.
    /// Blocks the calling thread.
    pub fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (ack_tx, ack_rx) = sync_channel(1);
        // `send` waits for room in the queue, bounded by the writer draining it.
        if tx.send(Msg::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv_timeout(FLUSH_WAIT);
        }
    }
}

impl Drop for EventSink {
    fn drop(&mut self) {
        // Closing the queue makes the writer write out what is left and stop.
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// The writer thread's output. Events are best-effort: a failing output (a full disk) must not
/// stop the edge, so a failed write or flush loses what it carried, and is counted
/// (`sluice_event_write_errors_total`) and logged: once when the output starts failing, once
/// when it works again.
struct Output {
    out: BufWriter<Box<dyn Write + Send>>,
    errors: Arc<AtomicU64>,
    failing: bool,
}

impl Output {
    /// Writes one event line (or answers a flush) into the buffer.
    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Event(event) => {
                let written = serde_json::to_writer(&mut self.out, &event)
                    .map_err(io::Error::from)
                    .and_then(|()| self.out.write_all(b"\n"));
                self.record("write", written);
            }
            Msg::Flush(ack) => {
                self.flush();
                // The caller may have given up waiting; nothing to do then.
                let _ = ack.send(());
            }
        }
    }

    /// Writes the buffer out.
    fn flush(&mut self) {
        let flushed = self.out.flush();
        self.record("flush", flushed);
    }

    fn record(&mut self, what: &str, result: io::Result<()>) {
        match result {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!("the event output works again");
            }
            Ok(()) => {}
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if !self.failing {
                    self.failing = true;
                    tracing::error!(
                        "cannot {what} events: {e}; events are lost until the output recovers \
                         (counted in sluice_event_write_errors_total)"
                    );
                }
            }
        }
    }
}

/// The writer thread. Idle, it blocks until an event comes; then it takes events in rounds,
/// pausing [`BATCH_PAUSE`] between rounds so that senders find it not waiting and never have to
/// wake it (one wake-up per round, not per event). It writes the buffer out when a round finds
/// the queue empty, every [`FLUSH_INTERVAL`] under steady load, and when the buffer is full.
fn write_loop(rx: &Receiver<Msg>, out: &mut Output) {
    while let Ok(first) = rx.recv() {
        out.handle(first);
        let mut since_flush = Instant::now();
        loop {
            std::thread::sleep(BATCH_PAUSE);
            let mut taken = 0usize;
            loop {
                match rx.try_recv() {
                    Ok(msg) => {
                        out.handle(msg);
                        taken += 1;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        out.flush();
                        return;
                    }
                }
            }
            if taken == 0 {
                // Quiet again: write out and go back to waiting.
                out.flush();
                break;
            }
            if since_flush.elapsed() >= FLUSH_INTERVAL {
                out.flush();
                since_flush = Instant::now();
            }
        }
    }
    out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A small event whose endpoint URL is `url`.
    fn event(url: &str) -> Event {
        Event::http_request_complete(crate::events::HttpRequestComplete {
            endpoint: Some(crate::events::EndpointRef {
                id: "ep".into(),
                url: url.into(),
            }),
            conn: crate::events::ClientRef::new(None),
            http: crate::events::HttpExchange {
                request: crate::events::RequestLine {
                    method: "GET".into(),
                    host: "a.test".into(),
                    path: "/".into(),
                },
                response: crate::events::ResponseSummary {
                    status_code: Some(200),
                    bytes_out: 0,
                },
                duration_ms: 0.0,
            },
            error_code: None,
            policy: crate::events::PolicyTrace::default(),
            oauth: None,
        })
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>, Arc<AtomicU64>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(s: &Shared) -> usize {
        s.0.lock().unwrap().iter().filter(|b| **b == b'\n').count()
    }

    #[test]
    fn every_event_is_written_after_flush_and_on_drop() {
        let out = Shared::default();
        let sink = EventSink::with_writer(Box::new(out.clone()), 100_000).unwrap();
        for i in 0..10_000 {
            sink.emit(event(&i.to_string()));
        }
        sink.flush();
        assert_eq!(lines(&out), 10_000);
        // Batched: far fewer writes than lines.
        assert!(out.1.load(Ordering::Relaxed) < 1_000);
        for i in 0..5 {
            sink.emit(event(&i.to_string()));
        }
        drop(sink);
        assert_eq!(lines(&out), 10_005);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
    }

    #[test]
    fn written_out_within_the_interval_without_flush() {
        let out = Shared::default();
        let sink = EventSink::with_writer(Box::new(out.clone()), 16).unwrap();
        sink.emit(event("a"));
        let end = Instant::now() + Duration::from_secs(5);
        while lines(&out) == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(lines(&out), 1);
    }

    /// A writer that blocks until released, to fill the queue.
    struct Gate(Arc<Mutex<()>>, Shared);

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _g = self.0.lock().unwrap();
            self.1.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            let _g = self.0.lock().unwrap();
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let gate = Arc::new(Mutex::new(()));
        let out = Shared::default();
        let held = gate.lock().unwrap();
        let sink = EventSink::with_writer(Box::new(Gate(gate.clone(), out.clone())), 4).unwrap();
        // Big events so the writer's buffer fills and it blocks on the gate.
        let big = "x".repeat(BUFFER_BYTES);
        let t = Instant::now();
        for _ in 0..100 {
            sink.emit(event(&big));
        }
        assert!(t.elapsed() < Duration::from_secs(2), "emit blocked");
        assert!(sink.dropped() > 0);
        let dropped = sink.dropped();
        drop(held);
        drop(sink);
        assert_eq!(lines(&out) as u64 + dropped, 100);
    }

    /// An output that always fails, as a full disk does.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("no space left on device"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("no space left on device"))
        }
    }

    #[test]
    fn failed_writes_are_counted() {
        let sink = EventSink::with_writer(Box::new(Full), 16).unwrap();
        sink.emit(event("a"));
        sink.flush();
        assert!(sink.write_errors() > 0);
        assert_eq!(sink.dropped(), 0);
    }
}
