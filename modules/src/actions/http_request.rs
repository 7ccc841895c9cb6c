//! `http-request`: calls an HTTP service from the policy and exposes its answer to later rules
//! as `actions.ngrok.http_request.*`. ngrok limits targets to its internal endpoints; a
//! self-hosted edge calls those (`https://auth.internal/check`: the target's policy and
//! upstream run in-process, as for `forward-internal`) and any other `http(s)://` URL the
//! policy names (the operator writes policies).
//!
//! Errors (on `on_error: halt` they answer 500 with the code; with the default `continue` they
//! are only recorded): 3601 response body over 256 KiB, 3602 timeout, 3214 too many redirects,
//! 2300 connection or protocol failure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cel::Value;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::value::{map, map_owned, string};
use sluice_policy::cel::{Expr, Template};
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};

use crate::http_call::{Call, CallError, Caller, InternalVia, MAX_RESPONSE_BODY, Reply};
use crate::scalar_text::ScalarText;
use crate::util::{HeaderTemplates, header_templates, render_headers};

const MAX_RETRIES: u32 = 3;

/// What to do when the call fails.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Record the error and go on (default).
    #[default]
    Continue,
    /// Answer 500 with the error code.
    Halt,
}

/// One query parameter.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryParam {
    /// Name.
    pub key: String,
    /// Value; `${…}` allowed.
    pub value: String,
}

/// Config of `http-request`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestConfig {
    /// Target URL; `${…}` allowed.
    pub url: String,
    /// GET (default), PUT, POST, PATCH, DELETE or OPTIONS.
    pub method: Option<String>,
    /// Query parameters appended to the URL (at most 32).
    #[serde(default)]
    pub query_params: Vec<QueryParam>,
    /// Headers; values may use `${…}` (at most 10).
    #[serde(default)]
    pub headers: BTreeMap<String, ScalarText>,
    /// Body; `${…}` allowed.
    pub body: Option<String>,
    /// Redirects to follow (0 to 10, default 0).
    pub max_redirects: Option<u32>,
    /// Deadline for all attempts and redirects (1s to 30s, default 3s).
    pub timeout: Option<String>,
    /// CEL over `attempts` and `last_attempt.{req,res,error}`; true retries (at most 3 times).
    pub retry_condition: Option<String>,
    /// `continue` (default) or `halt`.
    #[serde(default)]
    pub on_error: OnError,
}

/// The built action.
pub struct HttpRequest {
    url: Template,
    method: Method,
    query: Vec<(String, Template)>,
    headers: HeaderTemplates,
    body: Option<Template>,
    max_redirects: u32,
    timeout: Duration,
    retry: Option<Expr>,
    on_error: OnError,
    caller: Arc<Caller>,
}

fn headers_value(h: &http::HeaderMap) -> Value {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in h {
        grouped
            .entry(k.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    map_owned(grouped.into_iter().map(|(k, v)| {
        (
            k,
            Value::List(Arc::new(v.into_iter().map(string).collect())),
        )
    }))
}

fn reply_value(r: &Reply) -> Value {
    map([
        ("status_code", Value::Int(i64::from(r.status.as_u16()))),
        ("header", headers_value(&r.headers)),
        ("body", string(String::from_utf8_lossy(&r.body))),
        ("time_ms", Value::Int(r.elapsed.as_millis() as i64)),
    ])
}

fn request_value(c: &Call) -> Value {
    map([
        ("method", string(c.method.as_str())),
        ("url", string(c.url.to_string())),
        ("header", headers_value(&c.headers)),
        ("body", string(String::from_utf8_lossy(&c.body))),
    ])
}

impl HttpRequest {
    fn prepare(&self, cx: &HttpCx<'_>) -> Result<Call, ActionError> {
        let scope = cx.scope();
        let mut url = self
            .url
            .render(scope)
            .map_err(|e| ActionError::interpolation(Self::TYPE, "url", e))?;
        if !self.query.is_empty() {
            let mut qs = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.query {
                let value = v
                    .render(scope)
                    .map_err(|e| ActionError::interpolation(Self::TYPE, "query_params", e))?;
                qs.append_pair(k, &value);
            }
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&qs.finish());
        }
        let uri: http::Uri = url.parse().map_err(|_| ActionError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: 3900,
            message: format!("http-request url {url:?} is not a valid URL"),
        })?;
        let mut headers = http::HeaderMap::new();
        for (k, v) in render_headers(scope, Self::TYPE, &self.headers)? {
            headers.insert(k, v);
        }
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("sluice/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(
            HeaderName::from_static("sluice-req-type"),
            HeaderValue::from_static("http-request"),
        );
        if let Ok(v) = HeaderValue::from_str(&cx.conn().client.ip().to_string()) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
        let body = match &self.body {
            Some(t) => Bytes::from(
                t.render(scope)
                    .map_err(|e| ActionError::interpolation(Self::TYPE, "body", e))?,
            ),
            None => Bytes::new(),
        };
        Ok(Call {
            method: self.method.clone(),
            url: uri,
            headers,
            body,
        })
    }

    /// Whether the retry condition asks for another attempt after `attempt`.
    fn wants_retry(
        &self,
        cx: &HttpCx<'_>,
        attempts: u32,
        call: &Call,
        outcome: &Result<Reply, CallError>,
    ) -> bool {
        let Some(cond) = &self.retry else {
            return false;
        };
        if attempts > MAX_RETRIES {
            return false;
        }
        let (res, error) = match outcome {
            Ok(r) => (reply_value(r), string("")),
            Err(e) => (Value::Null, string(e.to_string())),
        };
        let last = map([("req", request_value(call)), ("res", res), ("error", error)]);
        let scope = cx
            .scope()
            .with_extra("attempts", Value::Int(i64::from(attempts)))
            .with_extra("last_attempt", last);
        cond.eval_bool(&scope).unwrap_or(false)
    }
}

#[async_trait]
impl Action for HttpRequest {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx).await
    }
    async fn on_http_response(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx).await
    }
    fn summary(&self) -> String {
        format!("{} {}", self.method, self.url.source())
    }
}

impl HttpRequest {
    async fn run(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let call = self.prepare(cx)?;
        let via = cx.internal_routing().cloned().map(|routing| InternalVia {
            routing,
            from: cx.conn().clone(),
            clock: cx.clock(),
        });
        let started = std::time::Instant::now();
        let mut attempts_list = Vec::new();
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let remaining = self.timeout.saturating_sub(started.elapsed());
            let outcome = if remaining.is_zero() {
                Err(CallError::Timeout(self.timeout))
            } else {
                self.caller
                    .send_via(call.clone(), self.max_redirects, remaining, via.as_ref())
                    .await
                    .map_err(|e| match e {
                        CallError::Timeout(_) => CallError::Timeout(self.timeout),
                        other => other,
                    })
            };
            attempts_list.push(match &outcome {
                Ok(r) => map([
                    (
                        "response_status_code",
                        Value::Int(i64::from(r.status.as_u16())),
                    ),
                    ("response_time_ms", Value::Int(r.elapsed.as_millis() as i64)),
                    ("response_header", headers_value(&r.headers)),
                ]),
                Err(e) => map([("error", string(e.to_string()))]),
            });
            let timed_out = matches!(outcome, Err(CallError::Timeout(_)));
            if timed_out || !self.wants_retry(cx, attempts, &call, &outcome) {
                break outcome;
            }
        };
        let mut result = vec![
            ("req", request_value(&call)),
            ("attempts", Value::List(Arc::new(attempts_list))),
        ];
        let flow = match &outcome {
            Ok(reply) => {
                result.push(("res", reply_value(reply)));
                Flow::Continue
            }
            Err(e) => {
                result.push((
                    "error",
                    map([
                        ("code", string(format!("ERR_SLUICE_{}", e.code()))),
                        ("message", string(e.to_string())),
                    ]),
                ));
                match self.on_error {
                    OnError::Continue => Flow::Continue,
                    OnError::Halt => Flow::Respond(SyntheticResponse::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        e.code(),
                        &format!("http-request failed: {e}"),
                    )),
                }
            }
        };
        cx.set_result("http_request", map(result));
        Ok(flow)
    }
}

impl TypedAction for HttpRequest {
    type Config = HttpRequestConfig;
    const TYPE: &'static str = "http-request";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest, Phase::HttpResponse];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const ABOUT: &'static str =
        "Calls an HTTP service and exposes its answer to later rules (actions.ngrok.http_request).";

    fn build(config: HttpRequestConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let url = cx.template("url", &config.url);
        if let Some(u) = url.as_ref().and_then(|t| t.as_static())
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            cx.error_at(
                Code::InvalidValue,
                "url",
                "must be an http:// or https:// URL",
            );
        }
        let method_text = config
            .method
            .as_deref()
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let method = match method_text.as_str() {
            "GET" | "PUT" | "POST" | "PATCH" | "DELETE" | "OPTIONS" => {
                Method::from_bytes(method_text.as_bytes()).ok()
            }
            _ => None,
        };
        if method.is_none() {
            cx.error_at(
                Code::InvalidValue,
                "method",
                "must be one of GET, PUT, POST, PATCH, DELETE, OPTIONS",
            );
        }
        if config.query_params.len() > 32 {
            cx.error_at(
                Code::TooManyEntries,
                "query_params",
                "at most 32 query parameters",
            );
        }
        let mut query = Vec::new();
        for (i, q) in config.query_params.iter().enumerate() {
            if q.key.is_empty() || q.key.len() > 128 {
                cx.error_at(
                    Code::InvalidValue,
                    &format!("query_params[{i}].key"),
                    "must be 1 to 128 characters",
                );
            }
            if let Some(t) = cx.template(&format!("query_params[{i}].value"), &q.value) {
                query.push((q.key.clone(), t));
            }
        }
        let headers = header_templates(cx, "headers", &config.headers, 10, &[]);
        let body = config.body.as_deref().and_then(|b| cx.template("body", b));
        let max_redirects = config.max_redirects.unwrap_or(0);
        if max_redirects > 10 {
            cx.error_at(
                Code::OutOfRange,
                "max_redirects",
                "must be between 0 and 10",
            );
        }
        let timeout = match config
            .timeout
            .as_deref()
            .map(|t| sluice_wire::parse_duration(t).ok())
        {
            None => Some(Duration::from_secs(3)),
            Some(Some(d)) if (Duration::from_secs(1)..=Duration::from_secs(30)).contains(&d) => {
                Some(d)
            }
            Some(_) => {
                cx.error_at(
                    Code::OutOfRange,
                    "timeout",
                    "must be a duration from 1s to 30s",
                );
                None
            }
        };
        let retry = match &config.retry_condition {
            Some(text) => cx.expr_with("retry_condition", text, &["attempts", "last_attempt"]),
            None => None,
        };
        let caller = match Caller::new(MAX_RESPONSE_BODY) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                cx.error_at(Code::InvalidValue, "url", e);
                return None;
            }
        };
        if cx.failed() {
            return None;
        }
        Some(HttpRequest {
            url: url?,
            method: method?,
            query,
            headers: headers?,
            body,
            max_redirects,
            timeout: timeout?,
            retry,
            on_error: config.on_error,
            caller,
        })
    }
}
