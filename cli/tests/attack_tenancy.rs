//! Attack suite, tenancy part: a real `sluice edge` on loopback attacked as one tenant or an
//! outsider would: authtoken brute force, binds of another account's names and ports or
//! outside the allow list, public requests for internal endpoints, and cross-origin or
//! non-JSON writes to the agent's local API. Each case checks the outcome and that the edge
//! still serves a normal request right after.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sluice_agent::Agent;
use sluice_tunnel::{
    BindRequest, Protocol, Roots, SessionBuilder, TlsTransport, TunnelError, client_tls_config,
};
use support::agent::{TOKEN, TunnelEdge, text_upstream, try_get};
use support::{h1_request, send, tls_connect};

/// Authtokens of a second account, `bob`: names under `bob.localhost`, one TCP port.
fn bob_tokens(port: u16) -> String {
    format!(
        "  - token: tok-bob\n    account: bob\n    allow: [\"*.bob.localhost\", \"shared.localhost\", \"tcp:{port}\"]\n"
    )
}

/// A session builder for this edge with `token`, dialing from 127.0.0.1.
fn builder(edge: &TunnelEdge, token: &str) -> SessionBuilder {
    SessionBuilder::new(token)
        .connect_addr(format!("127.0.0.1:{}", edge.tunnel))
        .server_name("localhost")
        .ca_pem(std::fs::read(edge.ca_path()).expect("edge CA"))
        .timeouts(Duration::from_secs(10), Duration::from_secs(10))
}

/// [`builder`], dialing from `ip` (another loopback address).
fn builder_from(edge: &TunnelEdge, token: &str, ip: IpAddr) -> SessionBuilder {
    let roots = Roots::CaPem(std::fs::read(edge.ca_path()).expect("edge CA"));
    let tls = client_tls_config(&roots).expect("client TLS");
    let transport = TlsTransport::new(
        format!("127.0.0.1:{}", edge.tunnel),
        "localhost",
        tls,
        Duration::from_secs(10),
    )
    .expect("transport")
    .with_local_ip(ip);
    builder(edge, token).transport(Arc::new(transport))
}

/// The code of an authentication or bind refusal.
fn refusal_code(e: &TunnelError) -> String {
    match e {
        TunnelError::AuthRejected(a) => a.code.clone(),
        other => other
            .as_bind_refusal()
            .map_or_else(|| format!("other: {other}"), |b| b.code.clone()),
    }
}

/// An agent of `token` serving `url` with an upstream answering `body`.
async fn serve(edge: &TunnelEdge, token: &str, request: BindRequest, body: &'static str) -> Agent {
    let (port, _task) = text_upstream(body).await;
    let agent = Agent::connect(builder(edge, token))
        .await
        .expect("agent connects");
    let ep = agent.bind(request).await.expect("bind");
    let upstream = format!("http://127.0.0.1:{port}");
    tokio::spawn(async move { ep.forward_to(&upstream).await });
    agent
}

/// The edge still serves `host` (bound to an upstream answering `body`) right now.
async fn still_serves(edge: &TunnelEdge, host: &str, body: &str) {
    let start = Instant::now();
    let r = try_get(edge.http, host, "/").await.expect("edge answers");
    assert_eq!(r.status, 200, "{host}: {:?}", r.body);
    assert_eq!(r.body, body.as_bytes());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// A request to the local API (method, Host, headers) and the status it must get.
type ApiCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16);

/// A counter of the admin `/metrics` text.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authtoken_brute_force_is_throttled_per_address() {
    // A first block of 30 s: longer than the test, so what is refused is not left to timing.
    let limits = "tunnel:\n  auth_limits:\n    free_failures: 5\n    base_delay: 30s\n";
    let edge = TunnelEdge::start_with_config(false, limits).await;
    let _good = serve(
        &edge,
        TOKEN,
        BindRequest::new(Protocol::Http).with_url("http://good.localhost"),
        "good",
    )
    .await;
    let attacker: IpAddr = [127, 0, 0, 2].into();
    let mut codes = Vec::new();
    for i in 0..50 {
        let wrong = format!("brute-force-guess-{i:04}");
        match builder_from(&edge, &wrong, attacker).connect().await {
            Ok(_) => panic!("guess {i} was accepted"),
            Err(e) => codes.push(refusal_code(&e)),
        }
    }
    let invalid = codes
        .iter()
        .filter(|c| *c == "ERR_SLUICE_AUTH_FAILED")
        .count();
    let throttled = codes
        .iter()
        .filter(|c| *c == "ERR_SLUICE_AUTH_THROTTLED")
        .count();
    // Five free failures, the sixth blocks the address, and the 44 after it are refused
    // without their token being looked at.
    assert_eq!((invalid, throttled), (6, 44), "{codes:?}");
    assert!(
        codes[..6].iter().all(|c| c == "ERR_SLUICE_AUTH_FAILED"),
        "{codes:?}"
    );
    // While blocked, even the right token from that address is refused unread.
    let Err(e) = builder_from(&edge, TOKEN, attacker).connect().await else {
        panic!("accepted while blocked");
    };
    assert_eq!(refusal_code(&e), "ERR_SLUICE_AUTH_THROTTLED");
    // A good agent from another address binds at once.
    let t = Instant::now();
    let _other = serve(
        &edge,
        TOKEN,
        BindRequest::new(Protocol::Http).with_url("http://other.localhost"),
        "other",
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    still_serves(&edge, "other.localhost", "other").await;
    still_serves(&edge, "good.localhost", "good").await;

    let metrics = edge.metrics().await;
    let m_invalid = counter(
        &metrics,
        "sluice_tunnel_auth_failures_total{reason=\"invalid_token\"}",
    );
    let m_throttled = counter(
        &metrics,
        "sluice_tunnel_auth_failures_total{reason=\"throttled\"}",
    );
    assert_eq!(m_invalid, invalid as u64, "{metrics}");
    assert_eq!(m_throttled, throttled as u64 + 1, "{metrics}");
    // One log line per refusal, with the address and reason, never the token.
    let log = edge.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("tunnel authentication refused"))
        .collect();
    assert_eq!(lines.len(), 51, "{log}");
    assert!(lines.iter().all(|l| l.contains("127.0.0.2")), "{log}");
    assert!(lines.iter().any(|l| l.contains("throttled")), "{log}");
    assert!(!log.contains("brute-force-guess"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_cannot_take_names_ports_or_leave_its_allow_list() {
    let port = support::free_port();
    let edge = TunnelEdge::start_with_config(true, &bob_tokens(port)).await;
    let _alice = serve(
        &edge,
        TOKEN,
        BindRequest::new(Protocol::Http).with_url("http://shared.localhost"),
        "alice",
    )
    .await;
    let alice_tcp = Agent::connect(builder(&edge, TOKEN)).await.expect("alice");
    let tcp_url = format!("tcp://localhost:{port}");
    let _tcp = alice_tcp
        .bind(BindRequest::new(Protocol::Tcp).with_url(tcp_url.clone()))
        .await
        .expect("alice binds the TCP port");
    let bob = builder(&edge, "tok-bob").connect().await.expect("bob");
    for (request, code) in [
        (
            BindRequest::new(Protocol::Http).with_url("http://shared.localhost"),
            "ERR_SLUICE_334",
        ),
        (
            BindRequest::new(Protocol::Tcp).with_url(tcp_url.clone()),
            "ERR_SLUICE_334",
        ),
        (
            BindRequest::new(Protocol::Http).with_url("http://alice.localhost"),
            "ERR_SLUICE_BIND_FORBIDDEN",
        ),
        (
            BindRequest::new(Protocol::Tcp).with_url(format!("tcp://localhost:{}", port ^ 1)),
            "ERR_SLUICE_BIND_FORBIDDEN",
        ),
    ] {
        let what = format!("{request:?}");
        let Err(e) = bob.bind(request).await else {
            panic!("{what} was accepted");
        };
        assert_eq!(refusal_code(&e), code, "{what}: {e}");
        still_serves(&edge, "shared.localhost", "alice").await;
    }
    // Inside its allow list, bob binds fine.
    let ok = bob
        .bind(BindRequest::new(Protocol::Http).with_url("http://api.bob.localhost"))
        .await
        .expect("bob's own name");
    assert!(ok.url.starts_with("http://api.bob.localhost"), "{}", ok.url);
    still_serves(&edge, "shared.localhost", "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_endpoints_are_not_reachable_from_public_listeners() {
    let edge = TunnelEdge::start(false).await;
    let _public = serve(
        &edge,
        TOKEN,
        BindRequest::new(Protocol::Http).with_url("http://public.localhost"),
        "public",
    )
    .await;
    // `.internal` implies the internal binding; `bindings: [internal]` says it outright.
    let _api = serve(
        &edge,
        TOKEN,
        BindRequest::new(Protocol::Http).with_url("http://api.internal"),
        "internal-http",
    )
    .await;
    let _web = serve(
        &edge,
        TOKEN,
        BindRequest::new(Protocol::Https)
            .with_url("https://web.internal")
            .with_binding("internal"),
        "internal-https",
    )
    .await;
    let unknown = try_get(edge.http, "nothing.localhost", "/")
        .await
        .expect("answer");
    assert_eq!(unknown.status, 404);
    for host in [
        "api.internal",
        "API.internal.",
        "api.internal:80",
        "web.internal",
    ] {
        let r = try_get(edge.http, host, "/").await.expect("answer");
        assert_eq!(r.status, 404, "{host}: {:?}", r.body);
        assert_eq!(
            r.header("sluice-error-code"),
            Some("ERR_SLUICE_3200"),
            "{host}"
        );
        assert!(!String::from_utf8_lossy(&r.body).contains("internal-"));
        still_serves(&edge, "public.localhost", "public").await;
    }
    // HTTPS, by SNI and Host.
    let ca_pem = std::fs::read(edge.ca_path()).expect("CA");
    let ca = CertificateDer::from_pem_slice(&ca_pem).expect("CA cert");
    for name in ["web.internal", "api.internal"] {
        let tls = tls_connect(edge.https, name, std::slice::from_ref(&ca), b"http/1.1")
            .await
            .expect("TLS");
        let mut sender = support::h1_over(tls).await;
        let r = h1_request(&mut sender, "GET", name, "/", &[], "").await;
        assert_eq!(r.status, 404, "{name}");
        assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3200"));
        assert!(!String::from_utf8_lossy(&r.body).contains("internal-"));
        still_serves(&edge, "public.localhost", "public").await;
    }
    // A binding that disagrees with the URL is refused at bind, as ngrok does.
    let s = builder(&edge, TOKEN).connect().await.expect("session");
    for request in [
        BindRequest::new(Protocol::Http)
            .with_url("http://app.localhost")
            .with_binding("internal"),
        BindRequest::new(Protocol::Http)
            .with_url("http://db.internal")
            .with_binding("public"),
    ] {
        let Err(e) = s.bind(request).await else {
            panic!("a binding that disagrees with its URL was accepted");
        };
        assert_eq!(refusal_code(&e), "ERR_SLUICE_9029", "{e}");
    }
    // The internal endpoint is bound and stored: binding its name again as the same
    // account's other agent is refused like any taken name.
    let request = BindRequest::new(Protocol::Http).with_url("http://api.internal");
    let Err(e) = s.bind(request).await else {
        panic!("a taken internal name was bound again");
    };
    assert_eq!(refusal_code(&e), "ERR_SLUICE_334", "{e}");
    still_serves(&edge, "public.localhost", "public").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_api_refuses_cross_origin_and_non_json_writes() {
    let edge = TunnelEdge::start(false).await;
    let (port, _task) = text_upstream("through-agent").await;
    let mut agent = edge.http_agent(&port.to_string(), &["--url", "http://api-check.localhost"]);
    agent.url().await;
    let own = format!("127.0.0.1:{}", agent.web);
    let json = [("content-type", "application/json")];
    let cases: [ApiCase<'_>; 5] = [
        // DNS rebinding: a foreign Host.
        ("GET", "evil.example.com", vec![], 403),
        // A page on another origin posting JSON.
        (
            "POST",
            own.as_str(),
            vec![("origin", "http://evil.example.com"), json[0]],
            403,
        ),
        (
            "DELETE",
            own.as_str(),
            vec![("origin", "http://evil.example.com")],
            403,
        ),
        // A "simple" cross-site form post (no preflight): not JSON.
        (
            "POST",
            own.as_str(),
            vec![("content-type", "text/plain")],
            415,
        ),
        (
            "POST",
            own.as_str(),
            vec![("content-type", "application/x-www-form-urlencoded")],
            415,
        ),
    ];
    for (method, host, headers, status) in cases {
        let r = send(
            agent.web,
            method,
            host,
            "/api/requests/http",
            &headers,
            "{\"id\":\"x\"}",
        )
        .await;
        assert_eq!(r.status, status, "{method} {host} {headers:?}");
        let ok = send(agent.web, "GET", &own, "/api/status", &[], "").await;
        assert_eq!(ok.status, 200);
        still_serves(&edge, "api-check.localhost", "through-agent").await;
    }
}
