//! The sluice agent, as a library: upstream addresses, config files (ngrok's v3 and legacy v2),
//! the local forwarders that serve each tunnelled connection (HTTP/HTTPS/h2c, file://, TCP/TLS,
//! PROXY protocol), and the inspector (store, local API and web page).
//!
//! The tunnel integration calls, per bound endpoint, [`Forwarder::new`] once and
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
pub mod upstream;

pub use forward::{ForwardError, Forwarder, HostHeader, HttpForwarder, HttpOptions};
pub use inspect::{ApiOptions, EndpointInfo, InspectApi, InspectLimits, Inspector};
pub use upstream::{
    AppProtocol, EndpointKind, ProxyProtocol, Scheme, Target, Upstream, UpstreamError,
};
