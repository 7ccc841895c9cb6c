//! Where a `tls://` endpoint's TLS ends at the agent, with real processes (an edge,
//! `sluice tls` / `sluice start`) and real clients (rustls, `openssl s_client`):
//! `--terminate-at agent --crt --key`, v3 `agent_tls_termination` with mutual TLS, v2
//! `crt`/`key`, and the flag combinations that cannot apply.

mod support;
mod tls_endpoint_common;

use std::process::{Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::agent::{AgentProc, TOKEN, TunnelEdge};
use support::scratch_dir;
use tls_endpoint_common::{cert, exchange, openssl, upstream, write};

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
