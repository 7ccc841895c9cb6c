//! End-to-end test with nginx as a real upstream: a static file byte for byte, the
//! `X-Forwarded-*` headers nginx sees, several requests on one kept-alive client connection,
//! and a policy applied on the way. Needs the `nginx` package.

mod support;

use support::{Edge, Nginx, get, h1_conn, h1_send};

/// A static file with every byte value, larger than one read buffer.
fn static_file() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_upstream_static_file_forwarded_headers_keepalive_and_policy() {
    let file = static_file();
    let nginx = Nginx::start(
        r#"    location /echo {
      default_type text/plain;
      return 200 "$http_x_forwarded_for|$http_x_forwarded_proto|$http_x_forwarded_host|$host|$request_uri";
    }"#,
        &[("blob.bin", &file), ("index.html", b"<h1>nginx</h1>\n")],
    )
    .await;
    let config = format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
events:
  output: events.jsonl
endpoints:
  - url: http://web.localhost
    upstream:
      url: http://127.0.0.1:{port}
  - url: http://policy.localhost
    upstream:
      url: http://127.0.0.1:{port}
    traffic_policy:
      on_http_request:
        - expressions: ["req.url.path.startsWith('/old/')"]
          actions:
            - type: url-rewrite
              config:
                from: "/old/(.*)"
                to: "/echo/$1"
      on_http_response:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-served-by: "sluice in front of nginx"
"#,
        port = nginx.port
    );
    let edge = Edge::start(&config).await;

    // A static file, byte for byte, with nginx's own headers.
    let r = get(edge.http, "web.localhost", "/blob.bin").await;
    assert_eq!(r.status, 200, "{}", nginx.logs());
    assert_eq!(r.body.len(), file.len());
    assert!(r.body[..] == file[..], "the static file differs");
    assert_eq!(r.header("content-length"), Some("300000"));
    assert!(r.header("server").is_some_and(|s| s.starts_with("nginx")));
    assert!(r.header("etag").is_some() && r.header("last-modified").is_some());

    // Forwarded headers as nginx sees them; the Host is passed unchanged.
    let r = get(edge.http, "web.localhost", "/echo").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "127.0.0.1|http|web.localhost|web.localhost|/echo"
    );

    // Keep-alive: several requests on one client connection, all answered by nginx.
    let mut conn = h1_conn(edge.http).await;
    for i in 0..5 {
        let path = format!("/echo?n={i}");
        let r = h1_send(&mut conn, "web.localhost", &path, &[]).await;
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).ends_with(&path));
        let r = h1_send(&mut conn, "web.localhost", "/index.html", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], b"<h1>nginx</h1>\n");
    }
    // A conditional request gets nginx's 304 through the edge.
    let r = get(edge.http, "web.localhost", "/blob.bin").await;
    let etag = r.header("etag").expect("etag").to_string();
    let r = h1_send(
        &mut conn,
        "web.localhost",
        "/blob.bin",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    // nginx's 404 passes through as nginx made it.
    let r = h1_send(&mut conn, "web.localhost", "/missing", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.header("sluice-error-code").is_none());
    // One client connection carried all of that.
    assert!(!conn.is_closed());

    // The policy applies: the path is rewritten before nginx, the header added after.
    let r = get(edge.http, "policy.localhost", "/old/thing").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-served-by"), Some("sluice in front of nginx"));
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "127.0.0.1|http|policy.localhost|policy.localhost|/echo/thing"
    );
    let r = get(edge.http, "policy.localhost", "/blob.bin").await;
    assert_eq!(r.header("x-served-by"), Some("sluice in front of nginx"));
    assert!(r.body[..] == file[..]);
}
