//! The sluice agent, as a library: upstream addresses, config files (ngrok's v3 and legacy v2),
//! the local forwarders that serve each tunnelled connection (HTTP/HTTPS/h2c, file://, TCP/TLS,
//! PROXY protocol), the inspector (store, local API and web page), and a small SDK ([`Agent`],
//! [`Endpoint`]) to put a service on an edge from Rust.
//!
//! Connect a session, bind an endpoint, then either accept its connections as tokio streams or
//! forward them to a URL:
//!
//! ```no_run
//! # async fn demo(ca_pem: Vec<u8>) -> Result<(), sluice_agent::SdkError> {
//! use sluice_agent::Agent;
//! use sluice_tunnel::{BindRequest, Protocol, SessionBuilder};
//! use tokio::io::AsyncWriteExt;
//!
//! let agent = Agent::connect(
//!     SessionBuilder::new("my-authtoken")
//!         .connect_addr("edge.example.com:4443")
//!         .ca_pem(ca_pem),
//! )
//! .await?;
//!
//! // Forward an HTTP endpoint to a local service.
//! let web = agent.bind(BindRequest::new(Protocol::Http)).await?;
//! println!("{} -> localhost:8080", web.url());
//! tokio::spawn(web.forward_to("8080"));
//!
//! // Or take a TCP endpoint's connections as tokio streams.
//! let mut tcp = agent.bind(BindRequest::new(Protocol::Tcp)).await?;
//! while let Some((header, mut stream)) = tcp.accept().await {
//!     println!("connection from {}", header.client_addr);
//!     stream.write_all(b"hello\n").await.ok();
//! }
//! # Ok(())
//! # }
//! ```
//!
//! To run endpoints from a config file the way `sluice start` does (reconnecting session,
//! inspector, web interface, clean unbind on stop), hand them to [`runner::Runner`]; the CLI
//! is a thin layer over it that prints its events.
//!
//! Underneath, the runner calls, per bound endpoint, [`Forwarder::new`] once and
//! [`Forwarder::serve`] for every accepted stream; it registers the endpoint on the
//! [`InspectApi`] so the web interface lists it and can replay its requests.
//!
//! ```no_run
//! # async fn demo(stream: tokio::io::DuplexStream) -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_agent::{ApiOptions, InspectApi, Inspector, config};
//!
//! let cfg = config::load(&[])?; // the default file, if any
//! let inspector = Inspector::new(cfg.agent.inspect_limits().unwrap_or_default());
//! let api = InspectApi::new(inspector.clone(), ApiOptions::default());
//! if let Some(addr) = cfg.agent.web_addr() {
//!     tokio::spawn(api.clone().serve(sluice_agent::inspect::bind(addr, false).await?));
//! }
//! for endpoint in cfg.resolve(&[], true)? {
//!     let forwarder = endpoint.forwarder(Some(&inspector))?;
//!     // bind `endpoint` on the tunnel, then register what the edge assigned:
//!     let replayer = match &forwarder {
//!         sluice_agent::Forwarder::Http(h) => Some(h.clone()),
//!         sluice_agent::Forwarder::Stream(_) => None,
//!     };
//!     api.add_endpoint(endpoint.info("https://k3f9a1.localhost"), replayer);
//!     // for each accepted (header, stream):
//!     forwarder.serve(stream, "203.0.113.7:5555".parse()?).await?;
//!     break;
//! }
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod forward;
pub mod inspect;
pub mod metrics;
pub mod runner;
pub mod sdk;
pub mod upstream;

pub use forward::{
    AgentTls, AgentTlsPem, ForwardError, Forwarder, HostHeader, HttpForwarder, HttpOptions,
};
pub use inspect::{AgentSetting, ApiOptions, EndpointInfo, InspectApi, InspectLimits, Inspector};
pub use sdk::{Agent, Connection, Endpoint, SdkError, SessionProbe};
pub use upstream::{
    AppProtocol, EndpointKind, ProxyProtocol, Scheme, Target, Upstream, UpstreamError,
};
