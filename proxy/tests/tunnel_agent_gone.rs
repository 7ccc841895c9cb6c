//! An agent whose session ends in the middle of a request: the client gets 502 with
//! `ERR_SLUICE_3210` ("the agent went away"), not 8012 ("the agent could not reach its
//! upstream", which stays for a stream the agent closes unanswered while it lives on).

mod tunnel_common;

use std::sync::Arc;

use sluice_tunnel::{BindRequest, Protocol};
use tokio::io::AsyncReadExt;
use tunnel_common::{agent, get, start_edge, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_dying_mid_request_answers_3210() {
    let dir = temp_dir("agent-gone");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "dying").await.expect("agent"));
    a.bind(BindRequest::new(Protocol::Http).with_url("http://gone.localhost"))
        .await
        .expect("bind");
    let session = a.clone();
    tokio::spawn(async move {
        if let Some((_, mut stream)) = session.accept().await {
            // The request arrives; then the whole session ends before any answer.
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            session.close();
        }
    });
    let resp = get(edge.http, "gone.localhost").await;
    assert!(resp.starts_with("http/1.1 502"), "{resp}");
    assert!(
        resp.contains("sluice-error-code: err_sluice_3210"),
        "{resp}"
    );
    assert!(resp.contains("went away"), "{resp}");
    let _ = std::fs::remove_dir_all(&dir);
}
