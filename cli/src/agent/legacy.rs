//! ngrok's deprecated `http|tcp|tls` shortcuts. They still work, hidden from `--help`: each is
//! turned into Traffic Policy (via [`LegacyOptions`]) or a URL, with a one-line warning naming
//! the policy equivalent.

use clap::Args;
use sluice_agent::HostHeader;
use sluice_agent::config::legacy::legacy_url;
use sluice_agent::config::{self, LegacyLogin, LegacyOptions};

/// The deprecated flags.
#[derive(Debug, Clone, Default, Args)]
pub struct LegacyArgs {
    /// Deprecated: `user:password` credentials (policy: basic-auth).
    #[arg(long, hide = true)]
    basic_auth: Vec<String>,
    /// Deprecated, ngrok v2's spelling of --basic-auth (policy: basic-auth).
    #[arg(long, hide = true)]
    auth: Vec<String>,
    /// ngrok's region; a sluice agent has none (it connects to --connect-url or the embedded
    /// edge), so it only prints why it has no effect.
    #[arg(long, hide = true)]
    region: Option<String>,
    /// Deprecated: CIDRs allowed (policy: restrict-ips).
    #[arg(long, hide = true)]
    cidr_allow: Vec<String>,
    /// Deprecated: CIDRs denied (policy: restrict-ips).
    #[arg(long, hide = true)]
    cidr_deny: Vec<String>,
    /// Deprecated: `Name: value` request headers to add (policy: add-headers).
    #[arg(long, hide = true)]
    request_header_add: Vec<String>,
    /// Deprecated: request headers to remove (policy: remove-headers).
    #[arg(long, hide = true)]
    request_header_remove: Vec<String>,
    /// Deprecated: `Name: value` response headers to add (policy: add-headers).
    #[arg(long, hide = true)]
    response_header_add: Vec<String>,
    /// Deprecated: response headers to remove (policy: remove-headers).
    #[arg(long, hide = true)]
    response_header_remove: Vec<String>,
    /// Deprecated: `rewrite`, `preserve` or a host (policy: add-headers `host`).
    #[arg(long, hide = true)]
    host_header: Option<String>,
    /// Deprecated: gzip responses (policy: compress-response).
    #[arg(long, hide = true)]
    compression: bool,
    /// Deprecated: 5xx ratio that opens the circuit breaker (policy: circuit-breaker).
    #[arg(long, hide = true)]
    circuit_breaker: Option<f64>,
    /// Deprecated: user agents allowed, RE2 (policy: deny on req.user_agent).
    #[arg(long, hide = true)]
    ua_filter_allow: Vec<String>,
    /// Deprecated: user agents denied, RE2 (policy: deny on req.user_agent).
    #[arg(long, hide = true)]
    ua_filter_deny: Vec<String>,
    /// Deprecated: the domain to bind (use --url).
    #[arg(long, hide = true, alias = "hostname")]
    domain: Option<String>,
    /// ngrok's subdomain: the endpoint is named NAME under the edge's base domain.
    #[arg(long, hide = true)]
    subdomain: Option<String>,
    /// Deprecated: `http`, `https` or both, comma-separated (use --url).
    #[arg(long, hide = true)]
    scheme: Option<String>,
    /// Deprecated, ngrok v2: `true` (HTTPS), `false` (HTTP) or `both` (use --url).
    #[arg(long, hide = true)]
    bind_tls: Option<String>,
    /// Deprecated (tcp): the address to bind (use --url tcp://host:port).
    #[arg(long, hide = true)]
    remote_addr: Option<String>,
    /// Deprecated: OAuth provider to log in with, e.g. `github` (policy: oauth).
    #[arg(long, hide = true)]
    oauth: Option<String>,
    /// Deprecated: the OAuth app's client id (policy: oauth client_id).
    #[arg(long, hide = true)]
    oauth_client_id: Option<String>,
    /// Deprecated: the OAuth app's client secret (policy: oauth client_secret).
    #[arg(long, hide = true)]
    oauth_client_secret: Option<String>,
    /// Deprecated: OAuth scopes (policy: oauth scopes).
    #[arg(long, hide = true)]
    oauth_scope: Vec<String>,
    /// Deprecated: email addresses allowed after --oauth/--oidc (policy: custom-response 403).
    #[arg(long, hide = true, alias = "oidc-allow-email")]
    oauth_allow_email: Vec<String>,
    /// Deprecated: email domains allowed after --oauth/--oidc (policy: custom-response 403).
    #[arg(long, hide = true, alias = "oidc-allow-domain")]
    oauth_allow_domain: Vec<String>,
    /// Deprecated: OpenID Connect issuer URL to log in with (policy: openid-connect).
    #[arg(long, hide = true)]
    oidc: Option<String>,
    /// Deprecated: the OIDC app's client id (policy: openid-connect client_id).
    #[arg(long, hide = true)]
    oidc_client_id: Option<String>,
    /// Deprecated: the OIDC app's client secret (policy: openid-connect client_secret).
    #[arg(long, hide = true)]
    oidc_client_secret: Option<String>,
    /// Deprecated: OIDC scopes (policy: openid-connect scopes).
    #[arg(long, hide = true)]
    oidc_scope: Vec<String>,
}

/// What the deprecated flags amount to.
#[derive(Debug, Default)]
pub struct Legacy {
    /// The options that become policy.
    pub options: LegacyOptions,
    /// The URL named by `--domain`/`--scheme`/`--remote-addr`, if any.
    pub url: Option<String>,
    /// Serve the name under plain HTTP too (`--scheme http,https`, `--bind-tls both`).
    pub also_http: bool,
    /// The subdomain `--subdomain` asks for (checked).
    pub subdomain: Option<String>,
    /// What `--host-header` asks of the forwarder.
    pub host_header: HostHeader,
    /// One warning per deprecated flag used.
    pub warnings: Vec<String>,
}

fn warn(out: &mut Vec<String>, used: bool, flag: &str, instead: &str) {
    if used {
        out.push(format!(
            "warning: {flag} is deprecated; applied as a traffic policy: {instead}"
        ));
    }
}

/// The scheme `--scheme` (a comma-separated list) or `--bind-tls` ask for, and whether plain
/// HTTP is wanted beside HTTPS (then the name is bound under both, HTTPS first).
fn legacy_scheme(
    scheme: Option<&str>,
    bind_tls: Option<&str>,
) -> Result<(Option<&'static str>, bool), String> {
    match (scheme, bind_tls) {
        (Some(_), Some(_)) => Err("give --scheme or --bind-tls, not both".into()),
        (Some(s), None) => {
            let list: Vec<&str> = s.split(',').collect();
            config::schemes(&list).map_err(|e| format!("--scheme: {e}"))
        }
        (None, Some(b)) => {
            let value = serde_json::Value::String(b.to_owned());
            config::bind_tls_scheme(Some(&value))
                .map_err(|_| format!("--bind-tls must be true, false or both, not `{b}`"))
        }
        (None, None) => Ok((None, false)),
    }
}

impl LegacyArgs {
    /// The login `--oauth` or `--oidc` ask for, with their companion flags.
    fn login(&self) -> Result<Option<LegacyLogin>, String> {
        let oauth_extras = self.oauth_client_id.is_some()
            || self.oauth_client_secret.is_some()
            || !self.oauth_scope.is_empty();
        let oidc_extras = self.oidc_client_id.is_some()
            || self.oidc_client_secret.is_some()
            || !self.oidc_scope.is_empty();
        let allow = !self.oauth_allow_email.is_empty() || !self.oauth_allow_domain.is_empty();
        let login = match (&self.oauth, &self.oidc) {
            (Some(_), Some(_)) => return Err("give --oauth or --oidc, not both".into()),
            (Some(provider), None) if !oidc_extras => LegacyLogin {
                provider: provider.clone(),
                client_id: self.oauth_client_id.clone(),
                client_secret: self.oauth_client_secret.clone(),
                scopes: self.oauth_scope.clone(),
                ..LegacyLogin::default()
            },
            (None, Some(issuer)) if !oauth_extras => LegacyLogin {
                issuer: issuer.clone(),
                client_id: self.oidc_client_id.clone(),
                client_secret: self.oidc_client_secret.clone(),
                scopes: self.oidc_scope.clone(),
                ..LegacyLogin::default()
            },
            (Some(_), None) => return Err("--oidc-* flags need --oidc, not --oauth".into()),
            (None, Some(_)) => return Err("--oauth-* flags need --oauth, not --oidc".into()),
            (None, None) if oauth_extras || allow => {
                return Err("--oauth-* flags need --oauth PROVIDER".into());
            }
            (None, None) if oidc_extras => return Err("--oidc-* flags need --oidc ISSUER".into()),
            (None, None) => return Ok(None),
        };
        Ok(Some(LegacyLogin {
            allow_emails: self.oauth_allow_email.clone(),
            allow_domains: self.oauth_allow_domain.clone(),
            ..login
        }))
    }

    /// Translates the flags, collecting a warning for each one used; an error for a value no
    /// flag accepts.
    pub fn translate(&self) -> Result<Legacy, String> {
        let mut w = Vec::new();
        warn(
            &mut w,
            !self.basic_auth.is_empty(),
            "--basic-auth",
            "on_http_request: basic-auth {credentials: [...]}",
        );
        warn(
            &mut w,
            !self.auth.is_empty(),
            "--auth",
            "on_http_request: basic-auth {credentials: [...]}",
        );
        if let Some(region) = &self.region {
            w.push(format!(
                "warning: --region {region} has no effect: sluice has no regions; the agent connects to the edge named by --connect-url (or the one embedded in it)"
            ));
        }
        warn(
            &mut w,
            !self.cidr_allow.is_empty(),
            "--cidr-allow",
            "on_tcp_connect: restrict-ips {allow: [...]}",
        );
        warn(
            &mut w,
            !self.cidr_deny.is_empty(),
            "--cidr-deny",
            "on_tcp_connect: restrict-ips {deny: [...]}",
        );
        warn(
            &mut w,
            !self.request_header_add.is_empty(),
            "--request-header-add",
            "on_http_request: add-headers {headers: {...}}",
        );
        warn(
            &mut w,
            !self.request_header_remove.is_empty(),
            "--request-header-remove",
            "on_http_request: remove-headers {headers: [...]}",
        );
        warn(
            &mut w,
            !self.response_header_add.is_empty(),
            "--response-header-add",
            "on_http_response: add-headers {headers: {...}}",
        );
        warn(
            &mut w,
            !self.response_header_remove.is_empty(),
            "--response-header-remove",
            "on_http_response: remove-headers {headers: [...]}",
        );
        if self.host_header.is_some() {
            w.push(
                "warning: --host-header is deprecated; the agent applies it (and turns redirects to the rewritten host back into the public URL)"
                    .into(),
            );
        }
        warn(
            &mut w,
            self.compression,
            "--compression",
            "on_http_response: compress-response",
        );
        warn(
            &mut w,
            self.circuit_breaker.is_some(),
            "--circuit-breaker",
            "on_http_request: circuit-breaker {error_threshold: ...}",
        );
        warn(
            &mut w,
            !self.ua_filter_allow.is_empty() || !self.ua_filter_deny.is_empty(),
            "--ua-filter-allow/--ua-filter-deny",
            "on_http_request: deny when req.user_agent.matches(...)",
        );
        let login = self.login()?;
        warn(
            &mut w,
            self.oauth.is_some(),
            "--oauth",
            "on_http_request: oauth {provider: ..., client_id: ..., client_secret: ...}",
        );
        warn(
            &mut w,
            self.oidc.is_some(),
            "--oidc",
            "on_http_request: openid-connect {issuer_url: ..., client_id: ..., client_secret: ...}",
        );
        for (used, flag) in [
            (self.domain.is_some(), "--domain"),
            (self.scheme.is_some(), "--scheme"),
            (self.bind_tls.is_some(), "--bind-tls"),
            (self.remote_addr.is_some(), "--remote-addr"),
        ] {
            if used {
                w.push(format!("warning: {flag} is deprecated; use --url instead"));
            }
        }
        let (scheme, also_http) = legacy_scheme(self.scheme.as_deref(), self.bind_tls.as_deref())?;
        let url = match &self.remote_addr {
            Some(addr) => Some(format!("tcp://{addr}")),
            None => legacy_url(self.domain.as_deref(), scheme),
        };
        let subdomain = match (&self.subdomain, &self.domain) {
            (Some(_), Some(_)) => return Err("give --subdomain or --domain, not both".into()),
            (Some(s), None) => {
                Some(config::check_subdomain(s).map_err(|e| format!("--subdomain: {e}"))?)
            }
            (None, _) => None,
        };
        Ok(Legacy {
            options: LegacyOptions {
                basic_auth: self.basic_auth.iter().chain(&self.auth).cloned().collect(),
                cidr_allow: self.cidr_allow.clone(),
                cidr_deny: self.cidr_deny.clone(),
                request_header_add: self.request_header_add.clone(),
                request_header_remove: self.request_header_remove.clone(),
                response_header_add: self.response_header_add.clone(),
                response_header_remove: self.response_header_remove.clone(),
                circuit_breaker: self.circuit_breaker,
                compression: self.compression,
                ua_allow: self.ua_filter_allow.clone(),
                ua_deny: self.ua_filter_deny.clone(),
                verify_webhook: None,
                login,
            },
            url,
            also_http,
            subdomain,
            host_header: HostHeader::parse(self.host_header.as_deref().unwrap_or_default()),
            warnings: w,
        })
    }
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
