//! The sluice Traffic Policy engine.
//!
//! A policy document (YAML or JSON, ngrok's format) is loaded strictly — every error with its
//! file, line, column, JSON path and code — and compiled once: CEL expressions and `${…}`
//! templates are compiled at load, action configs decoded into typed structs. At request time
//! the engine runs the phases (`on_tcp_connect`, `on_http_request`, `on_http_response`) over
//! plain `http` values, so the whole path runs in-process as well as in the proxy.
//!
//! Actions are types implementing [`Action`], built by an [`ActionFactory`] (usually
//! [`Typed`] over a [`TypedAction`]) registered in a [`Registry`].

mod abort;
pub mod action;
pub mod build;
pub mod cel;
pub mod cel_fns;
mod connection;
pub mod counters;
pub mod cx;
pub mod diag;
mod engine;
pub mod event_stream;
pub mod exchange;
pub mod harness;
pub mod internal;
pub mod ip_policy;
mod load;
pub mod peer_cert;
mod phase;
mod phase_scope;
mod policy;
mod registry;
mod rule_eval;
pub mod schema;
/// The located YAML/JSON tree, re-exported from `sluice-source` so policy errors and the
/// engine's callers share one type.
pub use sluice_source as source;
pub mod tls_termination;
pub mod trace;
pub mod values;

pub use abort::{BUDGET_EXHAUSTED_CODE, PolicyAbort};
pub use action::{Action, ActionFactory, PrepareError, Termination, Typed, TypedAction};
pub use build::BuildCx;
pub use counters::{SharedCounters, SharedCountersError, SharedWindows, WindowCounts, WindowHit};
pub use cx::{HttpCx, PhaseCx, TcpCx};
pub use diag::{Code, Diagnostic, PolicyError, Severity};
pub use engine::{RequestVerdict, ResponseVerdict, TcpVerdict};
pub use event_stream::{EventCx, SseMessage};
pub use exchange::{
    ActionError, BodyError, BodyTransform, BufferedBody, Clock, ConnInfo, Connection,
    ERROR_CODE_HEADER, EndpointInfo, Exchange, FiredRule, Flow, LogEntry, LoginDecision,
    LoginRecord, RequestBodySource, SyntheticResponse, SystemClock, TlsInfo,
};
pub use internal::{
    InternalCall, InternalCallError, InternalCallFuture, InternalEndpoints, InternalRouting,
    MAX_FORWARD_ENDPOINTS, internal_url,
};
pub use ip_policy::{IpPolicies, IpPolicy, IpPolicyNames, parse_net};
pub use load::{LoadOptions, load_node, load_policy};
pub use peer_cert::PeerCertificate;
pub use phase::{Phase, Protocol};
pub use policy::{Policy, PolicyAction, Rule};
pub use registry::Registry;
pub use tls_termination::{ClientAuth, PemKeyPair, TlsHandshake, TlsTermination, TlsVersion};
pub use trace::PolicyTrace;
