//! A small etcd v3 client over etcd's JSON gateway (`/v3/...`), with the edge's own hyper
//! client. Not the `etcd-client` crate: it generates its gRPC code with `protoc` at build time
//! and brings tonic and prost (a second HTTP/2 stack) into every build of the edge, for the
//! calls used here (lease grant and keep-alive, range, transaction, delete, watch), which the
//! gateway answers in JSON.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// Time allowed for one call to one etcd endpoint.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer read from etcd.
const MAX_ANSWER: usize = 16 << 20;
/// Largest part of a watch stream held while it is not yet a whole JSON message.
const MAX_WATCH_MESSAGE: usize = 1 << 20;

/// Why a call to etcd failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered.
    #[error("etcd is unreachable ({0})")]
    Unreachable(String),
    /// An endpoint answered with something that is not the expected JSON.
    #[error("etcd answered unexpectedly: {0}")]
    Protocol(String),
}

/// One key and its value as read.
#[derive(Debug, Clone)]
pub struct Kv {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// The lease it is attached to (0: none).
    pub lease: i64,
    /// The revision of its last change.
    pub mod_revision: i64,
}

/// An operation of a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Put `value` at `key` under lease `lease` (0: none).
    Put(String, Vec<u8>, i64),
    /// Read `key`.
    Get(String),
}

/// A comparison of a transaction.
#[derive(Debug, Clone)]
pub enum Cmp {
    /// The key does not exist.
    Absent(String),
    /// The key is attached to this lease.
    LeaseIs(String, i64),
}

/// An etcd client over the JSON gateway of one or more members.
#[derive(Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The end of the range of keys starting with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn kvs(v: &Value) -> Vec<Kv> {
    let decode = |v: &Value| {
        v.as_str()
            .and_then(|s| B64.decode(s).ok())
            .unwrap_or_default()
    };
    v.get("kvs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|kv| Kv {
                    key: String::from_utf8_lossy(&decode(&kv["key"])).into_owned(),
                    value: decode(&kv["value"]),
                    lease: num(&kv["lease"]),
                    mod_revision: num(&kv["mod_revision"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Etcd {
    /// A client of the members at `endpoints` (`http://host:port`), tried in order.
    pub fn new(endpoints: Vec<String>) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CALL_TIMEOUT));
        Etcd {
            endpoints,
            client: Client::builder(TokioExecutor::new()).build(http),
        }
    }

    async fn call_one(&self, base: &str, path: &str, body: &Value) -> Result<Value, String> {
        let req = http::Request::post(format!("{}{path}", base.trim_end_matches('/')))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let answer = async {
            let res = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = res.status();
            let mut body = res.into_body();
            let mut buf = Vec::new();
            // Streaming calls (keep-alive) answer one JSON object, then may keep the stream.
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| e.to_string())?;
                if let Some(data) = frame.data_ref() {
                    buf.extend_from_slice(data);
                    if buf.len() > MAX_ANSWER {
                        return Err("answer too large".to_string());
                    }
                    if serde_json::from_slice::<Value>(&buf).is_ok() {
                        break;
                    }
                }
            }
            let v: Value =
                serde_json::from_slice(&buf).map_err(|e| format!("{status}: not JSON ({e})"))?;
            if !status.is_success() {
                return Err(format!("{status}: {}", v["message"].as_str().unwrap_or("")));
            }
            Ok(v)
        };
        tokio::time::timeout(CALL_TIMEOUT, answer)
            .await
            .map_err(|_| "timed out".to_string())?
    }

    /// Calls `path` on the first member that answers.
    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let mut last = String::from("no endpoint");
        for base in &self.endpoints {
            match self.call_one(base, path, &body).await {
                Ok(v) => return Ok(v),
                Err(e) => last = format!("{base}: {e}"),
            }
        }
        Err(EtcdError::Unreachable(last))
    }

    /// A new lease of `ttl` seconds.
    pub async fn grant(&self, ttl: u64) -> Result<i64, EtcdError> {
        let v = self.call("/v3/lease/grant", json!({ "TTL": ttl })).await?;
        match num(&v["ID"]) {
            0 => Err(EtcdError::Protocol(format!("lease grant: {v}"))),
            id => Ok(id),
        }
    }

    /// Renews `lease`; `false` when etcd no longer knows it (it expired).
    pub async fn keep_alive(&self, lease: i64) -> Result<bool, EtcdError> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        Ok(num(&v["result"]["TTL"]) > 0)
    }

    /// Every key starting with `prefix`.
    pub async fn range_prefix(&self, prefix: &str) -> Result<Vec<Kv>, EtcdError> {
        let body = json!({ "key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix)) });
        Ok(kvs(&self.call("/v3/kv/range", body).await?))
    }

    /// Watches every key starting with `prefix` on the first member that takes the watch,
    /// calling `changed` when the watch starts and after each batch of events, until the
    /// stream ends or fails (an `Err` says why; the caller watches again).
    pub async fn watch_prefix(&self, prefix: &str, changed: impl Fn()) -> Result<(), EtcdError> {
        let body = json!({ "create_request": {
            "key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix))
        }});
        let mut last = String::from("no endpoint");
        for base in &self.endpoints {
            let req = http::Request::post(format!("{}/v3/watch", base.trim_end_matches('/')))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .map_err(|e| EtcdError::Protocol(e.to_string()))?;
            let res = match tokio::time::timeout(CALL_TIMEOUT, self.client.request(req)).await {
                Ok(Ok(res)) if res.status().is_success() => res,
                Ok(Ok(res)) => {
                    last = format!("{base}: {}", res.status());
                    continue;
                }
                Ok(Err(e)) => {
                    last = format!("{base}: {e}");
                    continue;
                }
                Err(_) => {
                    last = format!("{base}: timed out");
                    continue;
                }
            };
            let mut body = res.into_body();
            let mut buf: Vec<u8> = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| EtcdError::Unreachable(format!("{base}: {e}")))?;
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                buf.extend_from_slice(data);
                // Whole messages are taken off the front; a partial one waits for more.
                let mut messages = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                let mut seen = false;
                while let Some(Ok(message)) = messages.next() {
                    if message.get("error").is_some() {
                        return Err(EtcdError::Protocol(format!("watch: {message}")));
                    }
                    seen = true;
                }
                let used = messages.byte_offset();
                buf.drain(..used);
                if seen {
                    changed();
                }
                if buf.len() > MAX_WATCH_MESSAGE {
                    return Err(EtcdError::Protocol("watch message too large".into()));
                }
            }
            return Err(EtcdError::Unreachable(format!("{base}: the watch ended")));
        }
        Err(EtcdError::Unreachable(last))
    }

    /// Deletes `key`, only while it is attached to `lease`.
    pub async fn delete_if_lease(&self, key: &str, lease: i64) -> Result<(), EtcdError> {
        let body = json!({
            "compare": [cmp(&Cmp::LeaseIs(key.to_string(), lease))],
            "success": [{ "request_delete_range": { "key": b64(key.as_bytes()) } }],
        });
        self.call("/v3/kv/txn", body).await.map(|_| ())
    }

    /// A transaction: `success` if every comparison holds, else `failure`. Returns whether it
    /// succeeded and the keys the `Get`s of the branch taken read.
    pub async fn txn(
        &self,
        compare: &[Cmp],
        success: &[Op],
        failure: &[Op],
    ) -> Result<(bool, Vec<Kv>), EtcdError> {
        let body = json!({
            "compare": compare.iter().map(cmp).collect::<Vec<_>>(),
            "success": success.iter().map(op).collect::<Vec<_>>(),
            "failure": failure.iter().map(op).collect::<Vec<_>>(),
        });
        let v = self.call("/v3/kv/txn", body).await?;
        let read = v["responses"]
            .as_array()
            .map(|r| r.iter().flat_map(|r| kvs(&r["response_range"])).collect())
            .unwrap_or_default();
        Ok((v["succeeded"].as_bool().unwrap_or(false), read))
    }
}

fn cmp(c: &Cmp) -> Value {
    match c {
        Cmp::Absent(k) => json!({
            "key": b64(k.as_bytes()), "target": "CREATE", "result": "EQUAL", "create_revision": "0"
        }),
        Cmp::LeaseIs(k, lease) => json!({
            "key": b64(k.as_bytes()), "target": "LEASE", "result": "EQUAL", "lease": lease.to_string()
        }),
    }
}

fn op(o: &Op) -> Value {
    match o {
        Op::Put(k, v, lease) => json!({ "request_put": {
            "key": b64(k.as_bytes()), "value": b64(v), "lease": lease.to_string()
        }}),
        Op::Get(k) => json!({ "request_range": { "key": b64(k.as_bytes()) } }),
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_key_after_every_key_with_the_prefix() {
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }
}
