//! A body wrapper that passes frames through untouched while copying the first bytes into a
//! shared buffer for the inspector, and runs a callback once the body ends or is dropped.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use super::{BoxError, HttpBody};

/// What has been captured of one body.
#[derive(Debug, Default)]
pub(crate) struct CaptureBuf {
    pub data: BytesMut,
    pub size: u64,
    pub truncated: bool,
}

impl CaptureBuf {
    fn push(&mut self, chunk: &[u8], limit: usize) {
        self.size += chunk.len() as u64;
        let room = limit.saturating_sub(self.data.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.data.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// The captured bytes, their total size and whether they were cut.
    pub fn snapshot(&self) -> (Bytes, u64, bool) {
        (
            Bytes::copy_from_slice(&self.data),
            self.size,
            self.truncated,
        )
    }
}

/// A capture buffer shared between a body and whoever records it.
pub(crate) type SharedCapture = Arc<Mutex<CaptureBuf>>;

/// Locks a capture, surviving a poisoned lock.
pub(crate) fn snapshot(capture: &SharedCapture) -> (Bytes, u64, bool) {
    capture.lock().unwrap_or_else(|p| p.into_inner()).snapshot()
}

type OnEnd = Box<dyn FnOnce() + Send>;

/// See the module doc.
pub(crate) struct TeeBody {
    inner: HttpBody,
    capture: SharedCapture,
    limit: usize,
    on_end: Option<OnEnd>,
}

impl TeeBody {
    /// Wraps `inner`; `on_end` runs once, at the end of the body or when it is dropped.
    pub fn wrap(
        inner: HttpBody,
        capture: SharedCapture,
        limit: usize,
        on_end: Option<OnEnd>,
    ) -> HttpBody {
        TeeBody {
            inner,
            capture,
            limit,
            on_end,
        }
        .boxed_unsync()
    }

    fn finish(&mut self) {
        if let Some(f) = self.on_end.take() {
            f();
        }
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.capture
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(data, this.limit);
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn captures_up_to_the_limit_and_fires_once() -> Result<(), BoxError> {
        let cap = SharedCapture::default();
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        let inner = Full::new(Bytes::from_static(b"hello world"))
            .map_err(|e| -> BoxError { match e {} })
            .boxed_unsync();
        let body = TeeBody::wrap(
            inner,
            cap.clone(),
            5,
            Some(Box::new(move || f.store(true, Ordering::SeqCst))),
        );
        let all = body.collect().await?.to_bytes();
        assert_eq!(&all[..], b"hello world");
        assert!(fired.load(Ordering::SeqCst));
        let (data, size, truncated) = snapshot(&cap);
        assert_eq!((&data[..], size, truncated), (&b"hello"[..], 11, true));
        Ok(())
    }
}
