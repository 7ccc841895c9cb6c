//! TLS endpoints (SNI passthrough) on the edge's https listener: the agent terminates TLS with
//! its own certificate; other names still get the edge's HTTPS; `on_tcp_connect` runs first.

mod tunnel_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sluice_tunnel::{BindRequest, ClientSession, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tunnel_common::{Seen, agent, eventually, start_edge, start_edge_with, temp_dir};

const DENY_LOOPBACK: &str = "on_tcp_connect:\n  - actions:\n      - type: restrict-ips\n        config:\n          deny: [\"127.0.0.0/8\"]\n";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate and remembers the one it was shown.
#[derive(Debug)]
struct Recorder {
    seen: Mutex<Option<Vec<u8>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(end_entity.to_vec());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connects to the https listener with SNI `name`, sends `line`, returns the certificate the
/// server showed and its answer.
async fn tls_exchange(port: u16, name: &str, line: &str) -> Result<(Vec<u8>, String), String> {
    let recorder = Arc::new(Recorder {
        seen: Mutex::new(None),
        provider: provider(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let server = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let work = async {
        let mut tls = connector
            .connect(server, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tls.write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        Ok::<_, String>(String::from_utf8_lossy(&out).into_owned())
    };
    let answer = tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .map_err(|_| "timed out".to_string())??;
    let cert = recorder
        .seen
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .ok_or("no certificate")?;
    Ok((cert, answer))
}

/// Terminates TLS for every TLS stream with `cert`, answering one line with `agent:<line>`.
fn serve_tls(client: Arc<ClientSession>, cert: CertificateDer<'static>, key: Vec<u8>) -> Seen {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], PrivateKeyDer::Pkcs8(key.into()))
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let seen = Seen::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Some((header, stream)) = client.accept().await {
            s.add(&header.endpoint_url);
            assert_eq!(header.protocol, Protocol::Tls);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut tls = BufReader::new(tls);
                let mut line = String::new();
                if tls.read_line(&mut line).await.is_ok() {
                    let _ = tls
                        .get_mut()
                        .write_all(format!("agent:{line}").as_bytes())
                        .await;
                }
                let _ = tls.get_mut().shutdown().await;
            });
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_endpoint_passes_tls_through_to_the_agent() {
    let dir = temp_dir("tls-pass");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "tls-a").await.expect("agent"));
    let bound = a
        .bind(BindRequest::new(Protocol::Tls).with_url("tls://secure.localhost"))
        .await
        .expect("bind tls");
    assert_eq!(bound.url, format!("tls://secure.localhost:{}", edge.https));
    let blocked = a
        .bind(
            BindRequest::new(Protocol::Tls)
                .with_url("tls://blocked.localhost")
                .with_traffic_policy(DENY_LOOPBACK),
        )
        .await
        .expect("bind blocked");
    let random = a
        .bind(BindRequest::new(Protocol::Tls))
        .await
        .expect("random tls name");
    assert!(
        random.url.starts_with("tls://") && random.url.contains(".localhost:"),
        "{}",
        random.url
    );
    // Another account cannot take the name.
    let b = agent(&edge, "tok-b", "tls-b").await.expect("agent b");
    let err = b
        .bind(BindRequest::new(Protocol::Tls).with_url("tls://secure.localhost"))
        .await
        .expect_err("taken");
    assert_eq!(
        err.as_bind_refusal().expect("refusal").code,
        "ERR_SLUICE_334"
    );

    let generated = rcgen::generate_simple_self_signed(vec!["secure.localhost".to_string()])
        .expect("agent certificate");
    let agent_cert = generated.cert.der().clone();
    let seen = serve_tls(
        a.clone(),
        agent_cert.clone(),
        generated.signing_key.serialize_der(),
    );

    // The agent's certificate, the agent's answer.
    let (cert, answer) = tls_exchange(edge.https, "secure.localhost", "hi\n")
        .await
        .expect("through the tunnel");
    assert_eq!(cert, agent_cert.to_vec(), "not the agent's certificate");
    assert_eq!(answer, "agent:hi\n");
    assert_eq!(seen.count(&bound.url), 1);

    // Another name: the edge's own HTTPS (its development CA's certificate).
    let (cert, answer) = tls_exchange(
        edge.https,
        "plain.localhost",
        "GET / HTTP/1.1\r\nHost: plain.localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("edge https");
    assert_ne!(cert, agent_cert.to_vec());
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");

    // on_tcp_connect denies loopback: closed before the agent.
    let denied = tls_exchange(edge.https, "blocked.localhost", "hi\n").await;
    assert!(denied.is_err(), "{denied:?}");
    assert_eq!(seen.count(&blocked.url), 0);

    // The agent leaves: the name falls back to the edge's HTTPS.
    a.close();
    eventually("secure.localhost served by the edge", || async {
        let r = tls_exchange(
            edge.https,
            "secure.localhost",
            "GET / HTTP/1.1\r\nHost: secure.localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        matches!(r, Ok((c, body)) if c != agent_cert.to_vec() && body.starts_with("HTTP/1.1 "))
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_without_https_refuses_tls_binds() {
    let dir = temp_dir("tls-none");
    let edge = start_edge_with(&dir, false).await;
    let a = agent(&edge, "tok-a", "tls-a").await.expect("agent");
    let err = a
        .bind(BindRequest::new(Protocol::Tls).with_url("tls://secure.localhost"))
        .await
        .expect_err("no https listener");
    let refusal = err.as_bind_refusal().expect("refusal");
    assert_eq!(refusal.code, "ERR_SLUICE_BIND_UNSUPPORTED");
    assert!(
        refusal.message.contains("https listener"),
        "{}",
        refusal.message
    );
    let _ = std::fs::remove_dir_all(&dir);
}
