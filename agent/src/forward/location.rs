//! With `host_header: rewrite` (or a fixed host) the upstream believes it is served under the
//! host it was given, so its redirects point there. As ngrok does, absolute `Location` and
//! `Content-Location` URLs on that host are turned back into the public URL the client used.

use http::HeaderMap;
use http::header::{CONTENT_LOCATION, HeaderValue, LOCATION};

/// Rewrites `Location` / `Content-Location` values whose authority is `upstream_host`
/// (compared without case) to `public_scheme://public_host`, keeping path and query.
pub(crate) fn rewrite_locations(
    headers: &mut HeaderMap,
    upstream_host: &str,
    public_scheme: &str,
    public_host: &str,
) {
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(value) = headers.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Some(rewritten) = rewrite(value, upstream_host, public_scheme, public_host) else {
            continue;
        };
        if let Ok(v) = HeaderValue::try_from(rewritten) {
            headers.insert(name, v);
        }
    }
}

fn rewrite(value: &str, upstream_host: &str, scheme: &str, public_host: &str) -> Option<String> {
    let (_, rest) = value.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    authority
        .eq_ignore_ascii_case(upstream_host)
        .then(|| format!("{scheme}://{public_host}{tail}"))
}

/// The scheme the client used: the last `X-Forwarded-Proto` value the edge appended, else
/// `http`.
pub(crate) fn public_scheme(headers: &HeaderMap) -> &'static str {
    let last = headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .next_back();
    if last.is_some_and(|p| p.eq_ignore_ascii_case("https")) {
        "https"
    } else {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_to_the_upstream_host_come_back_to_the_public_one() {
        let mut h = HeaderMap::new();
        h.insert(
            LOCATION,
            HeaderValue::from_static("http://localhost:3000/login?next=/a"),
        );
        h.insert(
            CONTENT_LOCATION,
            HeaderValue::from_static("http://LOCALHOST:3000"),
        );
        rewrite_locations(&mut h, "localhost:3000", "https", "app.example.com");
        assert_eq!(h[LOCATION], "https://app.example.com/login?next=/a");
        assert_eq!(h[CONTENT_LOCATION], "https://app.example.com");
    }

    #[test]
    fn other_hosts_and_relative_locations_stay() {
        let mut h = HeaderMap::new();
        h.insert(
            LOCATION,
            HeaderValue::from_static("https://accounts.example.org/x"),
        );
        rewrite_locations(&mut h, "localhost:3000", "https", "app.example.com");
        assert_eq!(h[LOCATION], "https://accounts.example.org/x");
        h.insert(LOCATION, HeaderValue::from_static("/relative"));
        rewrite_locations(&mut h, "localhost:3000", "https", "app.example.com");
        assert_eq!(h[LOCATION], "/relative");
        h.insert(
            LOCATION,
            HeaderValue::from_static("http://localhost:30000/"),
        );
        rewrite_locations(&mut h, "localhost:3000", "https", "app.example.com");
        assert_eq!(
            h[LOCATION], "http://localhost:30000/",
            "a prefix is not a match"
        );
    }

    #[test]
    fn the_public_scheme_is_the_last_forwarded_proto() {
        let mut h = HeaderMap::new();
        assert_eq!(public_scheme(&h), "http");
        h.append("x-forwarded-proto", HeaderValue::from_static("http, https"));
        assert_eq!(public_scheme(&h), "https");
        h.append("x-forwarded-proto", HeaderValue::from_static("http"));
        assert_eq!(public_scheme(&h), "http");
    }
}
