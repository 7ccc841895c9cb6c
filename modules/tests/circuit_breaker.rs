//! `circuit-breaker` through the real loader and the in-process harness, on virtual time.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use sluice_policy::harness::{self, ManualClock, Outcome, TestConn, UpstreamReply};
use sluice_policy::{BufferedBody, Connection, Exchange, Policy, RequestVerdict};

mod common;
use common::{load, load_err};

/// A policy with one circuit-breaker whose config is `config` (flow-style map body).
fn with_config(config: &str) -> String {
    format!(
        "on_http_request:\n  - actions:\n      - type: circuit-breaker\n        config: {{{config}}}\n"
    )
}

/// volume 4, ratio 0.5, window 10s, tripped 5s.
fn small(extra: &str) -> Policy {
    load(&with_config(&format!(
        "error_threshold: 0.5, volume_threshold: 4, window_duration: 10s, tripped_duration: 5s{extra}"
    )))
}

struct Rig {
    clock: Arc<ManualClock>,
    conn: Connection,
}

impl Rig {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new());
        let conn = harness::connection(
            &TestConn::default(),
            harness::endpoint("https://app.example.com"),
            clock.clone(),
        );
        Rig { clock, conn }
    }

    async fn send(&self, policy: &Policy, upstream_status: u16) -> Outcome {
        let reply = UpstreamReply {
            status: StatusCode::from_u16(upstream_status).expect("valid status"),
            ..UpstreamReply::default()
        };
        let req = harness::request("GET", "https://app.example.com/x", &[]);
        harness::exchange(policy, &self.conn, req, bytes::Bytes::new(), &reply).await
    }

    fn advance(&self, millis: u64) {
        self.clock.advance(Duration::from_millis(millis));
    }
}

fn assert_forwarded(out: &Outcome, status: u16) {
    assert!(out.upstream.is_some(), "request should reach the upstream");
    assert_eq!(out.status.map(|s| s.as_u16()), Some(status));
}

fn assert_rejected(out: &Outcome) {
    assert!(
        out.upstream.is_none(),
        "a tripped breaker must not call the upstream"
    );
    assert_eq!(out.status, Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(out.headers["sluice-error-code"], "ERR_SLUICE_3202");
}

/// Trips the breaker of `small()` with four 500s.
async fn trip(rig: &Rig, p: &Policy) {
    for _ in 0..4 {
        assert_forwarded(&rig.send(p, 500).await, 500);
    }
}

#[tokio::test]
async fn trips_after_volume_with_errors_and_rejects_without_upstream() {
    let rig = Rig::new();
    let p = small("");
    // Below the volume threshold even 100% errors do not trip.
    for _ in 0..3 {
        assert_forwarded(&rig.send(&p, 502).await, 502);
    }
    assert_forwarded(&rig.send(&p, 500).await, 500);
    for _ in 0..3 {
        assert_rejected(&rig.send(&p, 200).await);
    }
}

#[tokio::test]
async fn successes_and_4xx_do_not_trip() {
    let rig = Rig::new();
    let p = small("");
    for status in [200, 404, 200, 500, 429, 200, 500, 200, 200, 500] {
        // 3 errors in 10: a ratio of 0.3, below 0.5.
        assert_forwarded(&rig.send(&p, status).await, status);
    }
    assert_forwarded(&rig.send(&p, 200).await, 200);
}

#[tokio::test]
async fn ratio_at_the_threshold_trips() {
    let rig = Rig::new();
    let p = small("");
    for status in [200, 500, 200, 500] {
        assert_forwarded(&rig.send(&p, status).await, status);
    }
    assert_rejected(&rig.send(&p, 200).await);
}

#[tokio::test]
async fn errors_age_out_of_the_window() {
    let rig = Rig::new();
    let p = small("");
    for _ in 0..3 {
        assert_forwarded(&rig.send(&p, 500).await, 500);
    }
    rig.advance(11_000);
    // The three old errors left the 10s window: one more error is below volume.
    assert_forwarded(&rig.send(&p, 500).await, 500);
    assert_forwarded(&rig.send(&p, 200).await, 200);
}

#[tokio::test]
async fn half_open_after_tripped_duration_then_closes_on_success() {
    let rig = Rig::new();
    let p = small("");
    trip(&rig, &p).await;
    rig.advance(4_900);
    assert_rejected(&rig.send(&p, 200).await);
    rig.advance(100);
    // Half-open: the probe goes through and succeeds, which closes the breaker.
    assert_forwarded(&rig.send(&p, 200).await, 200);
    for _ in 0..3 {
        assert_forwarded(&rig.send(&p, 500).await, 500);
    }
    // The window was emptied on close: it takes four fresh outcomes to trip again.
    assert_forwarded(&rig.send(&p, 500).await, 500);
    assert_rejected(&rig.send(&p, 200).await);
}

#[tokio::test]
async fn failed_probe_reopens() {
    let rig = Rig::new();
    let p = small("");
    trip(&rig, &p).await;
    rig.advance(5_000);
    assert_forwarded(&rig.send(&p, 503).await, 503);
    assert_rejected(&rig.send(&p, 200).await);
    rig.advance(4_999);
    assert_rejected(&rig.send(&p, 200).await);
    rig.advance(1);
    assert_forwarded(&rig.send(&p, 200).await, 200);
    assert_forwarded(&rig.send(&p, 200).await, 200);
}

#[tokio::test]
async fn an_unreachable_upstream_counts_as_an_error() {
    let rig = Rig::new();
    let p = small("");
    for _ in 0..4 {
        let req = harness::request("GET", "https://app.example.com/x", &[]);
        let mut ex = Exchange::new(req, Box::new(BufferedBody::default()));
        assert_eq!(
            p.on_http_request(&rig.conn, &mut ex).await,
            RequestVerdict::Forward
        );
        ex.upstream_failed(rig.conn.now());
    }
    assert_rejected(&rig.send(&p, 200).await);
}

#[tokio::test]
async fn requests_not_forwarded_are_not_counted() {
    let rig = Rig::new();
    // A later rule answers every request itself: nothing reaches the upstream, nothing counts.
    let p = load(
        "on_http_request:\n  - actions:\n      - type: circuit-breaker\n        config: {volume_threshold: 1}\n  - actions:\n      - type: custom-response\n        config: {status_code: 500}\n",
    );
    for _ in 0..5 {
        let out = rig.send(&p, 200).await;
        assert!(out.upstream.is_none());
        assert_eq!(out.status, Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(out.headers.get("sluice-error-code").is_none());
    }
}

#[tokio::test]
async fn enforce_false_never_rejects() {
    let rig = Rig::new();
    let p = small(", enforce: false");
    trip(&rig, &p).await;
    for _ in 0..5 {
        assert_forwarded(&rig.send(&p, 500).await, 500);
    }
}

#[tokio::test]
async fn defaults_when_config_is_omitted() {
    let rig = Rig::new();
    let p = load("on_http_request:\n  - actions:\n      - type: circuit-breaker\n");
    // Default volume is 10.
    for _ in 0..9 {
        assert_forwarded(&rig.send(&p, 500).await, 500);
    }
    assert_forwarded(&rig.send(&p, 500).await, 500);
    assert_rejected(&rig.send(&p, 200).await);
    // Default tripped duration is 10s.
    rig.advance(9_999);
    assert_rejected(&rig.send(&p, 200).await);
    rig.advance(1);
    assert_forwarded(&rig.send(&p, 200).await, 200);
}

#[test]
fn load_errors_name_the_field() {
    let at = "on_http_request[0].actions[0].config";
    let cases = [
        (
            "error_threshold: 1.5",
            "error_threshold",
            "between 0.0 and 1.0",
        ),
        (
            "error_threshold: -0.1",
            "error_threshold",
            "between 0.0 and 1.0",
        ),
        (
            "volume_threshold: 0",
            "volume_threshold",
            "between 1 and 2000000000",
        ),
        (
            "volume_threshold: 2000000001",
            "volume_threshold",
            "between 1 and 2000000000",
        ),
        (
            "window_duration: 3m",
            "window_duration",
            "between 1s and 2m",
        ),
        (
            "window_duration: 500ms",
            "window_duration",
            "between 1s and 2m",
        ),
        (
            "tripped_duration: 121s",
            "tripped_duration",
            "between 1s and 2m",
        ),
        (
            "tripped_duration: later",
            "tripped_duration",
            "not a duration",
        ),
        ("num_buckets: 0", "num_buckets", "between 1 and 128"),
        ("num_buckets: 129", "num_buckets", "between 1 and 128"),
        (
            "rolling_windw: 10s",
            "rolling_windw",
            "unknown field `rolling_windw`",
        ),
    ];
    for (config, field, message) in cases {
        let err = load_err(&with_config(config));
        assert!(
            err.contains(&format!("{at}.{field}: ")) && err.contains(message),
            "config {{{config}}}: expected {field:?} and {message:?} in:\n{err}"
        );
    }
    let err = load_err("on_http_response:\n  - actions:\n      - type: circuit-breaker\n");
    assert!(err.contains("ERR_SLUICE_2202"), "{err}");
}

#[test]
fn accepts_the_documented_ranges() {
    for config in [
        "error_threshold: 0.0",
        "error_threshold: 1",
        "volume_threshold: 2000000000",
        "window_duration: 1s, tripped_duration: 2m",
        "window_duration: 1m30s, tripped_duration: 120s",
        "num_buckets: 1",
        "num_buckets: 128",
        "enforce: false",
    ] {
        load(&with_config(config));
    }
}

#[tokio::test]
async fn migration_guide_keys_are_aliases_with_a_warning_naming_the_canonical_keys() {
    let yaml = with_config(
        "error_threshold_percentage: 0.5, volume_threshold: 4, rolling_window: 10s, tripped_duration: 5s",
    );
    let load_aliased = || {
        sluice_policy::load_policy(
            "t.yml",
            &yaml,
            &sluice_modules::builtin_registry(),
            sluice_policy::LoadOptions::default(),
        )
        .expect("the migration guide's keys load")
    };
    let p = load_aliased();
    let warnings: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("config.rolling_window")
            || warnings[1].contains("config.rolling_window"),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`error_threshold_percentage`") && w.contains("`error_threshold`")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`rolling_window`") && w.contains("`window_duration`")),
        "{warnings:?}"
    );
    // They take effect: the same behaviour as `small()`.
    let rig = Rig::new();
    for status in [200, 500, 200, 500] {
        assert_forwarded(&rig.send(&p, status).await, status);
    }
    assert_rejected(&rig.send(&p, 200).await);
    // The rolling window is 10s: errors older than that no longer count.
    let p = load_aliased();
    let rig = Rig::new();
    for _ in 0..3 {
        assert_forwarded(&rig.send(&p, 500).await, 500);
    }
    rig.advance(11_000);
    assert_forwarded(&rig.send(&p, 500).await, 500);
}

#[test]
fn an_alias_next_to_its_canonical_key_or_out_of_range_is_refused() {
    let e = load_err(&with_config(
        "error_threshold: 0.5, error_threshold_percentage: 0.4",
    ));
    assert!(e.contains("give only `error_threshold`"), "{e}");
    let e = load_err(&with_config("window_duration: 10s, rolling_window: 20s"));
    assert!(e.contains("give only `window_duration`"), "{e}");
    let e = load_err(&with_config("error_threshold_percentage: 50"));
    assert!(e.contains("config.error_threshold_percentage"), "{e}");
    assert!(e.contains("between 0.0 and 1.0"), "{e}");
    let e = load_err(&with_config("rolling_window: 5m"));
    assert!(e.contains("config.rolling_window"), "{e}");
}
