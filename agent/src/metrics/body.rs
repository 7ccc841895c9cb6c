//! A response body that records the request's duration once it has been sent whole (or
//! dropped half-way), so a request's time includes streaming its response.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use super::EndpointMetrics;
use crate::forward::{BoxError, HttpBody};

/// See the module doc.
pub struct TimedBody {
    inner: HttpBody,
    timing: Option<(EndpointMetrics, Instant)>,
}

impl TimedBody {
    /// Wraps `inner`, a response to a request that arrived at `started`.
    pub fn wrap(inner: HttpBody, metrics: EndpointMetrics, started: Instant) -> HttpBody {
        TimedBody {
            inner,
            timing: Some((metrics, started)),
        }
        .boxed_unsync()
    }

    fn finish(&mut self) {
        if let Some((metrics, started)) = self.timing.take() {
            metrics.request_finished(started.elapsed());
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.finish();
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

impl Drop for TimedBody {
    fn drop(&mut self) {
        self.finish();
    }
}
