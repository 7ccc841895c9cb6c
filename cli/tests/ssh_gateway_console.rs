//! The SSH session as the console, with the real OpenSSH client: a line per request (method,
//! path, status, duration) on the session's standard output, the local target on any host
//! (`ssh -R 0:127.0.0.2:PORT … http`), a local service that is down (502 `ERR_SLUICE_8012`,
//! and the line says so), websockets and other `101` upgrades (raw bytes) through it, as through
//! an agent, and `--traffic-policy-file` read over the session's standard input.
//! Skipped, saying so, without OpenSSH (`apt-get install openssh-client`).

mod support;

use std::time::Duration;

use support::agent::host_port;
use support::ssh::{SshProc, curl, edge_with_key, keygen, skip_without_openssh as skip};
use support::{free_port, scratch_dir};

/// An HTTP server on 127.0.0.2 (not localhost) answering `METHOD PATH BODY-LENGTH`, keeping
/// connections open.
async fn echo_on_127_0_0_2() -> (u16, tokio::task::JoinHandle<()>) {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let (head, body) = req.into_parts();
                        let len = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes().len())
                            .unwrap_or(0);
                        let text = format!("{} {} {len}", head.method, head.uri);
                        let status = match head.uri.path() {
                            "/missing" => 404,
                            _ => 200,
                        };
                        let resp = hyper::Response::builder()
                            .status(status)
                            .body(Full::new(bytes::Bytes::from(text)));
                        Ok::<_, std::convert::Infallible>(resp.unwrap_or_default())
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_per_request_on_the_session_and_any_local_host() {
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_console");
    let edge = edge_with_key(&public).await;
    let ssh_port = edge.ssh.expect("ssh port");
    let (up, _task) = echo_on_127_0_0_2().await;

    // `-R 0:127.0.0.2:PORT … http`: the client connects to a host other than localhost.
    let mut ssh = SshProc::spawn(ssh_port, &key, &format!("0:127.0.0.2:{up}"), "http", &dir);
    let url = ssh.url().await;
    assert!(url.starts_with("https://"), "{url}");
    let text = curl(&edge, &format!("{url}/hello?x=1"), &[]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("GET /hello?x=1 0"), "{text}");
    let line = ssh
        .wait_line(Duration::from_secs(10), |l| l.contains("/hello?x=1"))
        .await;
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.get(1), Some(&"UTC"), "{line}");
    assert_eq!(
        words.get(2..6),
        Some(&["GET", "/hello?x=1", "200", "OK"][..]),
        "{line}"
    );
    assert!(words.get(6).is_some_and(|d| d.ends_with("ms")), "{line}");

    // A body goes through; another status is shown as it is.
    let text = curl(&edge, &format!("{url}/form"), &["-d", "a=1&b=2"]);
    assert!(text.ends_with("POST /form 7"), "{text}");
    let text = curl(&edge, &format!("{url}/missing"), &[]);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    ssh.wait_line(Duration::from_secs(10), |l| {
        l.contains("POST    /form") && l.contains(" 200 OK ")
    })
    .await;
    ssh.wait_line(Duration::from_secs(10), |l| {
        l.contains("/missing") && l.contains(" 404 Not Found ")
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_that_is_down_is_8012_and_said_on_the_session() {
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_down");
    let edge = edge_with_key(&public).await;
    let dead = free_port();
    let forward = format!("0:127.0.0.1:{dead}");
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "http", &dir);
    let url = ssh.url().await;
    let text = curl(&edge, &format!("{url}/down"), &[]);
    assert!(text.starts_with("HTTP/1.1 502"), "{text}");
    assert!(text.contains("ERR_SLUICE_8012"), "{text}");
    let line = ssh
        .wait_line(Duration::from_secs(10), |l| l.contains("/down"))
        .await;
    assert!(
        line.contains("502 Bad Gateway (the local service is unreachable)"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_policy_file_comes_over_standard_input() {
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_policy");
    let edge = edge_with_key(&public).await;
    let port = edge.ssh.expect("ssh port");
    let (up, _task) = echo_on_127_0_0_2().await;
    let forward = format!("80:127.0.0.2:{up}");
    let policy = "on_http_request:\n  - expressions: [\"req.url.path == '/blocked'\"]\n    \
                  actions:\n      - type: custom-response\n        config:\n          \
                  status_code: 403\n          body: from the policy file\n";
    let command = "http --traffic-policy-file policy.yml";
    let mut ssh =
        SshProc::spawn_with_input(port, &key, &forward, command, &dir, Some(policy.into()));
    let url = ssh.url().await;
    let text = curl(&edge, &format!("{url}/blocked"), &[]);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(text.ends_with("from the policy file"), "{text}");
    let text = curl(&edge, &format!("{url}/open"), &[]);
    assert!(text.ends_with("GET /open 0"), "{text}");
    drop(ssh);

    // A bad policy file: the edge's line:col error on stderr, exit 1.
    let bad = "on_http_request:\n  - actions:\n      - type: no-such-action\n";
    let mut ssh = SshProc::spawn_with_input(port, &key, &forward, command, &dir, Some(bad.into()));
    let code = ssh.exited(Duration::from_secs(20)).await;
    let err = ssh.stderr();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no-such-action") && err.contains("3:"),
        "{err}"
    );

    // Nothing on standard input: said how to send it, exit 2.
    let mut ssh = SshProc::spawn(port, &key, &forward, command, &dir);
    let code = ssh.exited(Duration::from_secs(20)).await;
    let err = ssh.stderr();
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("standard input was empty") && err.contains("< policy.yml"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_pass_through_the_relay() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_ws");
    let edge = edge_with_key(&public).await;
    let ws = support::start_ws_echo().await;
    let forward = format!("ws.localhost:80:127.0.0.1:{}", ws.port());
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "http", &dir);
    let url = ssh.url().await;
    let (host, port) = host_port(&url);
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the edge");
    let request = format!("ws://{host}:{port}/socket")
        .into_client_request()
        .expect("ws request");
    let (mut socket, resp) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .expect("handshake in time")
    .expect("websocket handshake");
    assert_eq!(resp.status().as_u16(), 101);
    for i in 0..3 {
        let msg = format!("hello {i}");
        socket.send(Message::text(msg.clone())).await.expect("send");
        let back = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("echo in time")
            .expect("a message")
            .expect("no error");
        assert_eq!(back.into_text().expect("text").as_str(), msg);
    }
    ssh.wait_line(Duration::from_secs(10), |l| {
        l.contains("/socket") && l.contains(" 101 Switching Protocols ")
    })
    .await;
    let _ = socket.close(None).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A local server that answers any `Upgrade:` request with `101` (and `400` without one), then
/// echoes raw bytes (no WebSocket framing), as a custom upgraded protocol would.
async fn raw_upgrade_echo() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let asked = text
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("upgrade: "))
                    .map(str::to_owned);
                let Some(protocol) = asked else {
                    let _ = stream
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                };
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n\
                     upgrade: {protocol}\r\n\r\n"
                );
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (port, task)
}

/// Sends an `Upgrade: PROTOCOL` request for `host` to the edge's `port`, then raw bytes after
/// the `101`; the head of the answer and the bytes echoed back.
async fn upgrade_and_echo(host: &str, port: u16, protocol: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the edge");
    let request = format!(
        "GET /echo HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: upgrade\r\nupgrade: {protocol}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read_head = async {
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_head)
        .await
        .expect("an answer in time");
    let head = String::from_utf8_lossy(&head).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return (head, Vec::new());
    }
    let sent = b"hello \x00\xff raw bytes";
    let mut back = Vec::new();
    for chunk in [&sent[..6], &sent[6..]] {
        stream.write_all(chunk).await.expect("write after 101");
        let mut buf = vec![0u8; chunk.len()];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buf))
            .await
            .expect("echo in time")
            .expect("echo");
        back.extend_from_slice(&buf);
    }
    (head, back)
}

/// Any `101` upgrade, not only WebSocket, is joined end to end through the relay, as through
/// an agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_upgrades_pass_through_the_relay_as_through_an_agent() {
    if skip() {
        return;
    }
    let dir = scratch_dir();
    let (key, public) = keygen(&dir, "id_upgrade");
    let edge = edge_with_key(&public).await;
    let (up, _task) = raw_upgrade_echo().await;
    let mut agent = edge.http_agent(&up.to_string(), &["--url", "http://agent-up.localhost"]);
    let url = agent.url().await;
    let (host, port) = host_port(&url);
    let (head, back) = upgrade_and_echo(&host, port, "echo").await;
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "through the agent: {head}"
    );
    assert_eq!(back, b"hello \x00\xff raw bytes", "through the agent");
    // `h2c` is not passed on (the upstream would take later requests past the edge's policy):
    // the local server sees a plain request.
    let (head, _) = upgrade_and_echo(&host, port, "h2c").await;
    assert!(
        head.starts_with("HTTP/1.1 400"),
        "h2c through the agent: {head}"
    );

    let forward = format!("ssh-up.localhost:80:127.0.0.1:{up}");
    let mut ssh = SshProc::spawn(edge.ssh.expect("ssh port"), &key, &forward, "http", &dir);
    let url = ssh.url().await;
    let (host, port) = host_port(&url);
    let (head, back) = upgrade_and_echo(&host, port, "echo").await;
    assert!(head.starts_with("HTTP/1.1 101"), "through ssh: {head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: echo"),
        "{head}"
    );
    assert_eq!(back, b"hello \x00\xff raw bytes", "through ssh");
    ssh.wait_line(Duration::from_secs(10), |l| {
        l.contains("/echo") && l.contains(" 101 Switching Protocols ")
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}
