//! `openid-connect` discovery when an edge takes a policy in ([`Policy::prepare`]): an issuer
//! that does not answer or serves an invalid document is an error at the action's line and
//! column (ERR_SLUICE_2227); a good document is fetched once and then served from the cache.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sluice_policy::Policy;
use sluice_policy::harness::{self, ManualClock, TestConn, UpstreamReply};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use common::load;

/// What the test issuer serves as its discovery document.
enum Doc {
    /// A valid document naming this issuer.
    Good,
    /// A valid document naming another issuer.
    OtherIssuer,
    /// Not JSON.
    Garbage,
}

/// A loopback issuer serving one discovery document, counting its requests.
struct Issuer {
    url: String,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Issuer {
    async fn start(doc: Doc) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let body = match doc {
            Doc::Good | Doc::OtherIssuer => {
                let named = match doc {
                    Doc::Good => url.clone(),
                    _ => "https://someone-else.example".to_string(),
                };
                serde_json::json!({
                    "issuer": named,
                    "authorization_endpoint": format!("{url}/authorize"),
                    "token_endpoint": format!("{url}/token"),
                    "jwks_uri": format!("{url}/jwks"),
                })
                .to_string()
            }
            Doc::Garbage => "<html>not a discovery document</html>".to_string(),
        };
        let hits = Arc::new(AtomicUsize::new(0));
        let task_hits = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (hits, body) = (task_hits.clone(), body.clone());
                let service = service_fn(move |_request| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = body.clone();
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .expect("response"),
                        )
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Issuer { url, hits, task }
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn policy_for(issuer: &str) -> Policy {
    load(&format!(
        "on_http_request:
  - actions:
      - type: openid-connect
        config:
          issuer_url: {issuer}
          client_id: app
          client_secret: s3cret
"
    ))
}

async fn prepare_err(issuer: &str) -> String {
    policy_for(issuer)
        .prepare()
        .await
        .expect_err("the issuer is not usable")
        .to_string()
}

#[tokio::test]
async fn an_issuer_that_does_not_answer_is_an_error_at_the_action() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let err = prepare_err(&format!("http://{addr}")).await;
    assert!(err.starts_with("t.yml:3:9: "), "{err}");
    assert!(
        err.contains("on_http_request[0].actions[0].config.issuer_url"),
        "{err}"
    );
    assert!(
        err.contains("bad OpenID Connect discovery document"),
        "{err}"
    );
    assert!(err.ends_with("[ERR_SLUICE_2227]"), "{err}");
}

#[tokio::test]
async fn an_invalid_discovery_document_is_an_error() {
    let liar = Issuer::start(Doc::OtherIssuer).await;
    let err = prepare_err(&liar.url).await;
    assert!(err.contains("is not the configured"), "{err}");
    assert!(err.contains("ERR_SLUICE_2227"), "{err}");
    let garbage = Issuer::start(Doc::Garbage).await;
    let err = prepare_err(&garbage.url).await;
    assert!(err.contains("ERR_SLUICE_2227"), "{err}");
}

#[tokio::test]
async fn a_good_document_is_fetched_once_and_then_cached() {
    let issuer = Issuer::start(Doc::Good).await;
    let policy = policy_for(&issuer.url);
    policy.prepare().await.expect("the issuer answers");
    assert_eq!(issuer.hits.load(Ordering::SeqCst), 1);
    let conn = harness::connection(
        &TestConn::default(),
        harness::endpoint("https://app.example.com"),
        Arc::new(ManualClock::new()),
    );
    for _ in 0..2 {
        let req = harness::request(
            "GET",
            "https://app.example.com/",
            &[("host", "app.example.com")],
        );
        let out =
            harness::exchange(&policy, &conn, req, Bytes::new(), &UpstreamReply::default()).await;
        assert_eq!(out.status, Some(StatusCode::FOUND));
        let location = out.headers["location"].to_str().expect("ascii");
        assert!(
            location.starts_with(&format!("{}/authorize?", issuer.url)),
            "{location}"
        );
    }
    assert_eq!(
        issuer.hits.load(Ordering::SeqCst),
        1,
        "requests use the document fetched when the policy was prepared"
    );
}

#[tokio::test]
async fn plain_oauth_has_nothing_to_fetch() {
    let policy = load(
        "on_http_request:
  - actions:
      - type: oauth
        config: {provider: github, client_id: a, client_secret: b}
",
    );
    policy.prepare().await.expect("nothing to fetch");
}
