use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::support::*;
use crate::jwt::{JwksCache, JwksCacheConfig, JwtError};

/// Loopback JWKS server whose reply can be swapped and whose hits are counted.
struct JwksServer {
    url: String,
    hits: Arc<AtomicUsize>,
    reply: Arc<Mutex<(StatusCode, String)>>,
    task: JoinHandle<()>,
}

impl JwksServer {
    async fn start(document: &Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("addr")
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new((StatusCode::OK, document.to_string())));
        let (task_hits, task_reply) = (Arc::clone(&hits), Arc::clone(&reply));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (hits, reply) = (Arc::clone(&task_hits), Arc::clone(&task_reply));
                let service = service_fn(move |_request| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = reply.lock().expect("reply").clone();
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .expect("response"),
                        )
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self {
            url,
            hits,
            reply,
            task,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn set_reply(&self, status: StatusCode, body: String) {
        *self.reply.lock().expect("reply") = (status, body);
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn config(min_refetch: Duration) -> JwksCacheConfig {
    JwksCacheConfig {
        min_refetch_interval: min_refetch,
        ..JwksCacheConfig::default()
    }
}

#[tokio::test]
async fn keys_are_fetched_once_and_cached() {
    let key = p256_key();
    let server = JwksServer::start(&jwks(&[("k1", &key)])).await;
    let cache = JwksCache::new([&server.url], JwksCacheConfig::default()).expect("cache");
    assert_eq!(server.hits(), 0, "nothing is fetched eagerly");
    let first = cache.keys().await.expect("first fetch");
    let second = cache.keys().await.expect("cached");
    assert_eq!(first.iter().count(), 1);
    assert!(Arc::ptr_eq(&first, &second));
    let token = token("ES256", Some("k1"), &key, &claims());
    cache
        .verify(&token, &policy(), SystemTime::now())
        .await
        .expect("verifies");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn unknown_kid_triggers_one_refetch_finding_the_rotated_key() {
    let (old, new) = (ed_key(), ed_key());
    let server = JwksServer::start(&jwks(&[("old", &old)])).await;
    let cache = JwksCache::new([&server.url], config(Duration::ZERO)).expect("cache");
    let token_old = token("EdDSA", Some("old"), &old, &claims());
    cache
        .verify(&token_old, &policy(), SystemTime::now())
        .await
        .expect("old key");
    assert_eq!(server.hits(), 1);

    server.set_reply(
        StatusCode::OK,
        jwks(&[("old", &old), ("new", &new)]).to_string(),
    );
    let token_new = token("EdDSA", Some("new"), &new, &claims());
    cache
        .verify(&token_new, &policy(), SystemTime::now())
        .await
        .expect("rotated key");
    assert_eq!(server.hits(), 2, "exactly one refetch");
    cache
        .verify(&token_new, &policy(), SystemTime::now())
        .await
        .expect("now cached");
    cache
        .verify(&token_old, &policy(), SystemTime::now())
        .await
        .expect("old still cached");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn unknown_kid_refetches_are_rate_limited() {
    let (old, new) = (ed_key(), ed_key());
    let server = JwksServer::start(&jwks(&[("old", &old)])).await;
    let cache = JwksCache::new([&server.url], JwksCacheConfig::default()).expect("cache");
    cache.keys().await.expect("initial fetch");
    server.set_reply(StatusCode::OK, jwks(&[("new", &new)]).to_string());
    let token_new = token("EdDSA", Some("new"), &new, &claims());
    for _ in 0..3 {
        let err = cache.verify(&token_new, &policy(), SystemTime::now()).await;
        assert!(matches!(err, Err(JwtError::KeyNotFound { .. })), "{err:?}");
    }
    assert_eq!(
        server.hits(),
        1,
        "within 30 s of the last fetch nothing is refetched"
    );
}

#[tokio::test]
async fn unreachable_source_is_3422_naming_the_url() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    drop(listener);
    let cache = JwksCache::new([&url], JwksCacheConfig::default()).expect("cache");
    let err = cache.keys().await.expect_err("server down");
    assert_eq!((err.code(), err.status().as_u16()), (3422, 401));
    assert!(err.to_string().contains(&url), "{err}");
    // The failure is remembered instead of hammering the source.
    assert_eq!(cache.keys().await.expect_err("still down"), err);
}

#[tokio::test]
async fn bad_responses_are_3422() {
    let key = p256_key();
    let server = JwksServer::start(&jwks(&[("k", &key)])).await;
    let small = JwksCacheConfig {
        max_response_bytes: 64,
        ..JwksCacheConfig::default()
    };
    let err = JwksCache::new([&server.url], small)
        .expect("cache")
        .keys()
        .await
        .expect_err("big");
    assert!(
        err.code() == 3422 && err.to_string().contains("64 bytes"),
        "{err}"
    );

    for (status, body) in [
        (StatusCode::INTERNAL_SERVER_ERROR, "{}"),
        (StatusCode::OK, "<html>"),
    ] {
        server.set_reply(status, body.to_owned());
        let cache = JwksCache::new([&server.url], JwksCacheConfig::default()).expect("cache");
        let err = cache.keys().await.expect_err("bad reply");
        assert!(
            err.code() == 3422 && err.to_string().contains(&server.url),
            "{err}"
        );
    }
}

#[tokio::test]
async fn failed_refresh_keeps_serving_previous_keys() {
    let key = p256_key();
    let server = JwksServer::start(&jwks(&[("k", &key)])).await;
    let always_stale = JwksCacheConfig {
        refresh_interval: Duration::ZERO,
        ..config(Duration::ZERO)
    };
    let cache = JwksCache::new([&server.url], always_stale).expect("cache");
    assert_eq!(cache.keys().await.expect("fetch").iter().count(), 1);
    server.set_reply(StatusCode::SERVICE_UNAVAILABLE, String::new());
    assert_eq!(cache.keys().await.expect("stale keys").iter().count(), 1);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn sources_are_merged_in_order() {
    let (a, b) = (p256_key(), rsa_key(1));
    let first = JwksServer::start(&jwks(&[("a", &a)])).await;
    let second = JwksServer::start(&jwks(&[("b", &b)])).await;
    let cache =
        JwksCache::new([&first.url, &second.url], JwksCacheConfig::default()).expect("cache");
    let keys = cache.keys().await.expect("both sources");
    let kids: Vec<_> = keys.iter().filter_map(|k| k.kid()).collect();
    assert_eq!(kids, ["a", "b"]);
    let token = token("RS256", Some("b"), &b, &claims());
    cache
        .verify(&token, &policy(), SystemTime::now())
        .await
        .expect("second source key");
    assert_eq!(cache.urls().count(), 2);
}

#[test]
fn source_configuration_is_validated() {
    let config = JwksCacheConfig::default;
    for urls in [
        Vec::new(),
        vec!["ftp://example.com/jwks".to_owned()],
        vec!["not a url".to_owned()],
        vec!["/relative/jwks.json".to_owned()],
        (0..101)
            .map(|i| format!("https://example.com/{i}"))
            .collect(),
    ] {
        let err = JwksCache::new(&urls, config())
            .err()
            .expect("invalid config");
        assert_eq!(err.code(), 7171, "{urls:?}");
    }
    let ok: Vec<String> = (0..100)
        .map(|i| format!("https://example.com/{i}"))
        .collect();
    assert!(JwksCache::new(&ok, config()).is_ok());
}
