//! Wildcard binds by agents route: `--url http://*.example.com` serves `foo.example.com`,
//! an exact bind beats it, the most specific wildcard wins, and the bare suffix is not served.

mod tunnel_common;

use std::sync::Arc;

use sluice_tunnel::{BindRequest, Protocol};
use tunnel_common::{agent, get, serve_echo, start_edge, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_binds_route_most_specific_first() {
    let dir = temp_dir("wildcards");
    let edge = start_edge(&dir).await;
    let wide = Arc::new(agent(&edge, "tok-a", "wide").await.expect("agent"));
    let narrow = Arc::new(agent(&edge, "tok-a", "narrow").await.expect("agent"));
    let exact = Arc::new(agent(&edge, "tok-a", "exact").await.expect("agent"));
    for (session, url) in [
        (&wide, "http://*.wild.localhost"),
        (&narrow, "http://*.deep.wild.localhost"),
        (&exact, "http://app.wild.localhost"),
    ] {
        session
            .bind(BindRequest::new(Protocol::Http).with_url(url))
            .await
            .unwrap_or_else(|e| panic!("bind {url}: {e}"));
    }
    serve_echo(wide.clone(), "wide");
    serve_echo(narrow.clone(), "narrow");
    serve_echo(exact.clone(), "exact");
    for (host, who) in [
        ("foo.wild.localhost", "agent=wide"),
        ("a.b.wild.localhost", "agent=wide"),
        ("FOO.Wild.localhost:80", "agent=wide"),
        ("app.wild.localhost", "agent=exact"),
        ("x.deep.wild.localhost", "agent=narrow"),
        ("deep.wild.localhost", "agent=wide"),
    ] {
        let answer = get(edge.http, host).await;
        assert!(answer.contains(who), "{host}: {answer}");
    }
    let bare = get(edge.http, "wild.localhost").await;
    assert!(bare.contains("err_sluice_3200"), "{bare}");
    // The narrow wildcard's agent leaves: its names fall back to the wider wildcard.
    narrow.close();
    narrow.closed().await;
    tunnel_common::eventually("the wide wildcard takes over", || async {
        get(edge.http, "x.deep.wild.localhost")
            .await
            .contains("agent=wide")
    })
    .await;
}
