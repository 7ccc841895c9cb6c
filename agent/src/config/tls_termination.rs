//! Where a `tls://` endpoint's TLS ends, from the config files and the CLI: at the agent
//! (v3 `agent_tls_termination`, v2 `crt`/`key`/`terminate_at: agent`, `--terminate-at agent
//! --crt --key`), at the edge (`terminate_at: edge`: a `terminate-tls` policy rule) or at the
//! upstream (the default: passed through). Every recognised key takes effect or is an error.

use std::path::Path;

use serde_json::{Value, json};

use super::types::AgentTlsTermination;
use crate::forward::{AgentTls, AgentTlsPem};
use crate::upstream::EndpointKind;

/// Where TLS ends, as ngrok's `terminate_at` / `--terminate-at` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminateAt {
    /// The edge (`terminate-tls` on `on_tcp_connect`).
    Edge,
    /// The agent, with its own certificate.
    Agent,
    /// The upstream (passthrough).
    Upstream,
}

impl TerminateAt {
    /// Parses `edge`, `agent` or `upstream`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "edge" => Ok(TerminateAt::Edge),
            "agent" => Ok(TerminateAt::Agent),
            "upstream" => Ok(TerminateAt::Upstream),
            other => Err(format!(
                "terminate_at must be edge, agent or upstream, not `{other}`"
            )),
        }
    }
}

/// What the termination settings amount to for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Termination {
    /// Agent-side termination.
    pub agent: Option<AgentTlsPem>,
    /// A policy to merge in front of the endpoint's own (edge termination).
    pub policy: Option<Value>,
}

/// A value that is either PEM text or the path of a PEM file (relative to `base`).
pub fn pem_or_file(value: &str, base: Option<&Path>) -> Result<String, String> {
    if value.contains("-----BEGIN") {
        return Ok(value.to_string());
    }
    let path = match base {
        Some(dir) if Path::new(value).is_relative() => dir.join(value),
        _ => Path::new(value).to_path_buf(),
    };
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The termination for `kind` from a certificate, key and client CAs (each PEM or a path)
/// ending at `at` (default: the agent when a certificate is given, else the upstream).
///
/// HTTP endpoints take client CAs only (v2 `mutual_tls_cas`, `--mutual-tls-cas`): they become
/// a `terminate-tls` rule with those authorities, which shapes the edge's https handshake; an
/// `http://` URL (`url`) has no TLS for them, an error.
pub fn termination(
    kind: EndpointKind,
    at: Option<TerminateAt>,
    crt: Option<&str>,
    key: Option<&str>,
    client_cas: &[String],
    base: Option<&Path>,
    url: Option<&str>,
) -> Result<Termination, String> {
    let given = crt.is_some() || key.is_some() || !client_cas.is_empty();
    if kind == EndpointKind::Http && crt.is_none() && key.is_none() && at.is_none() {
        if client_cas.is_empty() {
            return Ok(Termination::default());
        }
        if url.is_some_and(|u| u.starts_with("http://")) {
            return Err(
                "mutual TLS client CAs need an https:// endpoint (TLS ends at the edge)".into(),
            );
        }
        return edge_policy(None, client_cas, base);
    }
    if kind != EndpointKind::Tls && (given || at.is_some()) {
        return Err("TLS termination settings are for tls:// endpoints only".into());
    }
    let at = at.unwrap_or(if given {
        TerminateAt::Agent
    } else {
        TerminateAt::Upstream
    });
    let pems = |v: &[String]| {
        v.iter()
            .map(|c| pem_or_file(c, base))
            .collect::<Result<Vec<_>, _>>()
    };
    match at {
        TerminateAt::Upstream if given => Err(
            "a certificate, key or client CAs need terminate_at agent or edge, not upstream".into(),
        ),
        TerminateAt::Upstream => Ok(Termination::default()),
        TerminateAt::Agent => {
            let (Some(crt), Some(key)) = (crt, key) else {
                return Err("terminating at the agent needs both a certificate and a key".into());
            };
            let pem = AgentTlsPem {
                certificate_pem: pem_or_file(crt, base)?,
                private_key_pem: pem_or_file(key, base)?,
                client_cas: pems(client_cas)?,
            };
            AgentTls::new(&pem).map_err(|e| e.to_string())?;
            Ok(Termination {
                agent: Some(pem),
                policy: None,
            })
        }
        TerminateAt::Edge => {
            let pair = match (crt, key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => return Err("a certificate needs its key (and a key its certificate)".into()),
            };
            edge_policy(pair, client_cas, base)
        }
    }
}

/// A `terminate-tls` rule in `on_tcp_connect` with this certificate and these client CAs
/// (each PEM or a path).
fn edge_policy(
    pair: Option<(&str, &str)>,
    client_cas: &[String],
    base: Option<&Path>,
) -> Result<Termination, String> {
    let mut config = serde_json::Map::new();
    if let Some((c, k)) = pair {
        config.insert("server_certificate".into(), pem_or_file(c, base)?.into());
        config.insert("server_private_key".into(), pem_or_file(k, base)?.into());
    }
    if !client_cas.is_empty() {
        let pems = client_cas
            .iter()
            .map(|c| pem_or_file(c, base))
            .collect::<Result<Vec<_>, _>>()?;
        config.insert("mutual_tls_certificate_authorities".into(), pems.into());
    }
    let action = if config.is_empty() {
        json!({"type": "terminate-tls"})
    } else {
        json!({"type": "terminate-tls", "config": config})
    };
    Ok(Termination {
        agent: None,
        policy: Some(json!({"on_tcp_connect": [{"actions": [action]}]})),
    })
}

/// v3 `agent_tls_termination` (paths relative to the config file's folder).
pub fn from_v3(
    t: &AgentTlsTermination,
    kind: EndpointKind,
    source: &Path,
) -> Result<Termination, String> {
    let cas = t
        .mutual_tls_certificate_authorities
        .clone()
        .unwrap_or_default();
    termination(
        kind,
        Some(TerminateAt::Agent),
        t.server_certificate.as_deref(),
        t.server_private_key.as_deref(),
        &cas,
        source.parent(),
        None,
    )
    .map_err(|e| format!("agent_tls_termination: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, parse_file};

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["a.test".into()]).expect("cert");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn where_tls_ends() {
        let (crt, key) = pair();
        let tls = EndpointKind::Tls;
        // Nothing given: passthrough.
        assert_eq!(
            termination(tls, None, None, None, &[], None, None),
            Ok(Termination::default())
        );
        // A certificate and key: the agent by default.
        let t = termination(tls, None, Some(&crt), Some(&key), &[], None, None).expect("agent");
        assert!(t.agent.is_some() && t.policy.is_none());
        // The edge: a terminate-tls rule carrying the PEMs.
        let t = termination(
            tls,
            Some(TerminateAt::Edge),
            Some(&crt),
            Some(&key),
            &[],
            None,
            None,
        )
        .expect("edge");
        let policy = t.policy.expect("policy");
        let action = &policy["on_tcp_connect"][0]["actions"][0];
        assert_eq!(action["type"], "terminate-tls");
        assert_eq!(action["config"]["server_certificate"], crt.as_str());
        assert!(t.agent.is_none());
        // Refusals.
        let err = |r: Result<Termination, String>| r.expect_err("refused");
        assert!(
            err(termination(
                tls,
                Some(TerminateAt::Agent),
                None,
                None,
                &[],
                None,
                None
            ))
            .contains("both a certificate and a key")
        );
        assert!(
            err(termination(
                tls,
                Some(TerminateAt::Upstream),
                Some(&crt),
                Some(&key),
                &[],
                None,
                None
            ))
            .contains("not upstream")
        );
        assert!(
            err(termination(
                EndpointKind::Http,
                None,
                Some(&crt),
                Some(&key),
                &[],
                None,
                None
            ))
            .contains("tls:// endpoints only")
        );
        assert!(
            err(termination(
                tls,
                None,
                Some(&crt),
                Some("missing.key"),
                &[],
                None,
                None
            ))
            .contains("missing.key")
        );
        assert!(TerminateAt::parse("nowhere").is_err());
    }

    #[test]
    fn a_v3_block_is_never_ignored() {
        let (crt, key) = pair();
        let block = |url: &str| {
            format!(
                "version: 3\nagent:\n  authtoken: x\nendpoints:\n  - name: e\n    url: {url}\n    agent_tls_termination:\n      server_certificate: {crt:?}\n      server_private_key: {key:?}\n    upstream:\n      url: 127.0.0.1:443\n"
            )
        };
        let resolve = |text: &str| {
            let f = parse_file("s.yml", text, Path::new("/nonexistent/s.yml"))
                .map_err(|e| e.to_string())?;
            let mut c = Config::default();
            c.merge(f, Path::new("s.yml"));
            c.resolve(&[], true).map_err(|e| e.to_string())
        };
        let eps = resolve(&block("tls://a.test")).expect("tls endpoint");
        assert!(eps[0].agent_tls.is_some());
        let err = resolve(&block("https://a.test")).expect_err("not for https");
        assert!(err.contains("agent_tls_termination"), "{err}");
    }
}
