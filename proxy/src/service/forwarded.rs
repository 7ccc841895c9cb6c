//! The `X-Forwarded-*` headers the edge adds for the upstream, as ngrok does: `-For` and
//! `-Proto` are appended to what the client (or a proxy before the edge) sent, so apps read
//! the last value; `-Host` keeps a value the client already sent, else names the public host.

use http::HeaderMap;

/// `X-Forwarded-For`.
const FOR: &str = "x-forwarded-for";
/// `X-Forwarded-Proto`.
const PROTO: &str = "x-forwarded-proto";
/// `X-Forwarded-Host`.
const HOST: &str = "x-forwarded-host";

/// The forwarding headers to set on the upstream request, given its headers as the policy
/// left them: `(name, value)` pairs, each replacing every value of that name.
pub(super) fn forwarded_headers(
    headers: &HeaderMap,
    client_ip: Option<&str>,
    scheme: &str,
    public_host: &str,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(3);
    if let Some(ip) = client_ip {
        out.push((FOR, appended(headers, FOR, ip)));
    }
    out.push((PROTO, appended(headers, PROTO, scheme)));
    if !headers.contains_key(HOST) && !public_host.is_empty() {
        out.push((HOST, public_host.to_string()));
    }
    out
}

/// Every value of `name` joined with `, `, then `value`.
fn appended(headers: &HeaderMap, name: &str, value: &str) -> String {
    let mut all: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    all.push(value);
    all.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, http::HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn a_direct_client_gets_all_three() {
        let got = forwarded_headers(
            &HeaderMap::new(),
            Some("198.51.100.4"),
            "https",
            "app.example.com",
        );
        assert_eq!(
            got,
            vec![
                (FOR, "198.51.100.4".to_string()),
                (PROTO, "https".to_string()),
                (HOST, "app.example.com".to_string()),
            ]
        );
    }

    #[test]
    fn for_and_proto_append_and_host_keeps_the_clients() {
        let h = map(&[
            (FOR, "203.0.113.1"),
            (FOR, "10.0.0.2"),
            (PROTO, "https"),
            (HOST, "shop.example.org"),
        ]);
        let got = forwarded_headers(&h, Some("198.51.100.4"), "http", "app.example.com");
        assert_eq!(
            got,
            vec![
                (FOR, "203.0.113.1, 10.0.0.2, 198.51.100.4".to_string()),
                (PROTO, "https, http".to_string()),
            ]
        );
    }
}
