//! End-to-end tests of the edge's admin listener: `/healthz` and Prometheus `/metrics`.

mod support;

use support::{Edge, eventually, get, h1_conn, h1_send, start_echo};

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

async fn scrape(port: u16, path: &str) -> (u16, String) {
    let r = get(port, "127.0.0.1", path).await;
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_healthz_and_metrics() {
    let (echo, _) = start_echo().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
  admin: 127.0.0.1:{{ADMIN}}
endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
  - url: http://deny.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: custom-response
              config:
                status_code: 403
                body: no
"#
    );
    let edge = Edge::start(&config).await;
    let (status, body) = scrape(edge.admin, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (_, before) = scrape(edge.admin, "/metrics").await;
    assert!(before.contains("# TYPE sluice_http_requests_total counter"));
    assert_eq!(metric(&before, "sluice_bytes_in_total"), Some(0.0));

    assert_eq!(get(edge.http, "app.localhost", "/").await.status, 200);
    assert_eq!(get(edge.http, "app.localhost", "/").await.status, 200);
    assert_eq!(get(edge.http, "deny.localhost", "/").await.status, 403);
    assert_eq!(get(edge.http, "nope.localhost", "/").await.status, 404);

    let text = eventually("request counters", || async {
        let (_, text) = scrape(edge.admin, "/metrics").await;
        (metric(
            &text,
            "sluice_http_requests_total{endpoint=\"\",status=\"404\"}",
        ) == Some(1.0)
            && metric(
                &text,
                "sluice_http_requests_total{endpoint=\"ep_1\",status=\"403\"}",
            ) == Some(1.0)
            && metric(
                &text,
                "sluice_http_requests_total{endpoint=\"ep_0\",status=\"200\"}",
            ) == Some(2.0))
        .then_some(text)
    })
    .await;
    assert_eq!(
        metric(
            &text,
            "sluice_policy_responses_total{endpoint=\"ep_1\",status=\"403\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "sluice_http_request_duration_seconds_count{endpoint=\"ep_0\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "sluice_http_request_duration_seconds_bucket{endpoint=\"ep_0\",le=\"+Inf\"}"
        ),
        Some(2.0)
    );
    assert!(metric(&text, "sluice_bytes_in_total").unwrap_or(0.0) > 0.0);
    assert!(metric(&text, "sluice_bytes_out_total").unwrap_or(0.0) > 0.0);
    assert!(metric(&text, "sluice_connections_total").unwrap_or(0.0) >= 4.0);

    // An open connection shows in the gauge.
    let mut held = h1_conn(edge.http).await;
    assert_eq!(
        h1_send(&mut held, "app.localhost", "/", &[]).await.status,
        200
    );
    eventually("open connection gauge", || async {
        let (_, text) = scrape(edge.admin, "/metrics").await;
        (metric(&text, "sluice_open_connections").unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await;
    drop(held);
    eventually("gauge back to zero", || async {
        let (_, text) = scrape(edge.admin, "/metrics").await;
        (metric(&text, "sluice_open_connections") == Some(0.0)).then_some(())
    })
    .await;
}
