//! HAR 1.2 (the HTTP Archive format browsers' developer tools read) of recorded exchanges.
//! Bodies are given decoded when `Content-Encoding` could be undone, text when UTF-8, else
//! base64; cut bodies say so in a comment.

use chrono::SecondsFormat;
use serde::Serialize;

use super::body;
use super::detail::query_of;
use super::json::status_line;
use super::store::Exchange;

/// The document.
#[derive(Debug, Serialize)]
pub struct Har {
    /// The log.
    pub log: HarLog,
}

/// `log`.
#[derive(Debug, Serialize)]
pub struct HarLog {
    /// `1.2`.
    pub version: &'static str,
    /// Who wrote it.
    pub creator: HarCreator,
    /// One entry per exchange, oldest first.
    pub entries: Vec<HarEntry>,
}

/// `log.creator`.
#[derive(Debug, Serialize)]
pub struct HarCreator {
    /// `sluice`.
    pub name: &'static str,
    /// The agent's version.
    pub version: String,
}

/// A name/value pair (headers, query, cookies, form params).
#[derive(Debug, Serialize)]
pub struct HarPair {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `entries[]`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarEntry {
    /// ISO 8601 with milliseconds.
    pub started_date_time: String,
    /// Total milliseconds.
    pub time: f64,
    /// The request.
    pub request: HarRequest,
    /// The response (status 0 when there was none).
    pub response: HarResponse,
    /// Nothing is cached: empty.
    pub cache: HarCache,
    /// Timings: the agent knows the total only, counted as `wait`.
    pub timings: HarTimings,
    /// The client's IP.
    #[serde(rename = "_clientIPAddress")]
    pub client_ip_address: String,
    /// The inspector's id.
    #[serde(rename = "_sluiceId")]
    pub sluice_id: String,
    /// The endpoint's name.
    #[serde(rename = "_tunnelName")]
    pub tunnel_name: String,
}

/// `entries[].cache`.
#[derive(Debug, Serialize)]
pub struct HarCache {}

/// `entries[].timings`.
#[derive(Debug, Serialize)]
pub struct HarTimings {
    /// Always 0.
    pub send: f64,
    /// The whole duration.
    pub wait: f64,
    /// Always 0.
    pub receive: f64,
}

/// `entries[].request`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarRequest {
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// `HTTP/1.1`…
    pub http_version: String,
    /// Not parsed: empty.
    pub cookies: Vec<HarPair>,
    /// Headers in order.
    pub headers: Vec<HarPair>,
    /// Query parameters.
    pub query_string: Vec<HarPair>,
    /// The body, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_data: Option<HarPostData>,
    /// Unknown: -1.
    pub headers_size: i64,
    /// The body's size.
    pub body_size: i64,
}

/// `request.postData`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarPostData {
    /// Content type.
    pub mime_type: String,
    /// The body (base64 when not text, said in `_encoding`).
    pub text: String,
    /// `base64` when `text` is.
    #[serde(rename = "_encoding", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Form fields, for form bodies.
    pub params: Vec<HarPair>,
    /// Says when the body was cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `entries[].response`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub status_text: String,
    /// `HTTP/1.1`…
    pub http_version: String,
    /// Not parsed: empty.
    pub cookies: Vec<HarPair>,
    /// Headers in order.
    pub headers: Vec<HarPair>,
    /// The body.
    pub content: HarContent,
    /// The `Location` header, or empty.
    #[serde(rename = "redirectURL")]
    pub redirect_url: String,
    /// Unknown: -1.
    pub headers_size: i64,
    /// Bytes on the wire.
    pub body_size: i64,
}

/// `response.content`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarContent {
    /// Decoded size.
    pub size: i64,
    /// Bytes saved by compression, when it was undone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<i64>,
    /// Content type.
    pub mime_type: String,
    /// The body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `base64` when `text` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Says when the body was cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

fn pairs(list: &[(String, String)]) -> Vec<HarPair> {
    list.iter()
        .map(|(name, value)| HarPair {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// Text and `base64` marker of a body view.
fn text_of(v: &body::BodyView) -> (String, Option<String>) {
    match &v.text {
        Some(t) => (t.clone(), None),
        None => (v.base64.clone(), Some("base64".into())),
    }
}

fn cut_note(v: &body::BodyView) -> Option<String> {
    (v.truncated || v.decoded_truncated).then(|| {
        format!(
            "cut by the sluice inspector: {} of {} bytes captured",
            v.captured_size, v.size
        )
    })
}

fn entry(e: &Exchange, base_url: &str) -> HarEntry {
    let r = &e.request;
    let req_body = body::view(&r.headers, &r.body, r.body_size, r.truncated);
    let post_data = (r.body_size > 0).then(|| {
        let (text, encoding) = text_of(&req_body);
        HarPostData {
            mime_type: req_body.content_type.clone().unwrap_or_default(),
            text,
            encoding,
            params: req_body.form.as_deref().map(pairs).unwrap_or_default(),
            comment: cut_note(&req_body),
        }
    });
    let ms = e.duration.as_secs_f64() * 1000.0;
    let response = match &e.response {
        Some(resp) => {
            let v = body::view(&resp.headers, &resp.body, resp.body_size, resp.truncated);
            let (text, encoding) = text_of(&v);
            let location = resp
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.clone());
            HarResponse {
                status: resp.status,
                status_text: status_line(resp.status)
                    .split_once(' ')
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_default(),
                http_version: resp.proto.clone(),
                cookies: Vec::new(),
                headers: pairs(&resp.headers),
                content: HarContent {
                    size: v.decoded_size as i64,
                    compression: v
                        .decoded
                        .then(|| v.decoded_size as i64 - v.captured_size as i64),
                    mime_type: v.content_type.clone().unwrap_or_default(),
                    text: (!v.base64.is_empty()).then_some(text),
                    encoding,
                    comment: cut_note(&v),
                },
                redirect_url: location.unwrap_or_default(),
                headers_size: -1,
                body_size: i64::try_from(resp.body_size).unwrap_or(i64::MAX),
            }
        }
        None => HarResponse {
            status: 0,
            status_text: String::new(),
            http_version: String::new(),
            cookies: Vec::new(),
            headers: Vec::new(),
            content: HarContent {
                size: 0,
                compression: None,
                mime_type: String::new(),
                text: None,
                encoding: None,
                comment: Some("no response".into()),
            },
            redirect_url: String::new(),
            headers_size: -1,
            body_size: -1,
        },
    };
    HarEntry {
        started_date_time: e.start.to_rfc3339_opts(SecondsFormat::Millis, true),
        time: ms,
        request: HarRequest {
            method: r.method.clone(),
            url: format!("{}{}", base_url.trim_end_matches('/'), r.uri),
            http_version: r.proto.clone(),
            cookies: Vec::new(),
            headers: pairs(&r.headers),
            query_string: pairs(&query_of(&r.uri)),
            post_data,
            headers_size: -1,
            body_size: i64::try_from(r.body_size).unwrap_or(i64::MAX),
        },
        response,
        cache: HarCache {},
        timings: HarTimings {
            send: 0.0,
            wait: ms,
            receive: 0.0,
        },
        client_ip_address: e.remote_addr.ip().to_string(),
        sluice_id: e.id.clone(),
        tunnel_name: e.endpoint.clone(),
    }
}

/// The HAR of `exchanges` (given newest first, written oldest first); `base_url` gives each
/// exchange's public URL (its endpoint's, else `http://` and its Host header).
pub fn har<'a>(
    exchanges: impl DoubleEndedIterator<Item = &'a Exchange>,
    base_url: impl Fn(&Exchange) -> Option<String>,
    version: &str,
) -> Har {
    let entries = exchanges
        .rev()
        .map(|e| {
            let base = base_url(e).unwrap_or_else(|| {
                let host = e
                    .request
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                    .map_or("localhost", |(_, v)| v.as_str());
                format!("http://{host}")
            });
            entry(e, &base)
        })
        .collect();
    Har {
        log: HarLog {
            version: "1.2",
            creator: HarCreator {
                name: "sluice",
                version: version.to_string(),
            },
            entries,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::store::tests::exchange;

    #[test]
    fn har_1_2_required_fields() -> Result<(), serde_json::Error> {
        let a = exchange("a", "web", 3);
        let mut b = exchange("b", "web", 0);
        b.response = None;
        let doc = har(
            [&b, &a].into_iter(),
            |_| Some("https://x.localhost/".into()),
            "1.0",
        );
        let v = serde_json::to_value(&doc)?;
        assert_eq!(v["log"]["version"], "1.2");
        assert_eq!(v["log"]["creator"]["name"], "sluice");
        let entries = v["log"]["entries"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 2);
        let first = &entries[0];
        assert_eq!(first["_sluiceId"], "a");
        for key in [
            "startedDateTime",
            "time",
            "request",
            "response",
            "cache",
            "timings",
        ] {
            assert!(first.get(key).is_some(), "{key}");
        }
        for key in [
            "method",
            "url",
            "httpVersion",
            "cookies",
            "headers",
            "queryString",
            "headersSize",
            "bodySize",
        ] {
            assert!(first["request"].get(key).is_some(), "{key}");
        }
        for key in [
            "status",
            "statusText",
            "httpVersion",
            "cookies",
            "headers",
            "content",
            "redirectURL",
            "headersSize",
            "bodySize",
        ] {
            assert!(first["response"].get(key).is_some(), "{key}");
        }
        assert_eq!(first["request"]["url"], "https://x.localhost/x?y=1");
        assert_eq!(first["request"]["queryString"][0]["name"], "y");
        assert_eq!(first["request"]["postData"]["text"], "aaa");
        assert_eq!(first["response"]["content"]["text"], "ok");
        assert_eq!(first["response"]["statusText"], "OK");
        assert_eq!(entries[1]["response"]["status"], 0);
        Ok(())
    }
}
