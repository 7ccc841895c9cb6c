//! A `tls://` endpoint with a `tls://` upstream, with real processes and clients: passed
//! through unopened (no second TLS layer), re-encrypted by the agent after the agent or the
//! edge terminated, and verified against `--upstream-tls-verify-cas`.

mod support;
mod tls_endpoint_common;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::agent::{AgentProc, TunnelEdge};
use support::scratch_dir;
use tls_endpoint_common::{cert, exchange, openssl, upstream, write};

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
