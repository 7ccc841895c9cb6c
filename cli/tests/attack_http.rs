//! The HTTP part of the edge's attack suite, on request heads: raw TCP clients against a real
//! `sluice edge` on loopback, in front of an echo upstream that records every request head it
//! receives. (Request bodies are in `attack_http_bodies.rs`.)
//!
//! Each case asserts the edge's answer (status and `sluice-error-code`), that the upstream never
//! saw a smuggled or refused request, and that the edge still serves a normal request right
//! after. Classes: request smuggling (CL+TE, TE+CL, duplicate CL, TE obfuscations,
//! `identity, chunked`, bare LF, chunk-size overflow), slow headers, oversized heads and too
//! many fields, pipelining, path bypasses, and HTTP/1.1 strictness.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::attack::{assert_refused, edge_with, never_saw, statuses, still_serves};
use support::{get, raw, raw_bytes};

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: app.localhost\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_smuggling_never_reaches_the_upstream() {
    let (edge, seen) = edge_with("").await;
    let head = "POST / HTTP/1.1\r\nHost: app.localhost\r\n";
    // (what, framing headers and body, status, code if the edge's own)
    let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        (
            "CL+TE",
            format!("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
            Some("3907"),
        ),
        (
            "TE+CL",
            format!(
                "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n{SMUGGLED}0\r\n\r\n"
            ),
            400,
            Some("3907"),
        ),
        (
            "duplicate CL",
            format!("Content-Length: 0\r\nContent-Length: 47\r\n\r\n{SMUGGLED}"),
            400,
            None,
        ),
        (
            "TE with a space before the colon",
            format!("Transfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n{SMUGGLED}"),
            400,
            Some("3907"),
        ),
        (
            "TE folded onto the next line",
            format!("Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
            Some("3907"),
        ),
        (
            "TE xchunked",
            format!("Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
            None,
        ),
        (
            "TE chunked twice",
            format!(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
            400,
            Some("3907"),
        ),
        (
            "TE identity, chunked",
            format!("Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
            Some("3907"),
        ),
        (
            "TE with a NUL",
            format!("Transfer-Encoding: chunked\0\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            400,
            Some("3907"),
        ),
        (
            "bare LF line ends",
            format!("Transfer-Encoding: chunked\n\n0\n\n{SMUGGLED}"),
            400,
            Some("3907"),
        ),
    ];
    for (what, rest, status, code) in cases {
        let out = raw(edge.http, &format!("{head}{rest}")).await;
        match code {
            Some(code) => assert_refused(&out, status, code, what),
            None => assert_eq!(
                statuses(&out),
                vec![status],
                "{what}: {}",
                String::from_utf8_lossy(&out)
            ),
        }
        never_saw(&seen, "/smuggled", what);
        still_serves(&edge, what).await;
    }
    // A chunk size that overflows 64 bits: refused or cut, never a second request.
    let out = raw(
        edge.http,
        &format!(
            "{head}Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n{SMUGGLED}"
        ),
    )
    .await;
    let codes = statuses(&out);
    assert!(
        codes.len() <= 1 && codes.iter().all(|s| *s >= 400),
        "chunk-size overflow: {}",
        String::from_utf8_lossy(&out)
    );
    never_saw(&seen, "/smuggled", "chunk-size overflow");
    still_serves(&edge, "chunk-size overflow").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_http1_request_heads() {
    let (edge, seen) = edge_with("").await;
    let cases: [(&str, &[u8]); 7] = [
        ("no Host", b"GET /strict HTTP/1.1\r\n\r\n"),
        (
            "space in the target",
            b"GET /strict x HTTP/1.1\r\nHost: app.localhost\r\n\r\n",
        ),
        (
            "control byte in the target",
            b"GET /strict\x01 HTTP/1.1\r\nHost: app.localhost\r\n\r\n",
        ),
        (
            "NUL in the target",
            b"GET /strict\x00 HTTP/1.1\r\nHost: app.localhost\r\n\r\n",
        ),
        (
            "double space",
            b"GET  /strict HTTP/1.1\r\nHost: app.localhost\r\n\r\n",
        ),
        (
            "target not a path",
            b"GET strict HTTP/1.1\r\nHost: app.localhost\r\n\r\n",
        ),
        (
            "lone CR",
            b"GET /strict HTTP/1.1\r\nHost: app.localhost\rX: y\r\n\r\n",
        ),
    ];
    for (what, request) in cases {
        // `raw_bytes` also asserts the edge closed the connection after answering.
        let out = raw_bytes(edge.http, request).await;
        assert_refused(&out, 400, "3907", what);
        never_saw(&seen, "strict", what);
        still_serves(&edge, what).await;
    }
    // Two Hosts: Pingora's own parser refuses it (a bare 400).
    let out = raw(
        edge.http,
        "GET /strict HTTP/1.1\r\nHost: app.localhost\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(
        statuses(&out),
        vec![400],
        "{}",
        String::from_utf8_lossy(&out)
    );
    never_saw(&seen, "strict", "two Hosts");
    // HTTP/1.0 needs no Host.
    let out = raw(edge.http, "GET /plain HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        statuses(&out),
        vec![404],
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_too_many_fields_get_431() {
    let (edge, seen) = edge_with("").await;
    let mut many = String::from("GET /many HTTP/1.1\r\nHost: app.localhost\r\n");
    for i in 0..300 {
        many.push_str(&format!("x-field-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    let out = raw(edge.http, &many).await;
    assert_refused(&out, 431, "3906", "300 fields");
    // Many fields under the limit are fine (the echo upstream itself takes at most 100).
    let mut ok =
        String::from("GET /fields HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n");
    for i in 0..90 {
        ok.push_str(&format!("x-field-{i}: y\r\n"));
    }
    ok.push_str("\r\n");
    let out = raw(edge.http, &ok).await;
    assert_eq!(
        statuses(&out),
        vec![200],
        "{}",
        String::from_utf8_lossy(&out)
    );
    // Over 1 MiB of header.
    let mut stream = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect");
    let mut big = String::from("GET /big-head HTTP/1.1\r\nHost: app.localhost\r\n");
    for i in 0..20 {
        big.push_str(&format!("x-filler-{i}: {}\r\n", "a".repeat(60_000)));
    }
    big.push_str("\r\n");
    let (mut rd, mut wr) = stream.split();
    let (_, out) = tokio::join!(
        async {
            let _ = wr.write_all(big.as_bytes()).await;
        },
        async {
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut out)).await;
            out
        }
    );
    assert_refused(&out, 431, "3906", "1.2 MB of header");
    never_saw(&seen, "/many", "too many fields");
    never_saw(&seen, "/big-head", "big head");
    still_serves(&edge, "oversized heads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let (edge, seen) = edge_with("").await;
    let out = raw(
        edge.http,
        "GET /first HTTP/1.1\r\nHost: app.localhost\r\n\r\n\
         GET /second HTTP/1.1\r\nHost: app.localhost\r\n\r\n\
         POST /third HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 5\r\n\r\nhello\
         GET /fourth HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(statuses(&out), vec![200, 200, 200, 200], "{text}");
    let order: Vec<usize> = ["/first", "/second", "/third", "/fourth"]
        .iter()
        .map(|p| {
            text.find(&format!("\"path\":\"{p}\""))
                .unwrap_or(usize::MAX)
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.contains("\"body\":\"hello\""), "{text}");
    assert_eq!(
        seen.requests()
            .iter()
            .filter(|r| !r.ends_with("/after"))
            .count(),
        4
    );
    still_serves(&edge, "pipelining").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_rules_cannot_be_bypassed_by_encoding() {
    let (edge, seen) = edge_with("").await;
    for path in [
        "/admin",
        "/%61dmin",
        "/%61%64%6d%69%6e",
        "//admin",
        "/./admin",
        "/x/../admin",
        "/x/%2e%2e/admin",
        "/admin/../admin/x",
    ] {
        let r = get(edge.http, "app.localhost", path).await;
        assert_eq!(r.status, 403, "{path}");
    }
    for path in [
        "/../admin",
        "/%2Fadmin",
        "/x/%2fadmin",
        "/%5Cadmin",
        "/a%00",
        "/a%zz",
    ] {
        let out = raw(
            edge.http,
            &format!("GET {path} HTTP/1.1\r\nHost: app.localhost\r\n\r\n"),
        )
        .await;
        assert_refused(&out, 400, "3908", path);
    }
    never_saw(&seen, "admin", "path bypasses");
    // The upstream gets the normalised path.
    let r = get(edge.http, "app.localhost", "/x//y/./%7Ez/..?q=/../admin").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/x/y/?q=/../admin");
    still_serves(&edge, "path bypasses").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let (edge, seen) = edge_with("  header_read: 500ms\n").await;
    let mut s = TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect");
    s.write_all(b"GET /slowloris HTTP/1.1\r\nHost: app.localhost\r\n")
        .await
        .expect("write");
    let start = Instant::now();
    let mut closed = false;
    let mut buf = [0u8; 256];
    while start.elapsed() < Duration::from_secs(10) {
        let _ = s.write_all(b"X-A: b\r\n").await;
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => panic!("the edge answered a header still arriving"),
            Err(_) => {}
        }
    }
    assert!(closed, "a trickling header kept its connection");
    never_saw(&seen, "/slowloris", "slowloris");
    still_serves(&edge, "slowloris").await;
}
