//! The agent↔edge wire protocol: TLS session, stream multiplexing, auth, bind/unbind, heartbeats,
//! reconnect and resume.
//!
//! Layers, bottom up: a [`Transport`] (TLS over TCP) → the [`mux`] (yamux, large auto-tuned
//! windows, bounded queues) → typed streams ([`proto::StreamType`]): one control stream carrying
//! length-prefixed JSON [`proto::ControlMessage`]s, and one proxy stream per public connection
//! ([`StreamHeader`] then raw bytes, as a [`TunnelStream`]).
//!
//! The edge runs a [`TunnelServer`] with an [`Authenticator`] and a [`BindHandler`] and gets
//! [`AgentSession`]s; the agent builds a [`ClientSession`] with a [`SessionBuilder`], or keeps one
//! alive across failures with [`ReconnectingSession`].
//! An agent behind a corporate proxy dials through it with an [`EdgeProxy`] (HTTP CONNECT or
//! SOCKS5, from a URL or the standard environment variables).
//!
//! ```no_run
//! # async fn demo(ca_pem: Vec<u8>) -> sluice_tunnel::Result<()> {
//! use sluice_tunnel::{BindRequest, Protocol, SessionBuilder};
//! use tokio::io::AsyncWriteExt;
//!
//! let agent = SessionBuilder::new("my-authtoken")
//!     .connect_addr("edge.example.com:4443")
//!     .ca_pem(ca_pem)
//!     .connect()
//!     .await?;
//! let bound = agent.bind(BindRequest::new(Protocol::Https)).await?;
//! println!("forwarding {}", bound.url);
//! while let Some((header, mut stream)) = agent.accept().await {
//!     // One public connection: forward `stream` to the local upstream.
//!     let _ = (header.client_addr, stream.shutdown().await);
//! }
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod backoff;
pub mod binding;
pub mod builder;
pub mod client;
mod coalesce;
pub mod codec;
mod control;
pub mod edge_proxy;
pub mod error;
pub mod handler;
pub mod idle;
pub mod mux;
pub mod proto;
pub mod reconnect;
pub mod server;
pub mod session;
pub mod stream;
pub mod trace;
pub mod transport;

pub use auth::{AuthRejection, AuthRequest, Authenticator, BindPermission, Grant};
pub use backoff::Backoff;
pub use binding::EndpointBinding;
pub use builder::SessionBuilder;
pub use client::ClientSession;
pub use edge_proxy::EdgeProxy;
pub use error::{CloseReason, Result, TunnelError};
pub use handler::{BindHandler, BindRejection};
pub use mux::MuxConfig;
pub use proto::{BindError, BindOk, BindRequest, Protocol, StreamHeader};
pub use reconnect::{ConnectionState, ReconnectingSession};
pub use server::{ServerSettings, TunnelServer};
pub use session::{AgentSession, Binding};
pub use stream::{COPY_BUFFER, StreamTimeouts, TunnelStream};
pub use trace::{
    ClientTls, EdgeAnswered, NO_REPORT_TRACE_ID, TRACE_ID_HEADER, TraceReport, TraceSink,
};
pub use transport::{Roots, TlsTransport, Transport, client_tls_config, server_tls_config};
