//! The HTTP forwarder's client to its upstream. Its connector dials the endpoint's upstream
//! address whatever authority a request names, so an HTTP/2 request may carry the public host
//! as `:authority` (the only host HTTP/2 has) while the bytes still go to `localhost:3000`; a
//! TLS upstream is verified under its own name; and with `--upstream-proxy-protocol` each
//! connection starts with a PROXY header naming the public client (such a client serves one
//! public connection, so no upstream connection is shared between two clients).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::ServerName;
use sluice_wire::proxy_protocol;
use tokio::io::AsyncWriteExt;
use tower_service::Service;

use super::{ForwardError, HttpBody, tls};
use crate::upstream::{AppProtocol, ProxyProtocol, Scheme, Target, Upstream};

/// The hyper client an HTTP forwarder sends requests with.
pub(crate) type UpstreamClient = Client<HttpsConnector<FixedTarget>, HttpBody>;

/// Builds the client for `upstream`; with `proxy_client`, every connection it opens starts
/// with the upstream's PROXY header naming that client.
pub(crate) fn upstream_client(
    upstream: &Upstream,
    proxy_client: Option<SocketAddr>,
) -> Result<UpstreamClient, ForwardError> {
    let h2 = upstream.protocol == AppProtocol::Http2;
    // hyper-rustls sets ALPN itself from the enabled protocols.
    let tls = tls::client_config(
        upstream.tls_verify,
        upstream.tls_verify_cas.as_deref(),
        Vec::new(),
    )
    .map_err(|e| ForwardError::Io(std::io::Error::other(e)))?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let proxy = upstream.proxy_protocol.zip(proxy_client);
    let http = FixedTarget {
        inner: http,
        target: upstream_uri(upstream)?,
        proxy,
    };
    let mut builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Target::Net { host, .. } = &upstream.target
        && let Ok(name) = ServerName::try_from(host.clone())
    {
        // Verified (and SNI sent) under the upstream's name, not the request's authority.
        builder = builder.with_server_name_resolver(FixedServerNameResolver::new(name));
    }
    let builder = builder.enable_http1();
    let connector = if h2 {
        builder.enable_http2().wrap_connector(http)
    } else {
        builder.wrap_connector(http)
    };
    Ok(Client::builder(TokioExecutor::new())
        .http2_only(h2)
        .build(connector))
}

/// The address the connector dials: the upstream's `scheme://host:port` (a placeholder for
/// the file server, which never connects).
fn upstream_uri(upstream: &Upstream) -> Result<Uri, ForwardError> {
    let text = match &upstream.target {
        Target::Net { .. } => {
            let scheme = if upstream.scheme == Scheme::Https {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", upstream.authority())
        }
        Target::File(_) => "http://127.0.0.1:9".to_string(),
    };
    text.parse::<Uri>()
        .map_err(|e| ForwardError::Http(format!("upstream address `{text}`: {e}")))
}

/// An [`HttpConnector`] that dials one fixed address, optionally sending a PROXY header first.
#[derive(Debug, Clone)]
pub(crate) struct FixedTarget {
    inner: HttpConnector,
    /// `scheme://host:port` of the upstream.
    target: Uri,
    /// The PROXY header's version and the public client it names.
    proxy: Option<(ProxyProtocol, SocketAddr)>,
}

impl Service<Uri> for FixedTarget {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, _requested: Uri) -> Self::Future {
        let connecting = self.inner.call(self.target.clone());
        let proxy = self.proxy;
        Box::pin(async move {
            let mut io = connecting.await?;
            if let Some((version, client)) = proxy {
                let tcp = io.inner_mut();
                let upstream = tcp.peer_addr()?;
                let header = match version {
                    ProxyProtocol::V1 => proxy_protocol::encode_v1(client, upstream).into_bytes(),
                    ProxyProtocol::V2 => proxy_protocol::encode_v2(client, upstream),
                };
                tcp.write_all(&header).await?;
            }
            Ok(io)
        })
    }
}
