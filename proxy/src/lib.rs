//! The edge: Pingora services, listeners, endpoint registry and routing, certificates, the tunnel
//! upstream connector, error pages, events and metrics. Filled by the edge issue; empty until then.
