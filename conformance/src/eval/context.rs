//! What `sluice policy eval` evaluates against: the connection, request, upstream reply and
//! phase, from a context file (the `*.policytest.yml` case shapes) overridden by flags.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::request::Parts;
use serde::Deserialize;
use std::sync::Arc;

use sluice_policy::harness::{self, Outcome, TestConn, UpstreamReply};
use sluice_policy::{Connection, Phase, Policy, SystemClock};
use sluice_source::{NodeDeserializer, PathSeg, parse};

use super::{EvalArgs, EvalPhase};
use crate::format::{ConnSpec, HeaderValues, RequestSpec, UpstreamSpec};
use crate::runner::{build_reply, build_request, normalize_path, test_conn};

/// The endpoint used when neither the request URL nor the context names one.
const DEFAULT_ENDPOINT: &str = "https://app.example.com";

/// A `--context` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    /// The endpoint URL.
    endpoint: Option<String>,
    /// The phase to evaluate in.
    phase: Option<EvalPhase>,
    /// The client connection.
    conn: Option<ConnSpec>,
    /// The request.
    request: Option<RequestSpec>,
    /// What the upstream answers (for `on_http_response`).
    response: Option<UpstreamSpec>,
}

/// Everything one evaluation needs, ready for the harness.
#[derive(Debug)]
pub struct EvalContext {
    /// The endpoint URL.
    pub endpoint: String,
    /// The phase asked for, if any.
    pub phase: Option<Phase>,
    /// Whether a response was described (then the default phase is `on_http_response`).
    pub has_response: bool,
    /// The client connection.
    pub conn: TestConn,
    /// The request head, path normalised as the edge does.
    pub request: Parts,
    /// The request body.
    pub body: Bytes,
    /// The request's trailers.
    pub trailers: http::HeaderMap,
    /// The upstream's reply.
    pub reply: UpstreamReply,
}

impl EvalContext {
    /// Builds the context from `--context` and the flags (flags win).
    pub fn from_args(args: &EvalArgs) -> Result<EvalContext, String> {
        let file = match &args.context {
            Some(path) => read_context(path)?,
            None => ContextFile::default(),
        };
        let mut conn = file.conn.unwrap_or_default();
        if let Some(ip) = &args.client_ip {
            conn.client_ip = Some(ip.clone());
        }
        if let Some(sni) = &args.sni {
            conn.sni = Some(sni.clone());
        }
        let mut request = file.request.unwrap_or_default();
        let mut url_endpoint = None;
        if let Some(line) = &args.request {
            let (method, url) = split_request_line(line)?;
            if let Some(m) = method {
                request.method = Some(m);
            }
            url_endpoint = endpoint_of(&url);
            request.url = Some(url);
        } else if let Some(url) = &request.url {
            url_endpoint = endpoint_of(url);
        }
        add_headers(&mut request.headers, &args.headers, "--header")?;
        if let Some(body) = &args.body {
            request.body = Some(body.clone());
        }
        let described = file.response.is_some()
            || args.response_status.is_some()
            || !args.response_headers.is_empty()
            || args.response_body.is_some();
        let mut response = file.response.unwrap_or_default();
        if let Some(s) = args.response_status {
            response.status = Some(s);
        }
        add_headers(
            &mut response.headers,
            &args.response_headers,
            "--response-header",
        )?;
        if let Some(b) = &args.response_body {
            response.body = Some(b.clone());
        }
        let endpoint = args
            .endpoint
            .clone()
            .or(file.endpoint)
            .or(url_endpoint)
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        if !endpoint.contains("://") {
            return Err(format!(
                "endpoint `{endpoint}` needs a scheme, e.g. https://{endpoint}"
            ));
        }
        let (mut parts, body, trailers) = build_request(Some(&request), &endpoint)?;
        normalize_path(&mut parts.uri)?;
        Ok(EvalContext {
            endpoint,
            phase: args.phase.or(file.phase).map(Phase::from),
            has_response: described,
            conn: test_conn(Some(&conn))?,
            request: parts,
            body,
            trailers,
            reply: build_reply(Some(&response))?,
        })
    }
}

impl EvalContext {
    /// Runs `policy` on this context as the edge would, on the real clock: `on_tcp_connect`,
    /// then, unless that closed the connection or `http` is false, the HTTP exchange. With
    /// `traced`, the connection's and the exchange's `trace` hold the policy trace.
    pub(super) async fn run(
        &self,
        policy: &Policy,
        http: bool,
        traced: bool,
    ) -> (Connection, Option<Outcome>) {
        let endpoint = harness::endpoint(&self.endpoint);
        let mut conn = harness::connection(&self.conn, endpoint, Arc::new(SystemClock));
        if traced {
            conn.trace = Some(Box::default());
        }
        let closed = harness::tcp_connect(policy, &mut conn).await;
        let outcome = if http && !closed {
            let sent = harness::SentRequest {
                head: self.request.clone(),
                body: self.body.clone(),
                trailers: self.trailers.clone(),
                traced,
            };
            let internal = harness::CannedInternal::new();
            Some(harness::exchange_sent(policy, &conn, sent, &self.reply, &internal).await)
        } else {
            None
        };
        (conn, outcome)
    }
}

fn read_context(path: &std::path::Path) -> Result<ContextFile, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let root = parse(&text).map_err(|(loc, m)| format!("{name}:{loc}: {m}"))?;
    NodeDeserializer::deserialize(&root).map_err(|e| {
        let loc = e.loc.unwrap_or_default();
        format!("{name}:{loc}: {}: {}", PathSeg::render(&e.path), e.message)
    })
}

/// `GET https://x.test/a` → (Some("GET"), "https://x.test/a"); `/a` → (None, "/a").
fn split_request_line(line: &str) -> Result<(Option<String>, String), String> {
    let mut words = line.split_whitespace();
    let (method, url) = match (words.next(), words.next(), words.next()) {
        (Some(url), None, None) => (None, url),
        (Some(method), Some(url), None) => (Some(method.to_string()), url),
        _ => {
            return Err(format!(
                "--request `{line}`: write `[METHOD] URL`, e.g. `POST https://app.example.com/a?b=1`"
            ));
        }
    };
    if !url.starts_with('/') && !url.contains("://") {
        return Err(format!(
            "--request URL `{url}`: give a full URL (https://host/path) or a path starting with /"
        ));
    }
    Ok((method, url.to_string()))
}

/// The `scheme://host[:port]` of a full URL.
fn endpoint_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    Some(format!("{scheme}://{authority}"))
}

fn add_headers(
    into: &mut BTreeMap<String, HeaderValues>,
    flags: &[String],
    flag: &str,
) -> Result<(), String> {
    for h in flags {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("{flag} `{h}`: write `name: value`"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        let merged = match into.remove(&name) {
            None => HeaderValues::One(value),
            Some(old) => {
                let mut all: Vec<String> = old.values().into_iter().map(String::from).collect();
                all.push(value);
                HeaderValues::Many(all)
            }
        };
        into.insert(name, merged);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            split_request_line("POST https://x.test/a?b=1").ok(),
            Some((Some("POST".into()), "https://x.test/a?b=1".into()))
        );
        assert_eq!(split_request_line("/a").ok(), Some((None, "/a".into())));
        assert!(split_request_line("x.test/a").is_err());
        assert!(split_request_line("GET /a extra").is_err());
        assert_eq!(
            endpoint_of("http://x.test:8080/a?b").as_deref(),
            Some("http://x.test:8080")
        );
    }
}
