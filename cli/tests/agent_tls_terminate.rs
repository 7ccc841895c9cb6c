//! Where a `tls://` endpoint's TLS ends, with real processes (an edge, `sluice tls` /
//! `sluice start`) and real clients (rustls, `openssl s_client`): at the agent with its own
//! certificate (`--terminate-at agent --crt --key`, v3 `agent_tls_termination` with mutual
//! TLS, v2 `crt`/`key`), at the edge (`--terminate-at edge`), at the upstream (a `tls://`
//! upstream passed through, no second TLS layer), and re-encrypted to a `tls://` upstream
//! after the agent or the edge terminated.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use support::agent::{AgentProc, TOKEN, TunnelEdge, write_file};
use support::scratch_dir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate with subject CN `cn` for `name`, and its key (both PEM).
fn cert(name: &str, cn: &str) -> (String, String, Vec<u8>) {
    let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
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

/// Connects to the edge's https port with SNI `name` (and a client certificate when given),
/// sends `ping\n`; the server certificate and the answer.
async fn exchange(
    port: u16,
    name: &str,
    client_cert: Option<(Vec<CertificateDer<'static>>, Vec<u8>)>,
) -> Result<(Vec<u8>, String), String> {
    let recorder = Arc::new(Recorder {
        seen: Mutex::new(None),
        provider: provider(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone());
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, PrivateKeyDer::Pkcs8(key.into()))
            .map_err(|e| e.to_string())?,
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let work = async {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let server = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let mut tls = connector
            .connect(server, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tls.write_all(b"ping\n").await.map_err(|e| e.to_string())?;
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

/// Answers one line per connection with `<tag>:<line>`, over TLS with `tls` (cert, key PEM)
/// or plain; keeps the lines received.
async fn upstream(
    tag: &'static str,
    tls: Option<(String, String)>,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let acceptor = tls.map(|(c, k)| {
        let (chain, key) = pem_pair(&c, &k);
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, l) = (acceptor.clone(), l.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(tcp).await {
                            answer(tag, tls, &l).await;
                        }
                    }
                    None => answer(tag, tcp, &l).await,
                }
            });
        }
    });
    (port, lines)
}

async fn answer<S>(tag: &str, io: S, lines: &Mutex<Vec<String>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut io = BufReader::new(io);
    let mut line = String::new();
    if io.read_line(&mut line).await.is_ok() {
        if let Ok(mut v) = lines.lock() {
            v.push(line.clone());
        }
        let _ = io
            .get_mut()
            .write_all(format!("{tag}:{line}").as_bytes())
            .await;
    }
    let _ = io.get_mut().shutdown().await;
}

fn pem_pair(cert: &str, key: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    (chain, key)
}

/// `openssl s_client` to the edge with SNI `name`: its output.
fn openssl(port: u16, name: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", name])
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (install the `openssl` package)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    write_file(dir, name, text).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_at_agent_serves_the_agent_certificate() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let name = "agent-term.localhost";
    let (crt, key, der) = cert(name, "sluice-agent-cert");
    let crt_file = write(&dir, "agent.crt", &crt);
    let key_file = write(&dir, "agent.key", &key);
    let (plain, lines) = upstream("plain", None).await;
    let mut args = vec![
        "tls".to_owned(),
        format!("127.0.0.1:{plain}"),
        "--url".into(),
        format!("tls://{name}"),
        "--terminate-at".into(),
        "agent".into(),
        "--crt".into(),
        crt_file,
        "--key".into(),
        key_file,
    ];
    args.extend(edge.agent_flags());
    let mut agent = AgentProc::spawn(&args);
    agent.forwarding(1).await;
    let (seen, reply) = exchange(edge.https, name, None).await.expect("through");
    assert_eq!(seen, der, "not the agent's certificate");
    assert_eq!(reply, "plain:ping\n");
    assert_eq!(
        lines.lock().map(|v| v.clone()).unwrap_or_default(),
        ["ping\n"]
    );
    let text = openssl(edge.https, name);
    assert!(text.contains("CN = sluice-agent-cert"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_upstream_is_passed_through_or_re_encrypted() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let (up_crt, up_key, up_der) = cert("upstream.test", "sluice-tls-upstream");
    let (tls_port, _) = upstream("tls-upstream", Some((up_crt, up_key))).await;

    // Passthrough to a tls:// upstream: the client's TLS reaches the upstream unopened (once
    // broken: the agent wrapped it in a second TLS layer, "wrong version number").
    let pass = "pass-tls.localhost";
    let mut args = vec![
        "tls".to_owned(),
        format!("tls://127.0.0.1:{tls_port}"),
        "--url".into(),
        format!("tls://{pass}"),
    ];
    args.extend(edge.agent_flags());
    let mut a1 = AgentProc::spawn(&args);
    a1.forwarding(1).await;
    let (seen, reply) = exchange(edge.https, pass, None).await.expect("passthrough");
    assert_eq!(seen, up_der, "not the upstream's certificate");
    assert_eq!(reply, "tls-upstream:ping\n");

    // Terminated at the agent, re-encrypted to the upstream.
    let agent_name = "reenc-agent.localhost";
    let (crt, key, der) = cert(agent_name, "sluice-agent-cert");
    let mut args = vec![
        "tls".to_owned(),
        format!("tls://127.0.0.1:{tls_port}"),
        "--url".into(),
        format!("tls://{agent_name}"),
        "--crt".into(),
        write(&dir, "a.crt", &crt),
        "--key".into(),
        write(&dir, "a.key", &key),
    ];
    args.extend(edge.agent_flags());
    let mut a2 = AgentProc::spawn(&args);
    a2.forwarding(1).await;
    let (seen, reply) = exchange(edge.https, agent_name, None)
        .await
        .expect("agent re-encrypts");
    assert_eq!(seen, der, "not the agent's certificate");
    assert_eq!(reply, "tls-upstream:ping\n");

    // Terminated at the edge (its development CA), re-encrypted by the agent.
    let edge_name = "reenc-edge.localhost";
    let mut args = vec![
        "tls".to_owned(),
        format!("tls://127.0.0.1:{tls_port}"),
        "--url".into(),
        format!("tls://{edge_name}"),
        "--terminate-at".into(),
        "edge".into(),
    ];
    args.extend(edge.agent_flags());
    let mut a3 = AgentProc::spawn(&args);
    a3.forwarding(1).await;
    let (seen, reply) = exchange(edge.https, edge_name, None)
        .await
        .expect("edge terminates, agent re-encrypts");
    assert_ne!(seen, up_der);
    let text = openssl(edge.https, edge_name);
    assert!(text.contains("sluice edge development CA"), "{text}");
    assert_eq!(reply, "tls-upstream:ping\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_agent_tls_termination_takes_effect_with_mutual_tls() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let name = "v3-term.localhost";
    let (crt, key, der) = cert(name, "sluice-v3-agent");
    write(&dir, "server.crt", &crt);
    write(&dir, "server.key", &key);
    // A CA for clients, inline in the config.
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "clients CA");
    let ca_pem = ca_params.clone().self_signed(&ca_key).expect("CA").pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let client_key = KeyPair::generate().expect("client key");
    let client = CertificateParams::new(vec!["alice.test".to_owned()])
        .expect("params")
        .signed_by(&client_key, &issuer)
        .expect("client cert");
    let client_cert = (vec![client.der().clone()], client_key.serialize_der());

    let (plain, _) = upstream("plain", None).await;
    let indented = ca_pem
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect::<String>();
    let config = format!(
        "version: 3\nagent:\n  authtoken: {TOKEN}\n  connect_url: localhost:{tunnel}\n  connect_cas: {ca}\nendpoints:\n  - name: term\n    url: tls://{name}\n    agent_tls_termination:\n      server_certificate: server.crt\n      server_private_key: server.key\n      mutual_tls_certificate_authorities:\n        - |\n{indented}    upstream:\n      url: 127.0.0.1:{plain}\n",
        tunnel = edge.tunnel,
        ca = edge.ca_path().display(),
    );
    let path = write(&dir, "sluice.yml", &config);
    let mut agent = AgentProc::spawn(&["start", "--all", "--config", &path]);
    agent.forwarding(1).await;
    let refused = exchange(edge.https, name, None).await;
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let (seen, reply) = exchange(edge.https, name, Some(client_cert))
        .await
        .expect("a client certificate from the CA");
    assert_eq!(seen, der, "not the agent's certificate");
    assert_eq!(reply, "plain:ping\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_crt_and_key_terminate_at_the_agent() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let name = "v2-term.localhost";
    let (crt, key, der) = cert(name, "sluice-v2-agent");
    let crt_file = write(&dir, "v2.crt", &crt);
    let key_file = write(&dir, "v2.key", &key);
    let (plain, _) = upstream("plain", None).await;
    let config = format!(
        "version: \"2\"\nauthtoken: {TOKEN}\nserver_addr: localhost:{tunnel}\nroot_cas: {ca}\ntunnels:\n  secure:\n    proto: tls\n    addr: 127.0.0.1:{plain}\n    hostname: {name}\n    crt: {crt_file}\n    key: {key_file}\n",
        tunnel = edge.tunnel,
        ca = edge.ca_path().display(),
    );
    let path = write(&dir, "v2.yml", &config);
    let mut agent = AgentProc::spawn(&["start", "secure", "--config", &path]);
    agent.forwarding(1).await;
    let (seen, reply) = exchange(edge.https, name, None).await.expect("through");
    assert_eq!(seen, der, "not the agent's certificate");
    assert_eq!(reply, "plain:ping\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_flags_that_cannot_apply_are_refused() {
    let dir = scratch_dir();
    let (crt, key, _) = cert("x.localhost", "x");
    let crt_file = write(&dir, "x.crt", &crt);
    let key_file = write(&dir, "x.key", &key);
    for (args, want) in [
        (
            vec!["tls", "443", "--crt", &crt_file],
            "needs both a certificate and a key",
        ),
        (
            vec!["tls", "443", "--terminate-at", "nowhere"],
            "edge, agent or upstream",
        ),
        (
            vec![
                "tls",
                "443",
                "--crt",
                &crt_file,
                "--key",
                &key_file,
                "--terminate-at",
                "upstream",
            ],
            "not upstream",
        ),
        (
            vec!["http", "8080", "--crt", &crt_file, "--key", &key_file],
            "tls:// endpoints only",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(&args)
            .env("HOME", &dir)
            .stdin(Stdio::null())
            .output()
            .expect("run sluice");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_encryption_verifies_the_upstream_with_given_cas() {
    let edge = TunnelEdge::start(false).await;
    let dir = scratch_dir();
    let ca = |cn: &str| {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        let pem = params.clone().self_signed(&key).expect("CA").pem();
        (pem, Issuer::new(params, key))
    };
    let (ca_pem, issuer) = ca("upstream CA");
    let (other_ca_pem, _) = ca("another CA");
    let up_key = KeyPair::generate().expect("key");
    let up_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&up_key, &issuer)
        .expect("upstream cert");
    let (tls_port, _) = upstream(
        "verified-upstream",
        Some((up_cert.pem(), up_key.serialize_pem())),
    )
    .await;
    let (crt, key, _) = cert("x.localhost", "sluice-agent-cert");
    let (crt_file, key_file) = (write(&dir, "a.crt", &crt), write(&dir, "a.key", &key));
    let mut agents = Vec::new();
    for (name, cas) in [
        ("good-ca.localhost", &ca_pem),
        ("bad-ca.localhost", &other_ca_pem),
    ] {
        let mut args = vec![
            "tls".to_owned(),
            format!("tls://127.0.0.1:{tls_port}"),
            "--url".into(),
            format!("tls://{name}"),
            "--crt".into(),
            crt_file.clone(),
            "--key".into(),
            key_file.clone(),
            "--upstream-tls-verify-cas".into(),
            write(&dir, &format!("{name}.pem"), cas),
        ];
        args.extend(edge.agent_flags());
        let mut agent = AgentProc::spawn(&args);
        agent.forwarding(1).await;
        agents.push(agent);
    }
    let (_, reply) = exchange(edge.https, "good-ca.localhost", None)
        .await
        .expect("verified upstream");
    assert_eq!(reply, "verified-upstream:ping\n");
    // The upstream's certificate does not chain to the given CA: nothing gets through.
    let refused = exchange(edge.https, "bad-ca.localhost", None).await;
    assert!(
        !matches!(&refused, Ok((_, r)) if r.contains("verified-upstream")),
        "{refused:?}"
    );
}
