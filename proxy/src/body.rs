//! The request body as the policy engine sees it: a [`RequestBodySource`] whose reads are served
//! by the task that owns the Pingora session, over a channel. The host runs the request phase
//! and answers read requests side by side (see `service::run_request_phase`).
//!
//! Bytes read this way are forwarded afterwards through Pingora's retry buffer, which holds
//! [`HOST_BUFFER_LIMIT`] bytes; a body an action wants buffered beyond that fails with
//! `BodyError::TooLarge` (the action decides what to answer).

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use sluice_policy::{BodyError, RequestBodySource};
use tokio::sync::{mpsc, oneshot};

/// Most bytes of a request body the edge can buffer for an action and still forward
/// (Pingora's retry buffer size).
pub const HOST_BUFFER_LIMIT: usize = 64 * 1024;

/// A read request from the engine: the limit, and where to send the result.
pub type ReadRequest = (usize, oneshot::Sender<Result<Bytes, BodyError>>);

/// The engine's side.
#[derive(Debug)]
pub struct SessionBody {
    tx: mpsc::Sender<ReadRequest>,
}

impl SessionBody {
    /// A source and the receiver the host serves reads from.
    pub fn channel() -> (Self, mpsc::Receiver<ReadRequest>) {
        let (tx, rx) = mpsc::channel(1);
        (SessionBody { tx }, rx)
    }
}

#[async_trait]
impl RequestBodySource for SessionBody {
    async fn buffer(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        let (otx, orx) = oneshot::channel();
        self.tx.send((limit, otx)).await.map_err(|_| {
            BodyError::Failed("the request body can only be read in the request phase".into())
        })?;
        orx.await
            .map_err(|_| BodyError::Failed("the request body reader went away".into()))?
    }
}

/// What the host has read of the body so far.
#[derive(Debug, Default)]
pub struct ReadState {
    /// Bytes read.
    pub bytes: BytesMut,
    /// Whether the body is complete.
    pub done: bool,
    /// Whether a read stopped part-way (the body can no longer be forwarded whole).
    pub broken: bool,
    /// Why it stopped: past [`HOST_BUFFER_LIMIT`] (else an error or a timeout).
    pub too_large: bool,
    /// Why it stopped: the body stalled or came too slowly.
    pub timed_out: bool,
}
