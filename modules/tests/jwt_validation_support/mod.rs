//! Test keys, token signing and a loopback JWKS server for the `jwt-validation` tests
//! (trimmed from the core library's unit-test support).

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::rngs::OsRng;
use rsa::RsaPrivateKey;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A private signing key.
#[derive(Clone)]
pub enum TestKey {
    /// RSA (RS256).
    Rsa(Box<RsaPrivateKey>),
    /// P-256 (ES256).
    P256(p256_13::ecdsa::SigningKey),
}

/// One 2048-bit RSA key, generated once per test binary.
pub fn rsa_key() -> TestKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    TestKey::Rsa(Box::new(
        KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key"))
            .clone(),
    ))
}

/// A fresh P-256 key.
pub fn p256_key() -> TestKey {
    TestKey::P256(p256_13::ecdsa::SigningKey::random(&mut OsRng))
}

/// Unpadded base64url.
pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

impl TestKey {
    /// The public JWK.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Rsa(k) => json!({"kty": "RSA", "kid": kid, "use": "sig",
                "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be())}),
            Self::P256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "kid": kid, "crv": "P-256",
                    "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))})
            }
        }
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Rsa(k) => {
                rsa::pkcs1v15::SigningKey::<sha2_10::Sha256>::new(RsaPrivateKey::clone(k))
                    .sign(msg)
                    .to_vec()
            }
            Self::P256(k) => {
                let sig: p256_13::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
        }
    }
}

/// A compact JWS with an explicit header, signed by `key`.
pub fn token_with_header(header: &Value, claims: &Value, key: &TestKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&key.sign(input.as_bytes())))
}

/// A token with header `{alg, typ: JWT, kid}`.
pub fn token(alg: &str, kid: &str, key: &TestKey, claims: &Value) -> String {
    token_with_header(&json!({"alg": alg, "typ": "JWT", "kid": kid}), claims, key)
}

/// A JWKS document for `(kid, key)` pairs.
pub fn jwks(keys: &[(&str, &TestKey)]) -> Value {
    json!({"keys": keys.iter().map(|(kid, key)| key.jwk(kid)).collect::<Vec<_>>()})
}

/// Loopback JWKS server counting its hits; stops when dropped.
pub struct JwksServer {
    /// The JWKS URL.
    pub url: String,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl JwksServer {
    /// Serves `document` on 127.0.0.1 (random port).
    pub async fn start(document: &Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("addr")
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let (task_hits, body) = (Arc::clone(&hits), document.to_string());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (hits, body) = (Arc::clone(&task_hits), body.clone());
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
        Self { url, hits, task }
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
