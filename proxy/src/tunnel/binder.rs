//! The bind handler: validates a bind's policy, gives it its name (HTTP, HTTPS, TLS) or port
//! (TCP), applies the ownership rules of [`Pool::admit`] and registers it in the
//! [`TunnelRoutes`](crate::state::TunnelRoutes); unbinds and ended sessions remove it again.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_policy::{IpPolicyNames, LoadOptions, Policy, Registry, load_policy};
use sluice_tunnel::{
    AgentSession, BindHandler, BindRejection, BindRequest, EndpointBinding, Protocol,
};

use super::claim::{
    claim, default_port, drop_if_empty, endpoint, member, no_listener, random_label, remove_member,
    taken, url_with_port,
};
use crate::config::{EdgeConfig, Scheme, TcpConfig};
use crate::state::Shared;
use crate::state::agent_routes::Tables;

/// What the bind handler needs of the edge's config.
#[derive(Debug, Clone)]
pub struct BindSettings {
    /// Domains random names are made under.
    pub base_domains: Vec<String>,
    /// Port of the http listener, if any.
    pub http_port: Option<u16>,
    /// Port of the https listener (also serving TLS endpoints), if any.
    pub https_port: Option<u16>,
    /// TCP endpoints' listen IP, URL host and port range.
    pub tcp: TcpConfig,
}

impl BindSettings {
    /// The settings of `config`.
    pub fn from_config(config: &EdgeConfig) -> Self {
        BindSettings {
            base_domains: config.base_domains.clone(),
            http_port: config.http.map(|a| a.port()),
            https_port: config.https.map(|a| a.port()),
            tcp: config.tcp.clone(),
        }
    }
}

/// Handles binds: validates the policy, allocates the name or port, registers the endpoint.
pub struct Binder {
    pub(super) shared: Arc<Shared>,
    registry: Registry,
    pub(super) settings: BindSettings,
}

impl Binder {
    /// A bind handler registering into `shared.tunnels`.
    pub fn new(shared: Arc<Shared>, registry: Registry, settings: BindSettings) -> Self {
        Binder {
            shared,
            registry,
            settings,
        }
    }

    /// Loads the bind's policy and prepares it (an OIDC issuer's discovery document is
    /// fetched now), so the agent learns of either problem when it binds.
    pub(super) async fn policy(
        &self,
        account: &str,
        request: &BindRequest,
        protocol: sluice_policy::Protocol,
    ) -> Result<Arc<Policy>, BindRejection> {
        let Some(text) = &request.traffic_policy else {
            return Ok(Arc::new(Policy::empty()));
        };
        // An agent's policy never reads the edge's environment or files.
        let state = self.shared.state.load();
        let options = LoadOptions {
            protocol: Some(protocol),
            local_secrets: false,
            ip_policies: IpPolicyNames::Known(state.ip_policies.clone()),
            shared_counters: crate::rate_limit_redis::shared_counters(
                &state.rate_limit_redis,
                &format!("account:{account}"),
            ),
        };
        drop(state);
        let rejection = |e: sluice_policy::PolicyError| {
            let text: Vec<String> = e.errors().map(|d| d.to_string()).collect();
            BindRejection::new("ERR_SLUICE_POLICY_INVALID", text.join("\n"))
        };
        let policy =
            load_policy("traffic-policy", text, &self.registry, options).map_err(rejection)?;
        policy.prepare().await.map_err(rejection)?;
        Ok(Arc::new(policy))
    }

    /// The first base domain: where random names and subdomains are made.
    fn base_domain(&self) -> &str {
        self.settings
            .base_domains
            .first()
            .map_or("localhost", String::as_str)
    }

    /// A random name under the first base domain that `taken` does not hold.
    fn random_name(&self, taken: impl Fn(&str) -> bool) -> String {
        let base = self.base_domain();
        let mut name = format!("{}.{base}", random_label());
        for _ in 0..16 {
            if !taken(&name) {
                break;
            }
            name = format!("{}.{base}", random_label());
        }
        name
    }

    /// The name a bind's `subdomain` asks for (ngrok's `--subdomain`): `NAME.<first base
    /// domain>`. Checked against the token before it is claimed, as a full name would be.
    fn subdomain_host(
        &self,
        session: &AgentSession,
        request: &BindRequest,
        subdomain: &str,
    ) -> Result<String, BindRejection> {
        let name = subdomain.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !name.split('.').all(label_ok) {
            return Err(BindRejection::new(
                "ERR_SLUICE_BIND_INVALID_URL",
                format!("subdomain `{subdomain}` must be DNS labels of letters, digits and `-`"),
            ));
        }
        let host = format!("{name}.{}", self.base_domain());
        let url = format!("{}://{host}", request.protocol.as_str());
        if !session.grant().permits(request.protocol, &url) {
            return Err(BindRejection::new(
                "ERR_SLUICE_BIND_FORBIDDEN",
                format!("this authtoken may not bind {url}"),
            ));
        }
        Ok(host)
    }

    /// The host a bind asks for (its URL's, or its subdomain under the base domain), or a
    /// random one.
    fn host(
        &self,
        session: &AgentSession,
        request: &BindRequest,
        taken: impl Fn(&str) -> bool,
    ) -> Result<String, BindRejection> {
        match (request.url.as_deref(), &request.subdomain) {
            (Some(_), Some(_)) => Err(BindRejection::new(
                "ERR_SLUICE_BIND_INVALID_URL",
                "give a URL or a subdomain, not both",
            )),
            (None, Some(sub)) => self.subdomain_host(session, request, sub),
            (None, None) => Ok(self.random_name(taken)),
            (Some(url), None) => match sluice_tunnel::auth::host_port(url) {
                Some((host, _)) => Ok(host.trim_end_matches('.').to_ascii_lowercase()),
                None => Err(BindRejection::new(
                    "ERR_SLUICE_BIND_INVALID_URL",
                    format!(
                        "`{url}` is not a URL like {}://app.example.com",
                        request.protocol.as_str()
                    ),
                )),
            },
        }
    }

    /// Whether the edge config serves `host` itself on the https listener.
    fn static_https(&self, host: &str) -> bool {
        let state = self.shared.state.load();
        state.https.lookup(host).is_some_and(|ep| ep.host == host)
    }

    async fn bind_http(
        &self,
        session: &AgentSession,
        request: &BindRequest,
        scheme: Scheme,
    ) -> Result<String, BindRejection> {
        let port = match scheme {
            Scheme::Http => self.settings.http_port,
            Scheme::Https => self.settings.https_port,
        };
        let protocol = scheme.into();
        let Some(port) = port else {
            return Err(no_listener(request.protocol.as_str()));
        };
        let policy = self.policy(session.account(), request, protocol).await?;
        let cluster = self.shared.cluster.get();
        let random = request.url.is_none() && request.subdomain.is_none();
        let mut tries = 0;
        let host = loop {
            let host = {
                let tables = self.tables()?;
                // A random name is free under both schemes, so an agent serving it under both
                // (ngrok's `--scheme http,https`) can take its plain-HTTP twin too.
                self.host(session, request, |n| {
                    tables.http.contains_key(&(Scheme::Http, n.to_string()))
                        || tables.http.contains_key(&(Scheme::Https, n.to_string()))
                        || tables.tls.contains_key(n)
                })?
            };
            // In a cluster, the name must be this account's on every edge (one transaction);
            // a random name another account holds elsewhere gives way to another.
            let Some(c) = cluster else { break host };
            tries += 1;
            let claimed = match c.claim(&host, session.account()).await {
                Ok(()) => {
                    let admitted = c
                        .admit(scheme, &host, session.client_id(), request.pooling_enabled)
                        .await;
                    if admitted.is_err() {
                        // The sync lets go of the name if nothing here serves it.
                        c.changed();
                    }
                    admitted
                }
                Err(e) => Err(e),
            };
            match claimed {
                Ok(()) => break host,
                Err(e) if random && e.code == "ERR_SLUICE_334" && tries < 8 => continue,
                Err(e) => return Err(e),
            }
        };
        let mut tables = self.tables()?;
        let state = self.shared.state.load();
        let static_routes = match scheme {
            Scheme::Http => &state.http,
            Scheme::Https => &state.https,
        };
        if static_routes
            .lookup(&host)
            .is_some_and(|ep| ep.host == host)
        {
            return Err(taken(&host, "the edge config serves it"));
        }
        if scheme == Scheme::Https && tables.tls.contains_key(&host) {
            return Err(taken(&host, "a TLS endpoint has the name"));
        }
        let url = url_with_port(request.protocol, &host, port, default_port(scheme));
        let ep = endpoint(session, &url, &host, port, protocol, scheme);
        let member = member(session, request, ep, policy);
        let claimed = claim(
            &mut tables,
            |t| &mut t.http,
            (scheme, host.clone()),
            member,
            &host,
        );
        drop(tables);
        if let Some(c) = cluster {
            match &claimed {
                Ok(()) => {
                    let bind = crate::cluster::LocalBind {
                        account: session.account().to_string(),
                        url: url.clone(),
                        policy: request.traffic_policy.clone(),
                        client_id: session.client_id().to_string(),
                        pooled: request.pooling_enabled,
                    };
                    c.bound(scheme, &host, bind);
                }
                // The sync lets go of the name if nothing here serves it.
                Err(_) => c.changed(),
            }
        }
        claimed?;
        if scheme == Scheme::Https {
            self.shared.acme.bound(&host);
        }
        Ok(url)
    }

    async fn bind_tls(
        &self,
        session: &AgentSession,
        request: &BindRequest,
    ) -> Result<String, BindRejection> {
        let Some(port) = self.settings.https_port else {
            return Err(BindRejection::new(
                "ERR_SLUICE_BIND_UNSUPPORTED",
                "this edge has no https listener, which is where TLS endpoints are served",
            ));
        };
        let policy = self
            .policy(session.account(), request, sluice_policy::Protocol::Tls)
            .await?;
        let mut tables = self.tables()?;
        let host = self.host(session, request, |n| {
            tables.tls.contains_key(n) || tables.http.contains_key(&(Scheme::Https, n.into()))
        })?;
        if self.static_https(&host) {
            return Err(taken(&host, "the edge config serves it over https"));
        }
        if tables.http.contains_key(&(Scheme::Https, host.clone())) {
            return Err(taken(&host, "an https endpoint has the name"));
        }
        let url = url_with_port(Protocol::Tls, &host, port, 443);
        // Served on the https listener (by SNI, before termination).
        let ep = endpoint(
            session,
            &url,
            &host,
            port,
            sluice_policy::Protocol::Tls,
            Scheme::Https,
        );
        let member = member(session, request, ep, policy);
        claim(&mut tables, |t| &mut t.tls, host.clone(), member, &host)?;
        drop(tables);
        // The edge's certificate serves a TLS endpoint that runs terminate-tls.
        self.shared.acme.bound(&host);
        Ok(url)
    }

    pub(super) fn tables(&self) -> Result<std::sync::RwLockWriteGuard<'_, Tables>, BindRejection> {
        self.shared
            .tunnels
            .write()
            .ok_or_else(|| BindRejection::new("ERR_SLUICE_INTERNAL", "edge state poisoned"))
    }
}

#[async_trait]
impl BindHandler for Binder {
    async fn bind(
        &self,
        session: &AgentSession,
        request: &BindRequest,
    ) -> Result<String, BindRejection> {
        let host = request
            .url
            .as_deref()
            .and_then(sluice_tunnel::auth::host_port)
            .map(|(h, _)| h);
        let binding = sluice_tunnel::binding::resolve(&request.bindings, host.as_deref())
            .map_err(|e| BindRejection::new(e.code, e.message))?;
        if request.subdomain.is_some()
            && (request.protocol == Protocol::Tcp || binding == EndpointBinding::Internal)
        {
            return Err(BindRejection::new(
                "ERR_SLUICE_BIND_INVALID_URL",
                "a subdomain names a public http, https or tls endpoint under the edge's base \
                 domain; tcp endpoints get a port and internal ones a .internal URL",
            ));
        }
        if binding == EndpointBinding::Internal {
            return self.bind_internal(session, request).await;
        }
        match request.protocol {
            Protocol::Http => self.bind_http(session, request, Scheme::Http).await,
            Protocol::Https => self.bind_http(session, request, Scheme::Https).await,
            Protocol::Tls => self.bind_tls(session, request).await,
            Protocol::Tcp => self.bind_tcp(session, request).await,
        }
    }

    async fn unbind(&self, session: &AgentSession, url: &str) {
        let Some((host, port)) = sluice_tunnel::auth::host_port(url) else {
            return;
        };
        let host = host.to_ascii_lowercase();
        let Some(mut tables) = self.shared.tunnels.write() else {
            return;
        };
        let id = session.id();
        if sluice_tunnel::binding::is_internal_host(&host) {
            let key = (session.account().to_owned(), url.to_owned());
            return remove_member(&mut tables.internal, key, id);
        }
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        match scheme {
            "tcp" => {
                if let Some(port) = port
                    && let Some(t) = tables.tcp.get_mut(&port)
                    && t.pool.remove_session(id)
                {
                    drop_if_empty(&mut tables.tcp, port);
                }
            }
            "tls" => remove_member(&mut tables.tls, host, id),
            "https" => remove_member(&mut tables.http, (Scheme::Https, host), id),
            _ => remove_member(&mut tables.http, (Scheme::Http, host), id),
        }
        drop(tables);
        if let Some(c) = self.shared.cluster.get() {
            c.changed();
        }
    }

    async fn session_closed(&self, session: &AgentSession) {
        self.shared.tunnels.remove_session(session.id());
        if let Some(c) = self.shared.cluster.get() {
            c.changed();
        }
    }
}

/// Removes a session's endpoints as soon as it ends (before the bind handler hears of it).
pub fn watch_session(routes: Arc<crate::state::TunnelRoutes>, session: AgentSession) {
    tokio::spawn(async move {
        session.closed().await;
        routes.remove_session(session.id());
    });
}
