//! The Pingora HTTP app in front of the proxy: [`Front`] is one listener's `HttpProxy` with the
//! edge's HTTP/1 and HTTP/2 settings; [`ConnFront`] is the app one connection runs, holding
//! that connection's record so every request on it (HTTP/1 or each HTTP/2 stream) carries its
//! handle ([`crate::conn_handle`]).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::H2Options;
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;

use crate::body_watch::BodyWatch;
use crate::conn::ConnRecord;
use crate::conn_handle;
use crate::metered::HEADER_LIMIT;
use crate::service::EdgeService;

/// Largest decoded HTTP/2 request header list, as for HTTP/1.
const H2_HEADER_LIMIT: u32 = HEADER_LIMIT as u32 + 1;

/// HTTP/2 flow-control window of each request body stream.
const H2_STREAM_WINDOW: u32 = 1 << 20;

/// HTTP/2 flow-control window of a whole connection (all its request bodies).
const H2_CONNECTION_WINDOW: u32 = 4 << 20;

/// One listener's Pingora HTTP handling and its settings.
pub(super) struct Front {
    pub(super) proxy: Arc<HttpProxy<EdgeService>>,
    pub(super) options: HttpServerOptions,
    /// Keep-alive between HTTP/1 requests, in seconds.
    pub(super) idle_secs: u64,
}

/// The app serving one client connection: its listener's [`Front`] and its record.
pub(super) struct ConnFront {
    pub(super) front: Arc<Front>,
    pub(super) record: Arc<ConnRecord>,
}

#[async_trait]
impl HttpServerApp for ConnFront {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let proxy = &self.front.proxy;
        if session.is_http2() {
            conn_handle::attach(&mut session, &self.record);
            // Pingora has no read timeout for HTTP/2 request bodies: see `BodyWatch`.
            return BodyWatch::run(proxy.process_new_http(session, shutdown))
                .await
                .flatten();
        }
        // Between requests the idle timeout applies; the header guard starts with the next
        // request's first byte.
        session.set_keepalive(Some(self.front.idle_secs));
        // Pipelined requests (sent before the previous answer) are served in order. Without
        // this, Pingora answers the first and closes, dropping the rest it has already read.
        session.set_pipelining_enabled(true);
        self.record.await_header();
        proxy.process_new_http(session, shutdown).await
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.front.options)
    }

    /// Pingora's bounded HTTP/2 defaults, with the request header limit raised to HTTP/1's
    /// (1 MiB, [`HEADER_LIMIT`]): a larger header list is answered `431` by h2.
    fn h2_options(&self) -> Option<H2Options> {
        let mut options = self
            .front
            .proxy
            .h2_options()
            .unwrap_or_else(pingora::protocols::http::v2::server::default_h2_options);
        options.max_header_list_size(H2_HEADER_LIMIT);
        // h2's 64 KiB windows cap an upload at 64 KiB per round trip (1.3 MB/s at 50 ms);
        // these bound what one stream or connection can have in flight instead.
        options.initial_window_size(H2_STREAM_WINDOW);
        options.initial_connection_window_size(H2_CONNECTION_WINDOW);
        Some(options)
    }

    async fn http_cleanup(&self) {
        self.front.proxy.http_cleanup().await;
    }
}
