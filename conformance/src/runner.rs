//! Runs test files in-process: each case gets a fresh policy (fresh limiter state), a virtual
//! clock, a connection, and a recording fake upstream.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_policy::harness::{self, ManualClock};
use sluice_policy::{IpPolicyNames, LoadOptions, Phase, Policy, Registry, load_node, load_policy};
use sluice_source::{Node, NodeDeserializer, parse};

use crate::format::{Case, Step, TestFile, parse_duration};
use build::canned_internal;
pub(crate) use build::{build_reply, build_request, normalize_path, test_conn};

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// What went wrong: one line each, "expected … got …".
    pub failures: Vec<String>,
    /// Why the case was not run (live mode only): neither passed nor failed.
    pub skipped: Option<String>,
    /// Expectations that were not checked, and why (live mode: `fired`, `vars`, `actions`).
    pub notes: Vec<String>,
}

impl CaseResult {
    /// A case that ran: passed when there are no failures.
    pub fn ran(name: &str, failures: Vec<String>, notes: Vec<String>) -> CaseResult {
        CaseResult {
            name: name.to_string(),
            passed: failures.is_empty(),
            failures,
            skipped: None,
            notes,
        }
    }

    /// A case that was not run, with the reason.
    pub fn skip(name: &str, reason: String) -> CaseResult {
        CaseResult {
            name: name.to_string(),
            passed: false,
            failures: Vec::new(),
            skipped: Some(reason),
            notes: Vec::new(),
        }
    }

    /// Whether the case failed (skipped cases did not).
    pub fn failed(&self) -> bool {
        !self.passed && self.skipped.is_none()
    }
}

/// The result of one file.
#[derive(Debug, Clone)]
pub struct FileResult {
    /// The file.
    pub path: PathBuf,
    /// Cases in order.
    pub cases: Vec<CaseResult>,
    /// An error that stopped the whole file (unreadable file, policy that does not load).
    pub error: Option<String>,
    /// Rules no case fired: `phase[index] name`.
    pub unfired_rules: Vec<String>,
    /// Number of rules in the policy.
    pub total_rules: usize,
    /// Whether the file ran live (rule coverage is not measured there).
    pub live: bool,
}

impl FileResult {
    /// Whether the file passed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && !self.cases.iter().any(CaseResult::failed)
    }
}

/// Finds `*.policytest.yml` / `.yaml` files under the given paths, sorted.
pub fn discover(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(entries) = std::fs::read_dir(p) {
            for e in entries.flatten() {
                collect(&e.path(), out);
            }
        }
    } else if is_test_file(p) {
        out.push(p.to_path_buf());
    }
}

/// Whether a path names a policy test file.
pub fn is_test_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with(".policytest.yml") || name.ends_with(".policytest.yaml")
}

/// Runs one file. `filter` keeps only cases whose name contains it.
pub fn run_file(path: &Path, registry: &Registry, filter: Option<&str>) -> FileResult {
    let mut result = FileResult {
        path: path.to_path_buf(),
        cases: Vec::new(),
        error: None,
        unfired_rules: Vec::new(),
        total_rules: 0,
        live: false,
    };
    match prepare(path, registry) {
        Err(e) => result.error = Some(e),
        Ok(prepared) => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    result.error = Some(format!("cannot start runtime: {e}"));
                    return result;
                }
            };
            let mut fired: BTreeSet<(Phase, usize)> = BTreeSet::new();
            for case in &prepared.file.cases {
                if filter.is_some_and(|f| !case.name.contains(f)) {
                    continue;
                }
                let policy = match prepared.load(registry) {
                    Ok(p) => p,
                    Err(e) => {
                        result.error = Some(e);
                        return result;
                    }
                };
                let r = runtime.block_on(run_case(&policy, &prepared, case, &mut fired));
                result.cases.push(r);
            }
            let policy = prepared.load(registry).ok();
            if let Some(policy) = policy {
                for phase in Phase::ALL {
                    for (i, rule) in policy.rules(phase).iter().enumerate() {
                        result.total_rules += 1;
                        if !fired.contains(&(phase, i)) {
                            let name = rule.name.clone().unwrap_or_default();
                            result
                                .unfired_rules
                                .push(format!("{}[{i}] {name}", phase.key()).trim().to_string());
                        }
                    }
                }
            }
        }
    }
    result
}

pub(crate) struct Prepared {
    pub(crate) file: TestFile,
    file_name: Arc<str>,
    policy_node: Option<Node>,
    pub(crate) policy_text: Option<(String, String)>,
    pub(crate) endpoint: String,
    ip_policies: IpPolicyNames,
}

impl Prepared {
    /// How the file's policy loads: named IP policies from its `ip_policies:`, if any.
    pub(crate) fn load_options(&self) -> LoadOptions {
        LoadOptions {
            ip_policies: self.ip_policies.clone(),
            ..LoadOptions::default()
        }
    }

    pub(crate) fn load(&self, registry: &Registry) -> Result<Policy, String> {
        let loaded = if let Some(node) = &self.policy_node {
            load_node(&self.file_name, node, registry, self.load_options())
        } else if let Some((name, text)) = &self.policy_text {
            load_policy(name, text, registry, self.load_options())
        } else {
            Ok(Policy::empty())
        };
        loaded.map_err(|e| format!("policy does not load:\n{e}"))
    }
}

pub(crate) fn prepare(path: &Path, registry: &Registry) -> Result<Prepared, String> {
    let _ = registry;
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let root = parse(&text).map_err(|(loc, m)| format!("{name}:{loc}: {m}"))?;
    let file: TestFile = NodeDeserializer::deserialize(&root).map_err(|e| {
        let loc = e.loc.unwrap_or_default();
        format!(
            "{name}:{loc}: {}: {}",
            sluice_source::PathSeg::render(&e.path),
            e.message
        )
    })?;
    let policy_node = root.get("policy").cloned();
    let policy_text = match &file.policy_file {
        Some(rel) => {
            let p = path.parent().unwrap_or(Path::new(".")).join(rel);
            let t = std::fs::read_to_string(&p)
                .map_err(|e| format!("{name}: cannot read policy_file {}: {e}", p.display()))?;
            Some((p.display().to_string(), t))
        }
        None => None,
    };
    if policy_node.is_some() && policy_text.is_some() {
        return Err(format!("{name}: give `policy` or `policy_file`, not both"));
    }
    let endpoint = file
        .endpoint
        .clone()
        .unwrap_or_else(|| "https://app.example.com".into());
    let ip_policies = ip_policies::names(&file.ip_policies).map_err(|e| format!("{name}: {e}"))?;
    Ok(Prepared {
        file,
        file_name: Arc::from(name.as_str()),
        policy_node,
        policy_text,
        endpoint,
        ip_policies,
    })
}

pub(crate) async fn run_case(
    policy: &Policy,
    prepared: &Prepared,
    case: &Case,
    fired_all: &mut BTreeSet<(Phase, usize)>,
) -> CaseResult {
    let mut failures = Vec::new();
    let steps = steps_of(case);
    let clock = Arc::new(ManualClock::new());
    let setup = test_conn(case.conn.as_ref())
        .map(|c| harness::connection(&c, harness::endpoint(&prepared.endpoint), clock.clone()));
    let mut conn = match setup {
        Ok(c) => c,
        Err(e) => return fail(case, e),
    };
    let internal = match canned_internal(&prepared.file.internal_endpoints) {
        Ok(m) => m,
        Err(e) => return fail(case, e),
    };
    let tcp_closed = harness::tcp_connect(policy, &mut conn).await;
    for f in &conn.fired {
        fired_all.insert((f.phase, f.index));
    }
    for (si, step) in steps.iter().enumerate() {
        if let Some(adv) = &step.advance {
            match parse_duration(adv) {
                Some(d) => clock.advance(d),
                None => return fail(case, format!("step {si}: bad duration `{adv}`")),
            }
        }
        let req_spec = step.request.as_ref().or(case.request.as_ref());
        let up_spec = step.upstream.as_ref().or(case.upstream.as_ref());
        let reply = match build_reply(up_spec) {
            Ok(r) => r,
            Err(e) => return fail(case, e),
        };
        for n in 0..step.repeat.unwrap_or(1) {
            let label = if steps.len() > 1 || step.repeat.unwrap_or(1) > 1 {
                format!("step {si} send {n}: ")
            } else {
                String::new()
            };
            let outcome = if tcp_closed {
                None
            } else {
                let (mut parts, body, trailers) = match build_request(req_spec, &prepared.endpoint)
                {
                    Ok(r) => r,
                    Err(e) => return fail(case, e),
                };
                // (Live mode sends the path as written: the edge normalises it.)
                if let Err(e) = normalize_path(&mut parts.uri) {
                    return fail(case, e);
                }
                let sent = harness::SentRequest {
                    head: parts,
                    body,
                    trailers,
                    traced: false,
                };
                Some(harness::exchange_sent(policy, &conn, sent, &reply, &internal).await)
            };
            if let Some(o) = &outcome {
                for f in &o.exchange.fired {
                    fired_all.insert((f.phase, f.index));
                }
            }
            if let Some(expect) = &step.expect {
                let observed = outcome.as_ref().map(check::Observed::of);
                let engine = outcome.as_ref().map(|o| check::EngineView {
                    outcome: o,
                    conn: &conn,
                });
                for problem in check::check(expect, observed.as_ref(), tcp_closed, engine) {
                    failures.push(format!("{label}{problem}"));
                }
            }
        }
    }
    CaseResult::ran(&case.name, failures, Vec::new())
}

fn fail(case: &Case, message: String) -> CaseResult {
    CaseResult::ran(&case.name, vec![message], Vec::new())
}

/// A case's sends: its `steps`, or the case itself as one step.
pub(crate) fn steps_of(case: &Case) -> Vec<Step> {
    match &case.steps {
        Some(steps) => steps.clone(),
        None => vec![Step {
            request: None,
            upstream: None,
            repeat: case.repeat,
            advance: case.advance.clone(),
            expect: case.expect.clone(),
        }],
    }
}

mod build;
pub(crate) mod check;
mod ip_policies;
