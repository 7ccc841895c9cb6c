//! The local API's gate: it listens on loopback only, and refuses requests whose `Host` is
//! not a loopback name (or one of `web_allow_hosts`), writes with an `Origin` other than its
//! own, and writes whose body is not `application/json`.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use super::api::InspectApi;

/// Binds the API's listener; anything but a loopback address is refused unless `allow_remote`.
pub async fn bind(addr: SocketAddr, allow_remote: bool) -> std::io::Result<TcpListener> {
    if !allow_remote && !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("the web interface only binds loopback addresses, not {addr}"),
        ));
    }
    TcpListener::bind(addr).await
}

/// The host part of a `Host` header (brackets and port removed).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Whether `host` is a loopback name or one of `extra` (`web_allow_hosts`; `.suffix` allows
/// the domain and its subdomains).
fn host_allowed(host: &str, extra: &[String]) -> bool {
    let name = host_name(host).to_ascii_lowercase();
    let loopback = name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback
        || extra.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            match a.strip_prefix('.') {
                Some(suffix) => name == suffix || name.ends_with(&format!(".{suffix}")),
                None => name == a,
            }
        })
}

/// Refuses what the API must never serve: a foreign `Host` (403, against DNS rebinding), a
/// write from another origin (403), a write whose body is not JSON (415).
pub(super) async fn guard(State(api): State<InspectApi>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !host_allowed(host, &api.options.allow_hosts) {
        return (StatusCode::FORBIDDEN, "forbidden host\n").into_response();
    }
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if write {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = [format!("http://{host}"), format!("https://{host}")];
            if !own
                .iter()
                .any(|o| origin.as_bytes().eq_ignore_ascii_case(o.as_bytes()))
            {
                return (StatusCode::FORBIDDEN, "cross-origin request refused\n").into_response();
            }
        }
        if *req.method() != Method::DELETE && !is_json(headers) {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let none: [String; 0] = [];
        for ok in [
            "localhost:4040",
            "127.0.0.1:4040",
            "[::1]:4040",
            "a.localhost",
            "127.0.0.2",
        ] {
            assert!(host_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:4040",
            "",
            "localhost.evil.com",
            "10.0.0.1:4040",
        ] {
            assert!(!host_allowed(bad, &none), "{bad}");
        }
        let extra = vec![".example.com".to_string(), "10.0.0.1".to_string()];
        assert!(host_allowed("a.example.com:4040", &extra));
        assert!(host_allowed("10.0.0.1:4040", &extra));
        assert!(!host_allowed("badexample.com", &extra));
    }
}
