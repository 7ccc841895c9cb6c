//! Shared test fixtures: a throwaway CA and server certificate, a static authenticator and a
//! recording bind handler.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use sluice_tunnel::{
    AgentSession, AuthRejection, AuthRequest, Authenticator, BindHandler, BindPermission,
    BindRejection, BindRequest, Grant, ServerSettings, SessionBuilder, TunnelServer,
    server_tls_config,
};

/// Generous bound for anything that should happen "soon".
pub const WAIT: Duration = Duration::from_secs(20);

pub const TOKEN: &str = "good-token";

/// A CA (PEM) and a server config whose certificate is for `localhost`, signed by it.
pub struct Pki {
    pub ca_pem: String,
    pub tls: Arc<rustls::ServerConfig>,
}

pub fn pki() -> Pki {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.signed_by(&key, &issuer).expect("cert");
    let tls = server_tls_config(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .expect("server tls");
    Pki {
        ca_pem: ca_cert.pem(),
        tls,
    }
}

/// Accepts [`TOKEN`] with permission for `*.tunnel.test` and TCP ports 20000-20100.
pub struct StaticAuth;

#[async_trait]
impl Authenticator for StaticAuth {
    async fn authenticate(&self, req: &AuthRequest) -> Result<Grant, AuthRejection> {
        if req.authtoken != TOKEN {
            return Err(AuthRejection::new(
                "ERR_SLUICE_AUTH_FAILED",
                "unknown authtoken",
            ));
        }
        Ok(Grant {
            account: "acct-1".into(),
            permissions: vec![
                BindPermission::Wildcard("*.tunnel.test".into()),
                BindPermission::TcpPorts(20000, 20100),
            ],
        })
    }
}

/// Assigns `https://rN.tunnel.test` when no URL is asked, refuses a policy containing `bad`,
/// and records every request it sees.
#[derive(Default)]
pub struct Handler {
    pub seen: Mutex<Vec<BindRequest>>,
    counter: Mutex<u32>,
}

pub const POLICY_ERROR: &str =
    "policy.yml:3:5: unknown action type \"nope\"\npolicy.yml:7:1: expected a list";

#[async_trait]
impl BindHandler for Handler {
    async fn bind(&self, _s: &AgentSession, req: &BindRequest) -> Result<String, BindRejection> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(req.clone());
        }
        if req
            .traffic_policy
            .as_deref()
            .is_some_and(|p| p.contains("bad"))
        {
            return Err(BindRejection::new(
                "ERR_SLUICE_POLICY_INVALID",
                POLICY_ERROR,
            ));
        }
        if let Some(url) = &req.url {
            return Ok(url.clone());
        }
        let n = self.counter.lock().map(|mut c| {
            *c += 1;
            *c
        });
        Ok(format!("https://r{}.tunnel.test", n.unwrap_or(0)))
    }
}

pub struct Edge {
    pub server: TunnelServer,
    pub handler: Arc<Handler>,
    pub addr: String,
}

pub async fn try_edge_at(
    pki: &Pki,
    addr: &str,
    settings: ServerSettings,
) -> sluice_tunnel::Result<Edge> {
    let handler = Arc::new(Handler::default());
    let auth = Arc::new(StaticAuth);
    let server =
        TunnelServer::bind_with(addr, pki.tls.clone(), auth, handler.clone(), settings).await?;
    let addr = server.local_addr().expect("addr").to_string();
    Ok(Edge {
        server,
        handler,
        addr,
    })
}

pub async fn edge_at(pki: &Pki, addr: &str, settings: ServerSettings) -> Edge {
    try_edge_at(pki, addr, settings)
        .await
        .expect("bind tunnel server")
}

pub async fn edge(pki: &Pki) -> Edge {
    edge_at(pki, "127.0.0.1:0", ServerSettings::default()).await
}

pub fn builder(pki: &Pki, edge: &Edge, token: &str) -> SessionBuilder {
    SessionBuilder::new(token)
        .connect_addr(edge.addr.clone())
        .server_name("localhost")
        .ca_pem(pki.ca_pem.as_bytes().to_vec())
}

/// Awaits `fut` for at most [`WAIT`].
pub async fn soon<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
