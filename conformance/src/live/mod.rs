//! The live mode: the same `*.policytest.yml` cases sent as real HTTP through a real
//! `sluice edge` to an echo upstream that the runner starts and that records what it received.
//!
//! Each case gets its own edge process (fresh policy state, as in-process), serving one
//! endpoint with the file's URL and policy in front of the echo upstream; the client sends
//! with `Host` from the request URL and binds its socket to the case's loopback client address.
//! With `--target URL` the runner only sends, to an edge the user runs.
//!
//! What a real edge cannot reproduce is reported, never passed or failed: cases with virtual
//! time (`advance`), a client IP outside 127.0.0.0/8, a fixed server port, TLS facts on a
//! plain-HTTP endpoint, non-HTTP endpoints, and the expectations only the engine can answer
//! (`fired`, `vars`, `actions`: skipped with a note; the rest of the case is checked).

mod client;
mod echo;
mod edge;
mod gaps;
mod reads;
mod skip;

use reads::PolicyReads;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use http_body_util::Full;
use sluice_policy::Registry;
use sluice_policy::harness;
use sluice_policy::{EndpointInfo, Protocol};

pub use echo::Echo;
pub use gaps::KnownGaps;

use crate::format::Case;
use crate::runner::check::{self, Observed};
use crate::runner::{
    CaseResult, FileResult, Prepared, build_reply, build_request, prepare, steps_of,
};

/// Settings of a live run.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The `sluice` binary whose `edge` subcommand is started per case.
    pub edge_bin: PathBuf,
    /// Send to this already running edge instead (`http://host:port` or `https://…`).
    pub target: Option<String>,
    /// Bind the echo upstream here (default `127.0.0.1:0`).
    pub echo_addr: Option<SocketAddr>,
    /// Cases known to fail live because of an edge gap: skipped with the recorded reason.
    pub known_gaps: KnownGaps,
}

/// The in-process harness's client port.
const DEFAULT_CLIENT_PORT: u16 = 50000;

struct TargetUrl {
    addr: SocketAddr,
    https: bool,
    authority: String,
    host: String,
}

fn parse_target(url: &str) -> Result<TargetUrl, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("--target `{url}` is not a URL like http://127.0.0.1:8080"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(format!("--target `{url}`: use http:// or https://")),
    };
    let authority = rest.split('/').next().unwrap_or_default().to_string();
    let uri: http::uri::Authority = authority
        .parse()
        .map_err(|_| format!("--target `{url}` has no valid host"))?;
    let host = uri.host().to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = if host == "localhost" || host.ends_with(".localhost") {
        SocketAddr::from(([127, 0, 0, 1], port))
    } else {
        (host.trim_start_matches('[').trim_end_matches(']'), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("--target `{url}`: cannot resolve {host}"))?
    };
    Ok(TargetUrl {
        addr,
        https,
        authority,
        host,
    })
}

/// Runs files live. Owns the runtime, the echo upstream and a scratch folder for edge configs.
pub struct LiveRunner {
    runtime: tokio::runtime::Runtime,
    echo: Echo,
    options: LiveOptions,
    target: Option<TargetUrl>,
    tls: std::sync::Arc<rustls::ClientConfig>,
    scratch: PathBuf,
    counter: AtomicU32,
}

impl Drop for LiveRunner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl LiveRunner {
    /// Starts the echo upstream.
    pub fn new(options: LiveOptions) -> Result<LiveRunner, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start runtime: {e}"))?;
        let bind = options
            .echo_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let echo = runtime
            .block_on(Echo::start(bind))
            .map_err(|e| format!("cannot start the echo upstream on {bind}: {e}"))?;
        let target = options.target.as_deref().map(parse_target).transpose()?;
        static RUN: AtomicU32 = AtomicU32::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "sluice-live-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&scratch)
            .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        Ok(LiveRunner {
            runtime,
            echo,
            options,
            target,
            tls: client::insecure_tls()?,
            scratch,
            counter: AtomicU32::new(0),
        })
    }

    /// The echo upstream's address (a `--target` edge must route to it).
    pub fn echo_addr(&self) -> SocketAddr {
        self.echo.addr()
    }

    fn next_dir(&self) -> PathBuf {
        self.scratch
            .join(format!("{}", self.counter.fetch_add(1, Ordering::SeqCst)))
    }

    /// Runs one file live. `filter` keeps only cases whose name contains it.
    pub fn run_file(&self, path: &Path, registry: &Registry, filter: Option<&str>) -> FileResult {
        let mut result = FileResult {
            path: path.to_path_buf(),
            cases: Vec::new(),
            error: None,
            unfired_rules: Vec::new(),
            total_rules: 0,
            live: true,
        };
        let prepared = match prepare(path, registry) {
            Ok(p) => p,
            Err(e) => {
                result.error = Some(e);
                return result;
            }
        };
        // The same load errors as in-process, before anything is started.
        let policy = match prepared.load(registry) {
            Ok(p) => p,
            Err(e) => {
                result.error = Some(e);
                return result;
            }
        };
        // A policy needing a document from elsewhere that cannot be fetched here (an OIDC
        // issuer's discovery) is refused by a real edge when it loads: its cases run in-process
        // only.
        let refused = self
            .runtime
            .block_on(policy.prepare())
            .err()
            .map(|e| e.to_string());
        let policy_file = match self.policy_file(&prepared) {
            Ok(p) => p,
            Err(e) => {
                result.error = Some(e);
                return result;
            }
        };
        let endpoint = harness::endpoint(&prepared.endpoint);
        let reads = PolicyReads::of(&prepared);
        for case in &prepared.file.cases {
            if filter.is_some_and(|f| !case.name.contains(f)) {
                continue;
            }
            let r = if let Some(reason) = self.options.known_gaps.reason(path, &case.name) {
                CaseResult::skip(&case.name, format!("known live gap: {reason}"))
            } else if let Some(why) = &refused {
                CaseResult::skip(
                    &case.name,
                    format!("a real edge refuses this policy when it loads: {why}"),
                )
            } else if !prepared.file.internal_endpoints.is_empty() {
                CaseResult::skip(
                    &case.name,
                    "internal_endpoints: canned internal endpoints exist only in-process".into(),
                )
            } else if let Some(reason) = self.unreproducible(&endpoint, case) {
                CaseResult::skip(&case.name, reason)
            } else {
                self.runtime.block_on(self.run_case(
                    registry,
                    &prepared,
                    &endpoint,
                    policy_file.as_deref(),
                    reads,
                    case,
                ))
            };
            result.cases.push(r);
        }
        result
    }

    /// The policy as a file the edge can read.
    fn policy_file(&self, prepared: &Prepared) -> Result<Option<PathBuf>, String> {
        if let Some((name, _)) = &prepared.policy_text {
            let p = PathBuf::from(name);
            return Ok(Some(std::fs::canonicalize(&p).unwrap_or(p)));
        }
        let Some(policy) = &prepared.file.policy else {
            return Ok(None);
        };
        let dir = self.next_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let p = dir.join("policy.json");
        let text = serde_json::to_string_pretty(policy).map_err(|e| e.to_string())?;
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(Some(p))
    }

    async fn run_case(
        &self,
        registry: &Registry,
        prepared: &Prepared,
        endpoint: &EndpointInfo,
        policy_file: Option<&Path>,
        reads: PolicyReads,
        case: &Case,
    ) -> CaseResult {
        // The client's address: the case's loopback IP, and its port, or the in-process default
        // port 50000 when the policy reads conn.client_port.
        let spec = case.conn.clone().unwrap_or_default();
        let port = spec
            .client_port
            .or(reads.client_port.then_some(DEFAULT_CLIENT_PORT));
        let local = (spec.client_ip.is_some() || port.is_some()).then(|| {
            let ip = spec
                .client_ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(IpAddr::from([127, 0, 0, 1]));
            SocketAddr::new(ip, port.unwrap_or(0))
        });
        let sni_of = |host: &str| {
            case.conn
                .as_ref()
                .and_then(|c| c.sni.clone())
                .unwrap_or_else(|| host.to_string())
        };
        let _edge;
        let (target, authority) = match &self.target {
            Some(t) => {
                if let Some(reason) = self
                    .depends_on_defaults(registry, prepared, reads, case, t.addr.port())
                    .await
                {
                    return CaseResult::skip(&case.name, reason);
                }
                (
                    client::Target {
                        addr: t.addr,
                        tls: t.https.then(|| (self.tls.clone(), sni_of(&t.host))),
                        local,
                    },
                    Some(t.authority.clone()),
                )
            }
            None => {
                let https = endpoint.protocol == Protocol::Https;
                let spec = edge::EdgeSpec {
                    endpoint_url: &endpoint.url,
                    https,
                    upstream: self.echo.addr(),
                    policy_file,
                    state_dir: &self.scratch.join("state"),
                    ip_policies: &prepared.file.ip_policies,
                };
                let edge =
                    match edge::EdgeProcess::start(&self.options.edge_bin, &spec, &self.next_dir())
                        .await
                    {
                        Ok(e) => e,
                        Err(e) => return CaseResult::ran(&case.name, vec![e], Vec::new()),
                    };
                let target = client::Target {
                    addr: edge.addr,
                    tls: https.then(|| (self.tls.clone(), sni_of(&endpoint.host))),
                    local,
                };
                if let Some(reason) = self
                    .depends_on_defaults(registry, prepared, reads, case, edge.addr.port())
                    .await
                {
                    return CaseResult::skip(&case.name, reason);
                }
                _edge = edge;
                (target, None)
            }
        };
        let mut client = client::Client::new(target);
        let mut failures = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let steps = steps_of(case);
        for (si, step) in steps.iter().enumerate() {
            let req_spec = step.request.as_ref().or(case.request.as_ref());
            let up_spec = step.upstream.as_ref().or(case.upstream.as_ref());
            let reply = match build_reply(up_spec) {
                Ok(r) => r,
                Err(e) => return CaseResult::ran(&case.name, vec![e], notes),
            };
            let repeat = step.repeat.unwrap_or(1);
            for n in 0..repeat {
                let label = if steps.len() > 1 || repeat > 1 {
                    format!("step {si} send {n}: ")
                } else {
                    String::new()
                };
                let (mut parts, body, _trailers) = match build_request(req_spec, &prepared.endpoint)
                {
                    Ok(r) => r,
                    Err(e) => return CaseResult::ran(&case.name, vec![e], notes),
                };
                if let Some(a) = &authority
                    && let Ok(v) = http::HeaderValue::from_str(a)
                {
                    parts.headers.insert(http::header::HOST, v);
                }
                let req = http::Request::from_parts(parts, Full::new(body));
                self.echo.arm(reply.clone());
                let resp = match client.send(req).await {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{label}{e}"));
                        return CaseResult::ran(&case.name, failures, notes);
                    }
                };
                let observed = Observed {
                    closed: resp.status.is_none(),
                    status: resp.status,
                    headers: resp.headers,
                    body: resp.body,
                    upstream: self.echo.take().into_iter().next(),
                };
                if let Some(expect) = &step.expect {
                    for problem in check::check(expect, Some(&observed), false, None) {
                        failures.push(format!("{label}{problem}"));
                    }
                    let unchecked = check::engine_only(expect);
                    if !unchecked.is_empty() {
                        let note = format!(
                            "not checked live: {} (engine internals)",
                            unchecked.join(", ")
                        );
                        if !notes.contains(&note) {
                            notes.push(note);
                        }
                    }
                }
            }
        }
        CaseResult::ran(&case.name, failures, notes)
    }
}
