//! End-to-end tests of https upstreams: a self-signed upstream is proxied to without
//! verification (ngrok's default), refused with `502` and `ERR_SLUICE_3002` when
//! `upstream.tls_verify` is on, and upstream addresses read as ngrok reads them.

mod support;

use support::{Edge, get, start_echo, start_tls_upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_with_and_without_verification() {
    let (tls, _cert) = start_tls_upstream().await;
    let (plain, _) = start_echo().await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
events:
  output: events.jsonl
endpoints:
  - url: http://noverify.localhost
    upstream:
      url: https://127.0.0.1:{tls_port}
  - url: http://verify.localhost
    upstream:
      url: https://localhost:{tls_port}
      tls_verify: true
  - url: http://mismatch.localhost
    upstream:
      url: https://{plain}
  - url: http://bare.localhost
    upstream:
      url: {plain}
"#,
        tls_port = tls.port()
    );
    let edge = Edge::start(&config).await;

    // Not verified by default: the self-signed upstream answers through the edge.
    let r = get(edge.http, "noverify.localhost", "/hello").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(body.starts_with("tls upstream: /hello "), "{body}");
    assert!(r.header("sluice-error-code").is_none());

    // Verified: the certificate is not trusted, so 502 with the TLS code and the reason.
    let r = get(edge.http, "verify.localhost", "/hello").await;
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 502, "{body}");
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3002"));
    assert!(body.contains("TLS handshake"), "{body}");
    assert!(body.to_ascii_lowercase().contains("certificate"), "{body}");
    assert!(body.contains("ERR_SLUICE_3002"), "{body}");

    // https:// to a plain-HTTP upstream: the handshake fails the same way.
    let r = get(edge.http, "mismatch.localhost", "/").await;
    assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3002"));

    // `host:port` without a scheme (and not port 443) is plain http.
    let r = get(edge.http, "bare.localhost", "/bare").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/bare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_addresses_are_read_as_ngrok_reads_them() {
    // Without a scheme, port 443 means https; an explicit `http://…:443` stays plain. The edge
    // prints how it read each upstream at start-up (no need to bind port 443 to tell).
    let config = r#"version: 1
listeners:
  http: 127.0.0.1:{HTTP}
endpoints:
  - url: http://bare443.localhost
    upstream:
      url: 127.0.0.1:443
  - url: http://port443.localhost
    upstream:
      url: "443"
  - url: http://http443.localhost
    upstream:
      url: http://127.0.0.1:443
  - url: http://bare.localhost
    upstream:
      url: 127.0.0.1:8080
  - url: http://verified.localhost
    upstream:
      url: https://127.0.0.1:8443
      tls_verify: true
"#;
    let edge = Edge::start(config).await;
    let stderr = edge.stderr();
    for line in [
        "http://bare443.localhost -> 127.0.0.1:443 (https://127.0.0.1:443)",
        "http://http443.localhost -> http://127.0.0.1:443 (http://127.0.0.1:443)",
        "http://bare.localhost -> 127.0.0.1:8080 (http://127.0.0.1:8080)",
        "http://verified.localhost -> https://127.0.0.1:8443 (https://127.0.0.1:8443, certificate verified)",
    ] {
        assert!(stderr.contains(line), "no `{line}` in:\n{stderr}");
    }
    // A bare port is on localhost, whichever address that resolves to first.
    let port443 = stderr
        .lines()
        .find(|l| l.contains("http://port443.localhost -> 443 "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        port443.contains("(https://") && port443.ends_with(":443)"),
        "{port443}"
    );

    // An address without a port or scheme is refused, with its line.
    let dir = support::scratch_dir();
    let bad = "version: 1\nlisteners:\n  http: 127.0.0.1:1\nendpoints:\n  - url: http://a.localhost\n    upstream:\n      url: example.com\n";
    std::fs::write(dir.join("edge.yml"), bad).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("edge")
        .arg("--config")
        .arg(dir.join("edge.yml"))
        .output()
        .expect("run sluice edge");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not an upstream URL"), "{err}");
    assert!(err.contains("edge.yml:7:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
