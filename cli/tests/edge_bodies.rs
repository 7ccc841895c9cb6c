//! End-to-end tests of bodies through the edge: read whole in the request phase, rewritten as
//! they stream either way, replaced in the response phase; h2c upstreams; closing by policy;
//! keep-alive across endpoints.

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

use support::{Edge, h1_conn, raw, send, start_echo, start_echo_h2c};

fn body_config(echo: SocketAddr, echo_h2c: SocketAddr) -> String {
    let ep = |host: &str, policy: &str| {
        format!(
            "  - url: http://{host}:{{HTTP}}\n    upstream:\n      url: http://{echo}\n    traffic_policy:\n{policy}"
        )
    };
    let mut c = String::from(
        "version: 1\nlisteners:\n  http: 127.0.0.1:{HTTP}\nevents:\n  output: {DIR}/events.jsonl\nendpoints:\n",
    );
    c += &ep(
        "hook.example",
        "      on_http_request:\n        - actions:\n            - type: verify-webhook\n              config:\n                provider: gitlab\n                secret: s3cret\n",
    );
    c += &ep(
        "lax.example",
        "      on_http_request:\n        - actions:\n            - type: verify-webhook\n              config:\n                provider: gitlab\n                secret: s3cret\n                enforce: false\n",
    );
    c += &ep(
        "rb.example",
        "      on_http_request:\n        - actions:\n            - type: request-body-find-replace\n              config:\n                replacements:\n                  - from: cat\n                    to: dog\n",
    );
    c += &ep(
        "resp.example",
        "      on_http_response:\n        - actions:\n            - type: response-body-find-replace\n              config:\n                replacements:\n                  - from: '\"GET\"'\n                    to: '\"TEG\"'\n",
    );
    c += &ep(
        "swap.example",
        "      on_http_response:\n        - actions:\n            - type: custom-response\n              config:\n                status_code: 203\n                body: replaced at the edge\n",
    );
    c += &ep(
        "close.example",
        "      on_http_request:\n        - actions:\n            - type: close-connection\n",
    );
    c += &format!(
        "  - url: http://h2c.example:{{HTTP}}\n    upstream:\n      url: http://{echo_h2c}\n      protocol: http2\n"
    );
    c += &ep(
        "tcpdeny.example",
        "      on_tcp_connect:\n        - actions:\n            - type: restrict-ips\n              config:\n                deny: [127.0.0.0/8]\n",
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_bodies_response_phase_and_closing() {
    let (echo, _) = start_echo().await;
    let echo_h2c = start_echo_h2c().await;
    let edge = Edge::start(&body_config(echo, echo_h2c)).await;
    let port = edge.http;

    // verify-webhook reads the whole body in the request phase; it is still forwarded.
    let r = send(
        port,
        "POST",
        "hook.example",
        "/hook",
        &[("x-gitlab-token", "s3cret")],
        "{\"event\":1}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["body"], "{\"event\":1}");
    let r = send(
        port,
        "POST",
        "hook.example",
        "/hook",
        &[("x-gitlab-token", "wrong")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3204"));
    // A body past what the edge can hold for an action: the action sees TooLarge; when it lets
    // the request through anyway, the edge cannot forward a half-read body and answers 413.
    let big = "x".repeat(200 * 1024);
    let r = send(
        port,
        "POST",
        "lax.example",
        "/hook",
        &[("x-gitlab-token", "s3cret")],
        &big,
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("sluice-error-code"), Some("ERR_SLUICE_3904"));
    // Within the limit it goes through with enforce: false too.
    let r = send(
        port,
        "POST",
        "lax.example",
        "/hook",
        &[("x-gitlab-token", "s3cret")],
        "small",
    )
    .await;
    assert_eq!(r.json()["body"], "small");

    // Request body rewritten as it streams (also across a 300 KiB body).
    let r = send(port, "POST", "rb.example", "/", &[], "a cat and a cat").await;
    assert_eq!(r.json()["body"], "a dog and a dog");
    let long = "cat ".repeat(75 * 1024);
    let r = send(port, "POST", "rb.example", "/", &[], &long).await;
    let got = r.json()["body"].as_str().unwrap_or("").to_string();
    assert_eq!(got.len(), long.len(), "rewritten body length");
    assert!(got == "dog ".repeat(75 * 1024), "rewritten body differs");

    // Response body rewritten from the upstream's.
    let r = send(port, "GET", "resp.example", "/x", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["method"], "TEG");

    // A response-phase custom-response replaces the upstream's response.
    let r = send(port, "GET", "swap.example", "/", &[], "").await;
    assert_eq!(r.status, 203);
    assert_eq!(&r.body[..], b"replaced at the edge");

    // close-connection (request phase) and restrict-ips (on_tcp_connect): no response at all.
    let out = raw(port, "GET / HTTP/1.1\r\nHost: close.example\r\n\r\n").await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let out = raw(port, "GET / HTTP/1.1\r\nHost: tcpdeny.example\r\n\r\n").await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    // upstream.protocol: http2 speaks h2c to the upstream; the body streams through.
    let r = send(port, "POST", "h2c.example", "/h2", &[], "over h2c").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], "HTTP/2.0");
    assert_eq!(r.json()["body"], "over h2c");
    assert_eq!(r.json()["headers"]["x-forwarded-for"][0], "127.0.0.1");

    // Keep-alive: requests for two endpoints on one connection, all answered (the connection's
    // policy state is carried from request to request).
    let mut sender = h1_conn(port).await;
    for (host, path) in [
        ("resp.example", "/one"),
        ("rb.example", "/two"),
        ("resp.example", "/three"),
    ] {
        let req = Request::builder()
            .uri(path)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .expect("request");
        sender.ready().await.expect("connection kept alive");
        let resp = sender.send_request(req).await.expect("keep-alive request");
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let j: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(j["path"], path);
    }
}
