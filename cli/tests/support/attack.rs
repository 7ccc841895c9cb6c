//! Helpers of the attack suites (`attack_*.rs`): an edge in front of a recording echo, and
//! assertions on raw answers.

use std::sync::Arc;

use super::{Edge, Seen, get, start_echo_seen};

/// An edge with one endpoint, `app.localhost`, denying `/admin…` by policy, in front of a
/// recording echo; `timeouts` is the YAML of the `timeouts:` section's entries.
pub async fn edge_with(timeouts: &str) -> (Edge, Arc<Seen>) {
    let (echo, seen) = start_echo_seen().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
timeouts:
  idle: 1h
{timeouts}endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - expressions: ["req.url.path.startsWith('/admin')"]
          actions:
            - type: deny
"#
    );
    (Edge::start(&config).await, seen)
}

/// The status code of each response in `out`, in order.
pub fn statuses(out: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(out);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// The edge answered exactly `status` with `code` (e.g. `3907`), then closed.
pub fn assert_refused(out: &[u8], status: u16, code: &str, what: &str) {
    let text = String::from_utf8_lossy(out);
    assert_eq!(statuses(out), vec![status], "{what}: {text}");
    assert!(
        text.to_ascii_lowercase()
            .contains(&format!("sluice-error-code: err_sluice_{code}")),
        "{what}: {text}"
    );
}

/// A normal request still works.
pub async fn still_serves(edge: &Edge, what: &str) {
    let r = get(edge.http, "app.localhost", "/after").await;
    assert_eq!(r.status, 200, "after {what}");
}

/// The upstream never received a request whose line contains `needle`.
pub fn never_saw(seen: &Seen, needle: &str, what: &str) {
    let requests = seen.requests();
    assert!(
        !requests.iter().any(|r| r.contains(needle)),
        "{what}: the upstream saw {requests:?}"
    );
}
