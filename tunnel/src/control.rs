//! The control stream plumbing shared by both ends: a writer task fed by a bounded queue, and a
//! cancel-safe reader of [`ControlMessage`]s.

use futures::SinkExt;
use futures::stream::{SplitStream, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{ControlFramed, control_framed, decode_control};
use crate::error::{Result, TunnelError};
use crate::mux::MuxStream;
use crate::proto::ControlMessage;

/// How many outgoing control messages may wait for the socket.
const CONTROL_QUEUE: usize = 64;
/// Places of that queue only replies may take (heartbeat acks, bind answers, `GoAway`):
/// best-effort messages (an edge's policy traces, one per inspected request) stop short of
/// them, so a busy endpoint's traces never crowd out the acks that keep its session alive.
const RESERVED_FOR_REPLIES: usize = 16;

/// Reading half of a control stream.
pub(crate) struct ControlReader {
    inner: SplitStream<ControlFramed<MuxStream>>,
}

impl ControlReader {
    /// The next message; `Ok(None)` at a clean end of stream. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Result<Option<ControlMessage>> {
        match self.inner.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(TunnelError::Io(e)),
            Some(Ok(frame)) => decode_control(&frame).map(Some),
        }
    }
}

/// What the writer task is asked to do.
enum Outgoing {
    Msg(ControlMessage),
    Flush(oneshot::Sender<()>),
}

/// Sending half of a control stream: a bounded queue in front of a writer task.
#[derive(Clone)]
pub(crate) struct ControlTx(mpsc::Sender<Outgoing>);

impl ControlTx {
    /// Queues `msg`, waiting for room; `false` once the writer is gone.
    pub(crate) async fn send(&self, msg: ControlMessage) -> bool {
        self.0.send(Outgoing::Msg(msg)).await.is_ok()
    }

    /// Queues `msg` if there is room; `false` if full or gone.
    pub(crate) fn try_send(&self, msg: ControlMessage) -> bool {
        self.0.try_send(Outgoing::Msg(msg)).is_ok()
    }

    /// Queues a best-effort `msg` only while more than [`RESERVED_FOR_REPLIES`] places are
    /// free; `false` when it was dropped (or the writer is gone).
    pub(crate) fn try_send_best_effort(&self, msg: ControlMessage) -> bool {
        self.0.capacity() > RESERVED_FOR_REPLIES && self.try_send(msg)
    }

    /// Waits until everything queued before this call is handed to the mux.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.send(Outgoing::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Splits a typed control stream into a queue-fed writer task and a reader.
///
/// The writer ends (and half-closes the stream) once every sender is dropped.
pub(crate) fn split(stream: MuxStream) -> (ControlTx, ControlReader) {
    let (mut sink, reader) = StreamExt::split::<tokio_util::bytes::Bytes>(control_framed(stream));
    let (tx, mut rx) = mpsc::channel::<Outgoing>(CONTROL_QUEUE);
    tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let msg = match out {
                Outgoing::Msg(m) => m,
                Outgoing::Flush(done) => {
                    let _ = sink.flush().await;
                    let _ = done.send(());
                    continue;
                }
            };
            let bytes = match serde_json::to_vec(&msg) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode control message");
                    continue;
                }
            };
            if let Err(e) = sink.send(tokio_util::bytes::Bytes::from(bytes)).await {
                tracing::debug!(error = %e, "control stream write failed");
                return;
            }
        }
        let _ = sink.close().await;
    });
    (ControlTx(tx), ControlReader { inner: reader })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Traces fill the queue only up to the places kept for replies; a heartbeat ack still
    /// gets in while nothing drains it.
    #[test]
    fn best_effort_messages_leave_room_for_replies() {
        let (tx, _rx) = mpsc::channel::<Outgoing>(CONTROL_QUEUE);
        let tx = ControlTx(tx);
        let mut queued = 0;
        while tx.try_send_best_effort(ControlMessage::Heartbeat) {
            queued += 1;
            assert!(queued <= CONTROL_QUEUE, "never refused");
        }
        assert_eq!(queued, CONTROL_QUEUE - RESERVED_FOR_REPLIES);
        for _ in 0..RESERVED_FOR_REPLIES {
            assert!(
                tx.try_send(ControlMessage::HeartbeatAck),
                "a reply finds room"
            );
        }
        assert!(
            !tx.try_send(ControlMessage::HeartbeatAck),
            "the queue is bounded"
        );
    }
}
