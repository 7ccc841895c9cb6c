//! The agent: session, config files, local forwarders, the inspector store, web UI and local API.
//! Filled by the tunnel issue; empty until then.
