//! End-to-end tests of reloading the edge's config: on SIGHUP and on a change to the file,
//! with held connections switching to the new policies and invalid configs refused.

mod support;

use std::net::SocketAddr;

use support::{Edge, Reply, eventually, get, h1_conn, h1_send, start_echo, write_atomic};

fn reload_config(echo: SocketAddr, version: &str) -> String {
    format!(
        r#"version: 1
listeners:
  http: 127.0.0.1:{{HTTP}}
endpoints:
  - url: http://app.localhost
    upstream:
      url: http://{echo}
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-version: {version}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_on_sighup_swaps_policies_and_refuses_invalid_configs() {
    let (echo, _) = start_echo().await;
    let edge = Edge::start(&reload_config(echo, "one")).await;
    let version = |r: Reply| {
        r.json()["headers"]["x-version"][0]
            .as_str()
            .map(str::to_string)
    };
    // A keep-alive connection opened before the reload.
    let mut held = h1_conn(edge.http).await;
    let r = h1_send(&mut held, "app.localhost", "/", &[]).await;
    assert_eq!(version(r).as_deref(), Some("one"));

    write_atomic(
        &edge.config_path(),
        &edge.render(&reload_config(echo, "two")),
    );
    edge.signal(libc::SIGHUP);
    eventually("the new policy", || async {
        (version(get(edge.http, "app.localhost", "/").await).as_deref() == Some("two"))
            .then_some(())
    })
    .await;
    // The connection opened before the reload still serves, with the new policy.
    let r = h1_send(&mut held, "app.localhost", "/", &[]).await;
    assert_eq!(version(r).as_deref(), Some("two"));

    // An invalid config is refused, with line:column, and the running one keeps serving.
    let bad = edge.render(&reload_config(echo, "three")).replace(
        "            - type: add-headers",
        "            - type: add-headerz",
    );
    write_atomic(&edge.config_path(), &bad);
    edge.signal(libc::SIGHUP);
    let stderr = eventually("the refusal on stderr", || async {
        let s = edge.stderr();
        s.contains("refused").then_some(s)
    })
    .await;
    assert!(stderr.contains("edge.yml:11:"), "{stderr}");
    assert!(stderr.contains("add-headerz"), "{stderr}");
    let r = get(edge.http, "app.localhost", "/").await;
    assert_eq!(version(r).as_deref(), Some("two"));
    let r = h1_send(&mut held, "app.localhost", "/", &[]).await;
    assert_eq!(version(r).as_deref(), Some("two"));

    // A change to the file alone (no signal) is picked up too.
    write_atomic(
        &edge.config_path(),
        &edge.render(&reload_config(echo, "four")),
    );
    eventually("the file-change reload", || async {
        (version(get(edge.http, "app.localhost", "/").await).as_deref() == Some("four"))
            .then_some(())
    })
    .await;
}
