//! TLS endpoints whose `on_tcp_connect` runs `terminate-tls`: the edge ends the client's TLS
//! (its own certificate or the action's, the action's versions and client-certificate checks)
//! and the agent receives plaintext. Real rustls clients and `openssl s_client`.

mod tunnel_common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
use sluice_tunnel::{BindRequest, ClientSession, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tunnel_common::test_ca::TestCa;
use tunnel_common::{agent, eventually, start_edge, temp_dir};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any server certificate and remembers it.
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

/// What a test client offers.
struct Client<'a> {
    versions: &'a [&'static SupportedProtocolVersion],
    cert: Option<(Vec<CertificateDer<'static>>, Vec<u8>)>,
}

impl Default for Client<'_> {
    fn default() -> Self {
        Client {
            versions: rustls::DEFAULT_VERSIONS,
            cert: None,
        }
    }
}

/// Connects with SNI `name`, sends `hi\n`; the server's certificate and the answer.
async fn exchange(port: u16, name: &str, c: Client<'_>) -> Result<(Vec<u8>, String), String> {
    let recorder = Arc::new(Recorder {
        seen: Mutex::new(None),
        provider: provider(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(c.versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone());
    let config = match c.cert {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, PrivateKeyDer::Pkcs8(key.into()))
            .map_err(|e| e.to_string())?,
    };
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
        tls.write_all(b"hi\n").await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        tls.read_to_end(&mut out)
            .await
            .map_err(|e| format!("read: {e}"))?;
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

/// The agent answers each stream's first line in plaintext with `agent:<line>`, and keeps
/// the lines it received (the plaintext the edge decrypted).
fn serve_plain(client: Arc<ClientSession>) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    tokio::spawn(async move {
        while let Some((header, stream)) = client.accept().await {
            assert_eq!(header.protocol, Protocol::Tls);
            let l = l.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                if stream.read_line(&mut line).await.is_ok() {
                    if let Ok(mut v) = l.lock() {
                        v.push(line.clone());
                    }
                    let _ = stream
                        .get_mut()
                        .write_all(format!("agent:{line}").as_bytes())
                        .await;
                }
                let _ = stream.get_mut().shutdown().await;
            });
        }
    });
    lines
}

fn policy(config: serde_json::Value) -> String {
    serde_json::json!({
        "on_tcp_connect": [{"actions": [{"type": "terminate-tls", "config": config}]}]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_terminates_and_the_agent_gets_plaintext() {
    let dir = temp_dir("tls-term");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "term-a").await.expect("agent"));

    // The quickstart: the edge's own certificate (its development CA) for the name.
    a.bind(
        BindRequest::new(Protocol::Tls)
            .with_url("tls://quick.localhost")
            .with_traffic_policy("on_tcp_connect:\n  - actions:\n      - type: terminate-tls\n"),
    )
    .await
    .expect("bind quickstart");
    // A certificate of its own.
    let own = rcgen::generate_simple_self_signed(vec!["own.localhost".to_string()]).expect("c");
    a.bind(
        BindRequest::new(Protocol::Tls)
            .with_url("tls://own.localhost")
            .with_traffic_policy(policy(serde_json::json!({
                "server_certificate": own.cert.pem(),
                "server_private_key": own.signing_key.serialize_pem(),
            }))),
    )
    .await
    .expect("bind own certificate");
    // TLS 1.3 only.
    a.bind(
        BindRequest::new(Protocol::Tls)
            .with_url("tls://modern.localhost")
            .with_traffic_policy(policy(serde_json::json!({"min_version": "1.3"}))),
    )
    .await
    .expect("bind 1.3 only");
    let lines = serve_plain(a.clone());

    let (cert, answer) = exchange(edge.https, "quick.localhost", Client::default())
        .await
        .expect("quickstart");
    assert_eq!(answer, "agent:hi\n");
    let issuer_cn = x509_issuer_has(&cert, "sluice");
    assert!(issuer_cn, "not the edge's development certificate");

    let (cert, answer) = exchange(edge.https, "own.localhost", Client::default())
        .await
        .expect("own certificate");
    assert_eq!(
        cert,
        own.cert.der().to_vec(),
        "not the action's certificate"
    );
    assert_eq!(answer, "agent:hi\n");

    // The agent read the plaintext, never a TLS record.
    assert_eq!(
        lines.lock().map(|v| v.clone()).unwrap_or_default(),
        vec!["hi\n".to_string(), "hi\n".to_string()]
    );

    let tls12 = Client {
        versions: &[&rustls::version::TLS12],
        cert: None,
    };
    let refused = exchange(edge.https, "modern.localhost", tls12).await;
    assert!(refused.is_err(), "{refused:?}");
    let (_, answer) = exchange(edge.https, "modern.localhost", Client::default())
        .await
        .expect("TLS 1.3");
    assert_eq!(answer, "agent:hi\n");

    // A real client: openssl refused with a protocol-version alert.
    if let Some(out) = openssl(edge.https, "modern.localhost", &["-tls1_2"]).await {
        assert!(
            out.contains("alert protocol version") || out.contains("unsupported protocol"),
            "{out}"
        );
        assert!(!out.contains("agent:"), "{out}");
    }
    if let Some(out) = openssl(edge.https, "own.localhost", &["-tls1_3"]).await {
        assert!(out.contains("agent:hello"), "{out}");
        assert!(out.contains("CN = rcgen self signed cert"), "{out}");
    }

    // tcp_connection_closed carries the terminating handshake's facts, or why it failed.
    let events = dir.join("events.jsonl");
    eventually("closed events with TLS facts and a refusal reason", || {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        async move {
            let closed: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .filter(|e: &serde_json::Value| e["event_type"] == "tcp_connection_closed.v0")
                .collect();
            let terminated = closed.iter().any(|e| {
                e["object"]["conn"]["tls"]["sni"] == "own.localhost"
                    && e["object"]["conn"]["tls"]["version"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("TLSv1"))
                    && e["object"]["conn"]["tls"]["cipher_suite"].is_string()
            });
            let refused = closed.iter().any(|e| {
                e["object"]["conn"]["tls"]["sni"] == "modern.localhost"
                    && e["object"]["conn"]["close_reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("handshake"))
            });
            terminated && refused
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_is_checked_at_the_edge() {
    let dir = temp_dir("tls-mtls");
    let edge = start_edge(&dir).await;
    let a = Arc::new(agent(&edge, "tok-a", "mtls-a").await.expect("agent"));
    let ca = TestCa::new("clients CA");
    let stranger = TestCa::new("other CA");
    a.bind(
        BindRequest::new(Protocol::Tls)
            .with_url("tls://strict.localhost")
            .with_traffic_policy(policy(serde_json::json!({
                "mutual_tls_certificate_authorities": [ca.pem],
            }))),
    )
    .await
    .expect("bind require-and-verify");
    a.bind(
        BindRequest::new(Protocol::Tls)
            .with_url("tls://lenient.localhost")
            .with_traffic_policy(policy(serde_json::json!({
                "mutual_tls_certificate_authorities": [ca.pem],
                "mutual_tls_verification_strategy": "verify-if-given",
            }))),
    )
    .await
    .expect("bind verify-if-given");
    a.bind(
        BindRequest::new(Protocol::Tls)
            .with_url("tls://any.localhost")
            .with_traffic_policy(policy(serde_json::json!({
                "mutual_tls_verification_strategy": "require-any",
            }))),
    )
    .await
    .expect("bind require-any");
    let _lines = serve_plain(a.clone());
    let with = |cert| Client {
        versions: rustls::DEFAULT_VERSIONS,
        cert: Some(cert),
    };

    // require-and-verify: none → refused; wrong CA → refused; right CA → through.
    let none = exchange(edge.https, "strict.localhost", Client::default()).await;
    assert!(none.is_err(), "{none:?}");
    let wrong = exchange(
        edge.https,
        "strict.localhost",
        with(stranger.client_der("eve")),
    )
    .await;
    assert!(wrong.is_err(), "{wrong:?}");
    let (_, answer) = exchange(edge.https, "strict.localhost", with(ca.client_der("alice")))
        .await
        .expect("signed by the CA");
    assert_eq!(answer, "agent:hi\n");

    // verify-if-given: none → through; wrong CA → refused.
    let (_, answer) = exchange(edge.https, "lenient.localhost", Client::default())
        .await
        .expect("no certificate is fine");
    assert_eq!(answer, "agent:hi\n");
    let wrong = exchange(
        edge.https,
        "lenient.localhost",
        with(stranger.client_der("eve")),
    )
    .await;
    assert!(wrong.is_err(), "{wrong:?}");

    // require-any: none → refused; any → through.
    let none = exchange(edge.https, "any.localhost", Client::default()).await;
    assert!(none.is_err(), "{none:?}");
    let (_, answer) = exchange(
        edge.https,
        "any.localhost",
        with(stranger.client_der("eve")),
    )
    .await
    .expect("any certificate");
    assert_eq!(answer, "agent:hi\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the certificate's DER holds `needle` (the development CA's name is in its issuer).
fn x509_issuer_has(der: &[u8], needle: &str) -> bool {
    der.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Runs `openssl s_client` against the https port with SNI `name`, sending `hello`; its
/// output, or `None` when openssl is not installed.
async fn openssl(port: u16, name: &str, extra: &[&str]) -> Option<String> {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", name, "-quiet"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = move || {
        let mut child = cmd.spawn().ok()?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            let _ = stdin.write_all(b"hello\n");
        }
        let out = child.wait_with_output().ok()?;
        Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    tokio::time::timeout(Duration::from_secs(20), tokio::task::spawn_blocking(run))
        .await
        .ok()?
        .ok()?
}
