//! What a case describes, built into the harness's types: the connection, the request, the
//! upstream's reply and the canned internal endpoints.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sluice_policy::harness::{self, TestConn, UpstreamReply};

use crate::format::{ConnSpec, HeaderValues, RequestSpec, UpstreamSpec};

/// The connection a case's `conn:` describes (the harness's defaults where it is silent).
pub(crate) fn test_conn(spec: Option<&ConnSpec>) -> Result<TestConn, String> {
    let mut conn = TestConn::default();
    if let Some(spec) = spec {
        if let Some(ip) = &spec.client_ip {
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("conn.client_ip `{ip}` is not an IP"))?;
            conn.client = SocketAddr::new(ip, conn.client.port());
        }
        if let Some(port) = spec.client_port {
            conn.client.set_port(port);
        }
        if let Some(port) = spec.server_port {
            conn.server.set_port(port);
        }
        conn.sni = spec.sni.clone();
        if let Some(pem) = &spec.client_certificate {
            let cert = sluice_policy::PeerCertificate::from_pem(pem)
                .map_err(|e| format!("conn.client_certificate: {e}"))?;
            conn.client_certificate = Some(std::sync::Arc::new(cert));
        }
    }
    Ok(conn)
}

/// Headers as a case writes them (one value or a list per name), names lower-cased.
pub(crate) fn header_map(
    headers: &std::collections::BTreeMap<String, HeaderValues>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("`{k}` is not a header name"))?;
        for value in v.values() {
            let value =
                HeaderValue::from_str(value).map_err(|_| format!("bad value for header `{k}`"))?;
            map.append(name.clone(), value);
        }
    }
    Ok(map)
}

/// The request head, body and trailers a spec describes.
pub(crate) fn build_request(
    spec: Option<&RequestSpec>,
    endpoint: &str,
) -> Result<(http::request::Parts, Bytes, HeaderMap), String> {
    let spec = spec.cloned().unwrap_or_default();
    let url = spec.url.unwrap_or_else(|| "/".into());
    let full = if url.starts_with('/') {
        format!("{}{url}", endpoint.trim_end_matches('/'))
    } else {
        url
    };
    let mut parts = harness::request(spec.method.as_deref().unwrap_or("GET"), &full, &[]);
    let extra = header_map(&spec.headers)?;
    for (name, value) in &extra {
        if name == http::header::HOST {
            parts.headers.insert(name.clone(), value.clone());
        } else {
            parts.headers.append(name.clone(), value.clone());
        }
    }
    let trailers = header_map(&spec.trailers)?;
    Ok((parts, Bytes::from(spec.body.unwrap_or_default()), trailers))
}

/// Normalises the path as the edge does before any policy runs, for the in-process run (`sluice_wire::path`); a path
/// the edge would refuse with 400 is an error here.
pub(crate) fn normalize_path(uri: &mut http::Uri) -> Result<(), String> {
    let normal = match sluice_wire::normalize_path(uri.path()) {
        Ok(None) => return Ok(()),
        Ok(Some(p)) => p,
        Err(e) => return Err(format!("the edge refuses this path with 400: {e}")),
    };
    let mut parts = uri.clone().into_parts();
    let pq = match uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    parts.path_and_query = Some(pq.parse().map_err(|e| format!("bad path {pq}: {e}"))?);
    *uri = http::Uri::from_parts(parts).map_err(|e| format!("bad path {pq}: {e}"))?;
    Ok(())
}

/// The fake upstream's answer a case's `upstream:` describes.
pub(crate) fn build_reply(spec: Option<&UpstreamSpec>) -> Result<UpstreamReply, String> {
    let mut reply = UpstreamReply::default();
    if let Some(spec) = spec {
        if let Some(s) = spec.status {
            reply.status =
                StatusCode::from_u16(s).map_err(|_| format!("bad upstream status {s}"))?;
        }
        reply.headers = header_map(&spec.headers)?;
        if let Some(b) = &spec.body {
            reply.body = Bytes::from(b.clone());
        }
        reply.trailers = header_map(&spec.trailers)?;
    }
    Ok(reply)
}

/// The file's canned internal endpoints, by canonical URL.
pub(super) fn canned_internal(
    specs: &std::collections::BTreeMap<String, UpstreamSpec>,
) -> Result<harness::CannedInternal, String> {
    let mut out = harness::CannedInternal::new();
    for (url, spec) in specs {
        let key =
            sluice_policy::internal_url(url).map_err(|e| format!("internal_endpoints: {e}"))?;
        out.insert(key, build_reply(Some(spec))?);
    }
    Ok(out)
}
