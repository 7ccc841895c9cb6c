//! The agent↔edge wire protocol: TLS session, stream multiplexing, auth, bind/unbind, heartbeats,
//! reconnect and resume. Filled by the tunnel issue; empty until then.
