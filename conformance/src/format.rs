//! The test-case file format. A file names a policy (inline or by path) and a list of cases;
//! a case sends one or more requests and states what must come out.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A `*.policytest.yml` file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The policy, inline (same format as a policy file).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub policy: Option<serde_json::Value>,
    /// Or the path of a policy file, relative to this file.
    pub policy_file: Option<String>,
    /// The endpoint URL (default `https://app.example.com`).
    pub endpoint: Option<String>,
    /// Internal endpoints `forward-internal` may reach, by URL (`https://api.internal`), each
    /// answering with a canned reply (their own policies are not run). Without any, every
    /// target is offline. In-process only: the live runner skips files that have them.
    #[serde(default)]
    pub internal_endpoints: BTreeMap<String, UpstreamSpec>,
    /// Named IP policies `restrict-ips` may name in `ip_policies`, standing in for the edge
    /// config's `ip_policies:` (the live runner writes them into its edge's config). Without
    /// them, a policy naming one does not load.
    #[serde(default)]
    pub ip_policies: BTreeMap<String, IpPolicySpec>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// A named IP policy of a test file.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpPolicySpec {
    /// CIDRs or addresses allowed.
    #[serde(default)]
    pub allow: Vec<String>,
    /// CIDRs or addresses denied.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// One case: a single send (`request`, `expect`) or several `steps`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Name shown in reports.
    pub name: String,
    /// The client connection.
    pub conn: Option<ConnSpec>,
    /// The request (default `GET /`).
    pub request: Option<RequestSpec>,
    /// What the fake upstream answers (default 200 "upstream ok").
    pub upstream: Option<UpstreamSpec>,
    /// How many times to send (default 1); `expect` is checked on each.
    pub repeat: Option<u32>,
    /// Virtual time to let pass before sending, e.g. `10s`, `1m`.
    pub advance: Option<String>,
    /// What must come out.
    pub expect: Option<Expect>,
    /// Several sends in order, each inheriting the case's request and upstream.
    pub steps: Option<Vec<Step>>,
}

/// One step of a case.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Overrides the case's request.
    pub request: Option<RequestSpec>,
    /// Overrides the case's upstream reply.
    pub upstream: Option<UpstreamSpec>,
    /// How many times to send (default 1).
    pub repeat: Option<u32>,
    /// Virtual time to let pass first.
    pub advance: Option<String>,
    /// What must come out of each send.
    pub expect: Option<Expect>,
}

/// The client connection.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnSpec {
    /// Client IP (default 203.0.113.7).
    pub client_ip: Option<String>,
    /// Client port (default 50000).
    pub client_port: Option<u16>,
    /// Server port (default 443).
    pub server_port: Option<u16>,
    /// TLS server name.
    pub sni: Option<String>,
    /// The client's certificate (PEM), as mutual TLS would give it: `conn.tls.client.*`.
    pub client_certificate: Option<String>,
}

/// One or several header values.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HeaderValues {
    /// A single value.
    One(String),
    /// Several values (sent as repeated headers).
    Many(Vec<String>),
}

impl HeaderValues {
    /// The values.
    pub fn values(&self) -> Vec<&str> {
        match self {
            HeaderValues::One(v) => vec![v.as_str()],
            HeaderValues::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A request to send.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Method (default GET).
    pub method: Option<String>,
    /// Path and query (`/a?b=1`) or a full URL on the endpoint's host.
    pub url: Option<String>,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
    /// Body.
    pub body: Option<String>,
    /// Trailers sent after the body (`req.trailers`); in-process only (the edge's HTTP/1.1
    /// codec drops trailers, so live runs skip such cases).
    #[serde(default)]
    pub trailers: BTreeMap<String, HeaderValues>,
}

/// What the fake upstream answers.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Status (default 200).
    pub status: Option<u16>,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
    /// Body.
    pub body: Option<String>,
    /// Trailers sent after the body (`res.trailers`); in-process only, as for requests.
    #[serde(default)]
    pub trailers: BTreeMap<String, HeaderValues>,
}

/// Expectations about one send.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Response status.
    pub status: Option<u16>,
    /// Response headers with exact values (all values joined by `, ` when repeated).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Response headers that must be present.
    #[serde(default)]
    pub headers_present: Vec<String>,
    /// Response headers that must be absent.
    #[serde(default)]
    pub headers_absent: Vec<String>,
    /// Exact response body.
    pub body: Option<String>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Regex the body must match.
    pub body_matches: Option<String>,
    /// Whether the upstream was called.
    pub upstream_called: Option<bool>,
    /// The internal endpoint `forward-internal` handed the request to (`upstream` then
    /// describes what that endpoint received), or `""` for none.
    pub forwarded_to: Option<String>,
    /// What the upstream received (implies it was called).
    pub upstream: Option<UpstreamExpect>,
    /// Whether the connection was closed (no response).
    pub closed: Option<bool>,
    /// Rules that fired, in order: names or indexes.
    pub fired: Option<Vec<RuleRef>>,
    /// `vars.*` after the request phase (subset).
    pub vars: Option<serde_json::Map<String, serde_json::Value>>,
    /// `actions.ngrok.*` after the exchange (subset match).
    pub actions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A rule, by name or index.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum RuleRef {
    /// Index in its phase.
    Index(usize),
    /// Its `name`.
    Name(String),
}

/// What the upstream must have received.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamExpect {
    /// Method.
    pub method: Option<String>,
    /// Path and query.
    pub path: Option<String>,
    /// Headers with exact values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must be present.
    #[serde(default)]
    pub headers_present: Vec<String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub headers_absent: Vec<String>,
    /// Exact body.
    pub body: Option<String>,
}

/// Parses a step's `advance` duration with Go's grammar (`10s`, `1m30s`, `2h`, `500ms`; see
/// [`sluice_wire::duration`]).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    sluice_wire::parse_duration(s).ok()
}

/// The JSON Schema (draft-07) of test files.
pub fn policytest_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<TestFile>();
    let mut value = schema.to_value();
    value["$id"] = serde_json::json!("https://sluice.dev/schemas/policytest.schema.json");
    value["title"] = serde_json::json!("sluice policy test cases");
    value
}
