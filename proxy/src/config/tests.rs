use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::check::split_url;
use super::*;

fn load(text: &str) -> Result<EdgeConfig, ConfigError> {
    load_str(
        &Arc::from("edge.yml"),
        text,
        Path::new("."),
        &sluice_modules::builtin_registry(),
    )
}

#[test]
fn minimal_config_loads() {
    let c = load(
        "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: http://app.localhost:8080\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap();
    assert_eq!(c.endpoints.len(), 1);
    assert_eq!(c.endpoints[0].host, "app.localhost");
    let Target::Address(up) = &c.endpoints[0].upstream.target else {
        panic!("address upstream")
    };
    assert_eq!(up.addr.port(), 3000);
    assert!(!up.tls);
}

#[test]
fn unknown_key_has_line_and_column() {
    let e = load("version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  htp: x\n").unwrap_err();
    let s = e.to_string();
    assert!(s.contains("edge.yml:4:"), "{s}");
    assert!(s.contains("htp"), "{s}");
}

#[test]
fn inline_policy_errors_are_located_in_the_config() {
    let e = load(
        "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n    traffic_policy:\n      on_http_request:\n        - actions:\n            - type: no-such-action\n",
    )
    .unwrap_err();
    let s = e.to_string();
    assert!(s.contains("edge.yml:11:"), "{s}");
}

#[test]
fn bad_version_and_bad_timeout_are_errors() {
    let e = load(
        "version: 2\nlisteners:\n  http: 127.0.0.1:8080\n  https: 127.0.0.1:8443\ntimeouts:\n  idle: soon\n",
    )
    .unwrap_err();
    assert_eq!(e.diagnostics.len(), 2);
    assert!(e.to_string().contains("edge.yml:6:"), "{e}");
}

#[test]
fn https_endpoint_needs_the_https_listener() {
    let e = load(
        "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: https://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("edge.yml:5:"), "{e}");
    let c = load(
        "version: 1\nlisteners:\n  https: 127.0.0.1:8443\nendpoints:\n  - url: https://a.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap();
    assert_eq!(c.endpoints[0].scheme, Scheme::Https);
    assert_eq!(c.endpoints[0].info.url, "https://a.localhost");
    assert_eq!(c.idle_timeout, Duration::from_secs(300));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
    assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
    assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
    assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("5 parsecs"), None);
}

#[test]
fn url_split() {
    assert_eq!(
        split_url("http://a.b:81"),
        Some(("http".into(), "a.b".into(), 81))
    );
    assert_eq!(
        split_url("https://a.b/"),
        Some(("https".into(), "a.b".into(), 443))
    );
    assert_eq!(
        split_url("http://*.a.b"),
        Some(("http".into(), "*.a.b".into(), 80))
    );
    assert_eq!(split_url("http://a.b/path"), None);
    assert_eq!(split_url("ftp://a.b"), None);
}

#[test]
fn authtokens_and_tunnel_listener() {
    let c = load(
        "version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  tunnel: 127.0.0.1:4443\nbase_domains: [Example.test]\nauthtokens:\n  - token: t1\n    allow: [app.example.com, \"*.dev.example.com\", \"tcp:20000\"]\n",
    )
    .unwrap();
    assert_eq!(c.tunnel.map(|a| a.port()), Some(4443));
    assert_eq!(c.base_domains, vec!["example.test".to_string()]);
    assert_eq!(
        c.authtokens[0].allow,
        vec![
            Allow::Domain("app.example.com".into()),
            Allow::Wildcard("*.dev.example.com".into()),
            Allow::TcpPort(20000),
        ]
    );
    let e = load(
        "version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  tunnel: 127.0.0.1:4443\nauthtokens:\n  - token: t1\n    allow: [\"tcp:nope\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("edge.yml:7:"), "{e}");
    assert!(e.contains("tcp:nope"), "{e}");
    let e = load("version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  tunnel: 127.0.0.1:4443\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("authtokens"), "{e}");
}

#[test]
fn upstream_forms_as_ngrok_reads_them() {
    use super::check::split_upstream;
    let up = split_upstream;
    assert_eq!(up("8080"), Some((false, "localhost".into(), 8080)));
    assert_eq!(up("443"), Some((true, "localhost".into(), 443)));
    assert_eq!(up("127.0.0.1:443"), Some((true, "127.0.0.1".into(), 443)));
    assert_eq!(
        up("example.com:8443"),
        Some((false, "example.com".into(), 8443))
    );
    // An explicit scheme wins over the port.
    assert_eq!(
        up("http://127.0.0.1:443"),
        Some((false, "127.0.0.1".into(), 443))
    );
    assert_eq!(
        up("https://example.com"),
        Some((true, "example.com".into(), 443))
    );
    assert_eq!(
        up("https://127.0.0.1:8443"),
        Some((true, "127.0.0.1".into(), 8443))
    );
    assert_eq!(up("example.com"), None);
    assert_eq!(up("0"), None);
    assert_eq!(up("ftp://x:1"), None);
}

#[test]
fn upstream_tls_verify_and_shutdown_grace() {
    let c = load(
        "version: 1\nlisteners:\n  http: 127.0.0.1:8080\ntimeouts:\n  shutdown_grace: 30s\nendpoints:\n  - url: http://app.localhost\n    upstream:\n      url: 127.0.0.1:443\n      tls_verify: true\n",
    )
    .unwrap();
    assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    let Target::Address(up) = &c.endpoints[0].upstream.target else {
        panic!("address upstream")
    };
    assert!(up.tls && up.tls_verify);
    let c = load("version: 1\nlisteners:\n  http: 127.0.0.1:8080\n").unwrap();
    assert_eq!(c.shutdown_grace, Duration::from_secs(10));
}

#[test]
fn body_timeouts_load_and_are_checked() {
    let base = "version: 1\nlisteners:\n  http: 127.0.0.1:8080\ntimeouts:\n";
    let c = load(base.trim_end_matches("timeouts:\n")).unwrap();
    assert_eq!(c.body_timeouts, crate::body_pace::BodyTimeouts::default());
    assert_eq!(c.body_timeouts.read, Duration::from_secs(60));
    let c = load(&format!(
        "{base}  body_read: 5s\n  body_min_rate: 0\n  body_min_rate_grace: 2s\n"
    ))
    .unwrap();
    assert_eq!(c.body_timeouts.read, Duration::from_secs(5));
    assert_eq!(c.body_timeouts.min_rate, 0);
    assert_eq!(c.body_timeouts.grace, Duration::from_secs(2));
    let e = load(&format!("{base}  body_read: slow\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("edge.yml:5:"), "{e}");
    assert!(e.contains("`slow` is not a duration"), "{e}");
    let e = load(&format!("{base}  body_min_rate: fast\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("edge.yml:5:"), "{e}");
    let e = load(&format!("{base}  body_min_rate: 999999999999\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("edge.yml:5:") && e.contains("body_min_rate"),
        "{e}"
    );
    let e = load(&format!("{base}  body_min_rate_grace: 0s\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("edge.yml:5:"), "{e}");
}

#[test]
fn internal_endpoints_stay_out_of_public_routes() {
    let c = load(
        "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: http://api.internal\n    upstream:\n      url: http://127.0.0.1:3000\n  - url: http://*.internal\n    upstream:\n      url: http://127.0.0.1:3000\n  - url: http://app.localhost\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap();
    let state = crate::state::State::new(&c);
    assert!(state.http.lookup("api.internal").is_none());
    assert!(state.http.lookup("other.internal").is_none());
    assert!(state.http.lookup("app.localhost").is_some());
    assert_eq!(state.internal.len(), 2);
    assert!(
        state
            .internal
            .iter()
            .all(|e| e.binding == sluice_tunnel::EndpointBinding::Internal)
    );
}

#[test]
fn auth_limits_are_validated() {
    let base = "version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  tunnel: 127.0.0.1:4443\nauthtokens:\n  - token: t\n    allow: [\"*\"]\ntunnel:\n  auth_limits:\n";
    let c = load(&format!(
        "{base}    free_failures: 2\n    window: 10s\n    base_delay: 2s\n    max_delay: 1m\n    max_tracked: 50\n"
    ))
    .unwrap();
    let l = c.auth_limits;
    assert_eq!(
        (
            l.free_failures,
            l.window,
            l.base_delay,
            l.max_delay,
            l.max_tracked
        ),
        (
            2,
            Duration::from_secs(10),
            Duration::from_secs(2),
            Duration::from_secs(60),
            50
        )
    );
    for (bad, key) in [
        ("    window: soon\n", "window"),
        ("    base_delay: 0s\n", "base_delay"),
        ("    base_delay: 10s\n    max_delay: 1s\n", "max_delay"),
        ("    max_tracked: 0\n", "max_tracked"),
        ("    tries: 3\n", "tries"),
    ] {
        let e = load(&format!("{base}{bad}")).unwrap_err().to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
    let e = load("version: 1\nlisteners:\n  http: 127.0.0.1:8080\nbase_domains: [svc.internal]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("internal"), "{e}");
}

#[test]
fn endpoints_without_upstream_need_a_policy_that_answers() {
    let head = "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nendpoints:\n  - url: http://gw.localhost\n    account: alice\n";
    let ok = [
        "    traffic_policy:\n      on_http_request:\n        - expressions: [\"req.url.path == '/old'\"]\n          actions: [{type: redirect, config: {to: /new}}]\n        - actions:\n            - type: forward-internal\n              config: {url: https://web.internal}\n",
        "    traffic_policy:\n      on_http_request:\n        - actions: [{type: custom-response, config: {status_code: 503}}]\n",
    ];
    for policy in ok {
        let c = load(&format!("{head}{policy}")).unwrap();
        assert!(matches!(c.endpoints[0].upstream.target, Target::PolicyOnly));
        assert_eq!(c.endpoints[0].account.as_deref(), Some("alice"));
    }
    let bad = [
        "",
        "    traffic_policy:\n      on_http_request:\n        - actions: [{type: add-headers, config: {headers: {a: b}}}]\n",
        "    traffic_policy:\n      on_http_request:\n        - expressions: [\"req.url.path == '/'\"]\n          actions: [{type: deny}]\n",
    ];
    for policy in bad {
        let e = load(&format!("{head}{policy}")).unwrap_err().to_string();
        assert!(e.contains("edge.yml:5:"), "{e}");
        assert!(e.contains("without an upstream"), "{e}");
    }
}
