//! The HTTP forwarder's connector: every connection goes to the endpoint's upstream address,
//! whatever authority the request names. So an HTTP/2 request may carry the public host as
//! `:authority` (the only host HTTP/2 has) while the bytes still go to `localhost:3000`, and a
//! TLS upstream is verified under its own name.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

/// An [`HttpConnector`] that dials one fixed address.
#[derive(Debug, Clone)]
pub(crate) struct FixedTarget {
    inner: HttpConnector,
    /// `scheme://host:port` of the upstream.
    target: Uri,
}

impl FixedTarget {
    /// Dials `target` (`http://127.0.0.1:3000`) for every request.
    pub(crate) fn new(inner: HttpConnector, target: Uri) -> Self {
        FixedTarget { inner, target }
    }
}

impl Service<Uri> for FixedTarget {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, _requested: Uri) -> Self::Future {
        Box::pin(self.inner.call(self.target.clone()))
    }
}
