//! The SDK against an in-process edge: connect an [`Agent`], bind two HTTP endpoints, forward
//! one to a local upstream with `forward_to` and answer the other by hand with `accept`.

mod support;

use sluice_agent::Agent;
use sluice_tunnel::{BindRequest, Protocol, SessionBuilder};
use support::{get, read_head, start_edge, start_upstream, temp_dir};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_binds_forwards_and_accepts() {
    let dir = temp_dir("sdk");
    let (http, tunnel, ca) = start_edge(&dir).await;
    let upstream = start_upstream("from the upstream").await;

    let agent = Agent::connect(
        SessionBuilder::new("tok")
            .connect_addr(tunnel)
            .server_name("localhost")
            .ca_pem(ca),
    )
    .await
    .expect("agent connects");

    let forwarded = agent
        .bind(BindRequest::new(Protocol::Http))
        .await
        .expect("bind forwarded");
    let forwarded_url = forwarded.url().to_owned();
    let up = format!("http://127.0.0.1:{upstream}");
    tokio::spawn(async move { forwarded.forward_to(&up).await });

    let mut manual = agent
        .bind(BindRequest::new(Protocol::Http))
        .await
        .expect("bind manual");
    let manual_url = manual.url().to_owned();
    assert_ne!(forwarded_url, manual_url);
    tokio::spawn(async move {
        while let Some((_header, mut stream)) = manual.accept().await {
            let _ = read_head(&mut stream).await;
            let body = "answered by accept()";
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });

    let a = get(http, &forwarded_url).await;
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    assert!(a.ends_with("from the upstream"), "{a}");
    let b = get(http, &manual_url).await;
    assert!(b.starts_with("HTTP/1.1 200"), "{b}");
    assert!(b.ends_with("answered by accept()"), "{b}");

    agent.unbind(&manual_url).await.expect("unbind");
    let c = get(http, &manual_url).await;
    assert!(!c.starts_with("HTTP/1.1 200"), "{c}");
    agent.close();
    let _ = std::fs::remove_dir_all(&dir);
}
