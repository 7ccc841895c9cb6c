//! Amazon SNS, signed here as AWS documents it: the `Name\nValue\n` string of the message's
//! fields, RSA PKCS#1 v1.5 with SHA-1 (`SignatureVersion` 1) or SHA-256 (2), base64. The
//! signing certificate is served by a loopback server standing in for SNS, reached through
//! the test-only fetch override.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rsa::pkcs8::EncodePrivateKey as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::Digest as _;

use super::*;
use crate::webhook::{SnsCertificates, validate_secret};

const CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000.pem";

/// The test's AWS key and its self-signed certificate (PEM).
fn key_and_cert() -> &'static (RsaPrivateKey, String) {
    static KEY: OnceLock<(RsaPrivateKey, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
        let der = key.to_pkcs8_der().expect("PKCS#8");
        let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
            .expect("rcgen key");
        let cert = rcgen::CertificateParams::new(vec!["sns.amazonaws.com".to_owned()])
            .expect("params")
            .self_signed(&pair)
            .expect("certificate");
        (key, cert.pem())
    })
}

/// Serves the certificate to every request; counts the requests.
fn cert_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let pem = key_and_cert().1.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{pem}",
                pem.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (base, hits)
}

fn iso(ts: u64) -> String {
    let secs = i64::try_from(ts).expect("fits");
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// RSA PKCS#1 v1.5 over `text`: SHA-1 with its DigestInfo prefix, or SHA-256.
fn rsa_sign(text: &str, version: &str) -> String {
    let key = &key_and_cert().0;
    let signature = if version == "1" {
        let digest = sha1::Sha1::digest(text.as_bytes());
        let prefix: &[u8] = &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ];
        let scheme = Pkcs1v15Sign {
            hash_len: Some(20),
            prefix: prefix.into(),
        };
        key.sign(scheme, &digest).expect("sign")
    } else {
        let digest = sha2::Sha256::digest(text.as_bytes());
        key.sign(Pkcs1v15Sign::new::<sha2_10::Sha256>(), &digest)
            .expect("sign")
    };
    b64(&signature)
}

/// A `Notification` signed at `ts` with `SignatureVersion` `version`.
fn notification(ts: u64, version: &str, cert_url: &str) -> String {
    let fields = [
        ("Message", "hello from SNS"),
        ("MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"),
        ("Subject", "My first message"),
        ("Timestamp", &iso(ts)),
        ("TopicArn", "arn:aws:sns:us-east-1:123456789012:MyTopic"),
        ("Type", "Notification"),
    ];
    let to_sign: String = fields.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect();
    let mut body = serde_json::Map::new();
    for (k, v) in fields {
        body.insert(k.to_owned(), v.into());
    }
    body.insert("SignatureVersion".into(), version.into());
    body.insert("Signature".into(), rsa_sign(&to_sign, version).into());
    body.insert("SigningCertURL".into(), cert_url.into());
    body.insert(
        "UnsubscribeURL".into(),
        "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe".into(),
    );
    serde_json::Value::Object(body).to_string()
}

/// A `SubscriptionConfirmation` signed at `ts` with SHA-256.
fn confirmation(ts: u64) -> String {
    let fields = [
        ("Message", "You have chosen to subscribe to the topic"),
        ("MessageId", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b"),
        (
            "SubscribeURL",
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
        ),
        ("Timestamp", &iso(ts)),
        (
            "Token",
            "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92",
        ),
        ("TopicArn", "arn:aws:sns:us-east-1:123456789012:MyTopic"),
        ("Type", "SubscriptionConfirmation"),
    ];
    let to_sign: String = fields.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect();
    let mut body = serde_json::Map::new();
    for (k, v) in fields {
        body.insert(k.to_owned(), v.into());
    }
    body.insert("SignatureVersion".into(), "2".into());
    body.insert("Signature".into(), rsa_sign(&to_sign, "2").into());
    body.insert("SigningCertURL".into(), CERT_URL.into());
    serde_json::Value::Object(body).to_string()
}

async fn check(certs: &SnsCertificates, body: &str) -> Result<Verification, WebhookError> {
    let req = Req::post(body).header("x-amz-sns-message-type", "Notification");
    let request = WebhookRequest {
        method: &req.method,
        url: &req.url,
        headers: &req.headers,
        body: &req.body,
    };
    verify(Provider::Sns, "", &request, now(), Some(certs)).await
}

#[test]
fn accepts_signed_messages_and_fetches_the_certificate_once() {
    let (base, hits) = cert_server();
    block_on(async {
        let certs = SnsCertificates::fetching_from(&base).expect("client");
        assert_verified(check(&certs, &notification(NOW, "1", CERT_URL)).await);
        assert_verified(check(&certs, &notification(NOW - 60, "2", CERT_URL)).await);
        assert_verified(check(&certs, &confirmation(NOW)).await);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the certificate is cached");
        assert_eq!(certs.cached(), 1);
    });
}

#[test]
fn rejects_a_flipped_byte_a_stale_message_and_a_secret() {
    let (base, _) = cert_server();
    block_on(async {
        let certs = SnsCertificates::fetching_from(&base).expect("client");
        let good = notification(NOW, "1", CERT_URL);
        let flipped = good.replacen("hello from SNS", "hellp from SNS", 1);
        assert_mismatch(check(&certs, &flipped).await);
        assert_stale(
            check(&certs, &notification(NOW - 3605, "1", CERT_URL)).await,
            3600,
        );
        assert_stale(
            check(&certs, &notification(NOW + 3605, "2", CERT_URL)).await,
            3600,
        );
        let req = Req::post(&good);
        let request = WebhookRequest {
            method: &req.method,
            url: &req.url,
            headers: &req.headers,
            body: &req.body,
        };
        assert!(matches!(
            verify(Provider::Sns, "a-secret", &request, now(), Some(&certs)).await,
            Err(WebhookError::InvalidSecret(_))
        ));
    });
    assert!(validate_secret(Provider::Sns, "a-secret").is_err());
    assert!(validate_secret(Provider::Sns, "").is_ok());
    assert_eq!(Provider::Sns.tolerance(), Some(Duration::from_secs(3600)));
}

#[test]
fn refuses_certificate_urls_that_are_not_amazon_sns_without_fetching() {
    let (base, hits) = cert_server();
    block_on(async {
        let certs = SnsCertificates::fetching_from(&base).expect("client");
        for url in [
            "http://sns.us-east-1.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem",
            "https://evil.test/sns.us-east-1.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
            "https://user@sns.us-east-1.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com/cert.txt",
            "https://s3.us-east-1.amazonaws.com/cert.pem",
            "https://sns..amazonaws.com/cert.pem",
        ] {
            assert_malformed(check(&certs, &notification(NOW, "1", url)).await);
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        // The China partition's hosts are SNS hosts too (the fetch goes to the loopback).
        assert_verified(
            check(
                &certs,
                &notification(
                    NOW,
                    "1",
                    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
                ),
            )
            .await,
        );
    });
}

#[test]
fn without_a_certificate_source_nothing_verifies() {
    let req = Req::post(notification(NOW, "1", CERT_URL));
    assert_malformed(req.verify(Provider::Sns, "", now()));
}
