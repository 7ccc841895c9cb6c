//! `terminate-tls`: in `on_tcp_connect` of a `tls://` endpoint, the edge terminates the
//! client's TLS (with this certificate, or its own for the name; these versions; these client
//! certificate checks) and sends the decrypted bytes on. The engine has no TLS: the action
//! records the options on the connection ([`TcpCx::terminate_tls`]) and the listener does the
//! handshake when the phase is over. PEMs are checked at load (or, written with `${…}`, when
//! they are rendered), so a certificate that cannot be used is an error, never a fallback.
//!
//! `https://` endpoints terminate TLS anyway (as ngrok documents): there the options shape the
//! https listener's own handshake, which runs when the action does (the listener reads the
//! ClientHello's SNI and runs the endpoint's `on_tcp_connect` before handshaking).
//!
//! When the listener offers its handshake, the action handshakes right away, so the rules
//! after it see `conn.tls.*` (with `conn.tls.client.*`), and it sets
//! `actions.ngrok.terminate_tls` (`cipher_suite`, `sni`, `version`, `warnings`, `client`).

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::to_text;
use sluice_policy::values::terminate_tls_result;
use sluice_policy::{
    Action, ActionError, BuildCx, ClientAuth, Code, Flow, PemKeyPair, Phase, PhaseCx, Protocol,
    TcpCx, Termination, TlsTermination, TlsVersion, TypedAction,
};
use sluice_tls::server::{authorities, certified_key};

/// Config of `terminate-tls` (ngrok's keys).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminateTlsConfig {
    /// Certificate chain (PEM, leaf first); `${…}` allowed. Given together with
    /// `server_private_key`; without both, the edge's own certificate for the name is used.
    pub server_certificate: Option<String>,
    /// Private key of `server_certificate` (PEM); `${…}` allowed.
    pub server_private_key: Option<String>,
    /// Lowest TLS version accepted: `1.2` (default) or `1.3` (`1.0`/`1.1` are not supported).
    pub min_version: Option<VersionText>,
    /// Highest TLS version accepted: `1.2` or `1.3` (default).
    pub max_version: Option<VersionText>,
    /// Certificate authorities (PEM) client certificates must chain to; `${…}` allowed.
    #[serde(default)]
    pub mutual_tls_certificate_authorities: Vec<String>,
    /// `require-and-verify` (default with authorities), `verify-if-given`, `require-any` or
    /// `request`.
    pub mutual_tls_verification_strategy: Option<String>,
}

/// A TLS version as written: `"1.3"` or an unquoted YAML number `1.3`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VersionText {
    /// Quoted.
    Text(String),
    /// Unquoted (YAML reads `1.3` as a number).
    Number(f64),
}

impl VersionText {
    fn text(&self) -> String {
        match self {
            VersionText::Text(s) => s.trim().to_string(),
            VersionText::Number(n) => format!("{n:?}"),
        }
    }
}

/// A PEM field: checked at load, or rendered per connection.
enum Pem {
    Static(String),
    Dynamic(Template),
}

/// The built action.
pub struct TerminateTls {
    /// The options when nothing is interpolated (shared by every connection).
    fixed: Option<Arc<TlsTermination>>,
    certificate: Option<(Pem, Pem)>,
    cas: Vec<Pem>,
    min_version: TlsVersion,
    max_version: TlsVersion,
    client_auth: ClientAuth,
}

fn parse_version(cx: &mut BuildCx<'_>, field: &str, v: &VersionText) -> Option<TlsVersion> {
    match v.text().as_str() {
        "1.2" => Some(TlsVersion::V1_2),
        "1.3" => Some(TlsVersion::V1_3),
        "1.0" | "1" | "1.1" => {
            cx.error_at(
                Code::InvalidValue,
                field,
                format!(
                    "{field} {} is not supported: sluice's TLS (rustls) speaks TLS 1.2 and 1.3 only",
                    v.text()
                ),
            );
            None
        }
        other => {
            cx.error_at(
                Code::InvalidValue,
                field,
                format!("{field} must be one of 1.0, 1.1, 1.2, 1.3, not {other:?}"),
            );
            None
        }
    }
}

fn parse_strategy(cx: &mut BuildCx<'_>, text: &str) -> Option<ClientAuth> {
    match text {
        "require-and-verify" => Some(ClientAuth::RequireAndVerify),
        "verify-if-given" => Some(ClientAuth::VerifyIfGiven),
        "require-any" => Some(ClientAuth::RequireAny),
        "request" => Some(ClientAuth::Request),
        other => {
            cx.error_at(
                Code::InvalidValue,
                "mutual_tls_verification_strategy",
                format!(
                    "mutual_tls_verification_strategy must be require-and-verify, verify-if-given, \
                     require-any or request, not {other:?}"
                ),
            );
            None
        }
    }
}

/// Compiles a PEM field, checking it with `check` when it is static.
fn pem_field(
    cx: &mut BuildCx<'_>,
    rel: &str,
    text: &str,
    check: impl FnOnce(&str) -> Result<(), String>,
) -> Option<Pem> {
    let t = cx.template(rel, text)?;
    match t.as_static() {
        None => Some(Pem::Dynamic(t)),
        Some(s) => match check(s) {
            Ok(()) => Some(Pem::Static(s.to_string())),
            Err(e) => {
                cx.error_at(Code::InvalidValue, rel, format!("{rel}: {e}"));
                None
            }
        },
    }
}

fn render(pem: &Pem, rel: &str, cx: &dyn PhaseCx) -> Result<String, ActionError> {
    match pem {
        Pem::Static(s) => Ok(s.clone()),
        Pem::Dynamic(t) => t
            .render_value(cx.scope())
            .map(|v| to_text(&v))
            .map_err(|e| ActionError::interpolation(TerminateTls::TYPE, rel, e)),
    }
}

impl TerminateTls {
    /// The options for one connection (rendering and checking interpolated PEMs).
    fn options(&self, cx: &dyn PhaseCx) -> Result<Arc<TlsTermination>, ActionError> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let bad = |rel: &str, e: String| ActionError::interpolation(Self::TYPE, rel, e);
        let certificate = match &self.certificate {
            None => None,
            Some((cert, key)) => {
                let certificate_pem = render(cert, "server_certificate", cx)?;
                let private_key_pem = render(key, "server_private_key", cx)?;
                certified_key(certificate_pem.as_bytes(), private_key_pem.as_bytes())
                    .map_err(|e| bad("server_certificate", e.to_string()))?;
                Some(PemKeyPair {
                    certificate_pem,
                    private_key_pem,
                })
            }
        };
        let mut client_cas = Vec::with_capacity(self.cas.len());
        for (i, pem) in self.cas.iter().enumerate() {
            let rel = format!("mutual_tls_certificate_authorities[{i}]");
            let text = render(pem, &rel, cx)?;
            authorities(&[&text]).map_err(|e| bad(&rel, e.to_string()))?;
            client_cas.push(text);
        }
        Ok(Arc::new(TlsTermination {
            certificate,
            min_version: self.min_version,
            max_version: self.max_version,
            client_cas,
            client_auth: self.client_auth,
        }))
    }
}

#[async_trait]
impl Action for TerminateTls {
    async fn on_tcp_connect(&self, cx: &mut TcpCx<'_>) -> Result<Flow, ActionError> {
        match cx.endpoint().protocol {
            Protocol::Tls | Protocol::Https => {
                let options = self.options(cx)?;
                let facts = cx
                    .terminate_tls(options)
                    .await
                    .map(|tls| tls.cloned())
                    .map_err(|e| ActionError::internal(format!("TLS handshake: {e}")))?;
                // In the harness nothing handshakes: the result repeats the facts the
                // connection came with.
                if let Some(tls) = facts.or_else(|| cx.conn().tls.clone()) {
                    cx.set_result(Self::TYPE_RESULT, terminate_tls_result(&tls));
                }
                Ok(Flow::Continue)
            }
            Protocol::Http | Protocol::Tcp => Err(ActionError::internal(format!(
                "terminate-tls runs on tls:// and https:// endpoints only, not {}",
                cx.endpoint().url
            ))),
        }
    }
}

impl TerminateTls {
    /// The name of its result variable: `actions.ngrok.terminate_tls`.
    const TYPE_RESULT: &'static str = "terminate_tls";
}

impl TypedAction for TerminateTls {
    type Config = TerminateTlsConfig;
    const TYPE: &'static str = "terminate-tls";
    const PHASES: &'static [Phase] = &[Phase::TcpConnect];
    const TERMINATION: Termination = Termination::Never;
    const CONFIG_OPTIONAL: bool = true;
    const ABOUT: &'static str = "Terminates the client's TLS at the edge with these options (tls:// and https:// endpoints).";

    fn build(config: TerminateTlsConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let min_version = match &config.min_version {
            None => Some(TlsVersion::V1_2),
            Some(v) => parse_version(cx, "min_version", v),
        };
        let max_version = match &config.max_version {
            None => Some(TlsVersion::V1_3),
            Some(v) => parse_version(cx, "max_version", v),
        };
        if let (Some(min), Some(max)) = (min_version, max_version)
            && min > max
        {
            cx.error_at(
                Code::InvalidValue,
                "min_version",
                "min_version is above max_version",
            );
        }
        let certificate = match (&config.server_certificate, &config.server_private_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let (c, k) = (cert.clone(), key.clone());
                let cert_pem = pem_field(cx, "server_certificate", cert, |_| Ok(()));
                let key_pem = pem_field(cx, "server_private_key", key, |_| Ok(()));
                if let (Some(Pem::Static(_)), Some(Pem::Static(_))) = (&cert_pem, &key_pem)
                    && let Err(e) = certified_key(c.as_bytes(), k.as_bytes())
                {
                    cx.error_at(
                        Code::InvalidValue,
                        "server_certificate",
                        format!("server_certificate/server_private_key: {e}"),
                    );
                }
                cert_pem.zip(key_pem)
            }
            (Some(_), None) | (None, Some(_)) => {
                cx.error_at(
                    Code::InvalidValue,
                    "server_certificate",
                    "server_certificate and server_private_key must be given together",
                );
                None
            }
        };
        let mut cas = Vec::new();
        for (i, pem) in config.mutual_tls_certificate_authorities.iter().enumerate() {
            let rel = format!("mutual_tls_certificate_authorities[{i}]");
            if let Some(p) = pem_field(cx, &rel, pem, |s| {
                authorities(&[s]).map(|_| ()).map_err(|e| e.to_string())
            }) {
                cas.push(p);
            }
        }
        let has_cas = !config.mutual_tls_certificate_authorities.is_empty();
        let client_auth = match config.mutual_tls_verification_strategy.as_deref() {
            None if has_cas => Some(ClientAuth::RequireAndVerify),
            None => Some(ClientAuth::None),
            Some(s) => parse_strategy(cx, s),
        };
        match client_auth {
            Some(ClientAuth::RequireAndVerify | ClientAuth::VerifyIfGiven) if !has_cas => {
                cx.error_at(
                    Code::InvalidValue,
                    "mutual_tls_verification_strategy",
                    "this strategy verifies client certificates: \
                     mutual_tls_certificate_authorities must name at least one authority",
                );
            }
            Some(ClientAuth::RequireAny | ClientAuth::Request) if has_cas => {
                cx.error_at(
                    Code::InvalidValue,
                    "mutual_tls_certificate_authorities",
                    "the strategy accepts any client certificate, so these authorities would \
                     not be checked: use require-and-verify or verify-if-given",
                );
            }
            _ => {}
        }
        if cx.failed() {
            return None;
        }
        let (min_version, max_version, client_auth) = (min_version?, max_version?, client_auth?);
        let is_static = |p: &Pem| matches!(p, Pem::Static(_));
        let all_static = certificate
            .as_ref()
            .is_none_or(|(c, k)| is_static(c) && is_static(k))
            && cas.iter().all(is_static);
        let text = |p: &Pem| match p {
            Pem::Static(s) => s.clone(),
            Pem::Dynamic(t) => t.source().to_string(),
        };
        let fixed = all_static.then(|| {
            Arc::new(TlsTermination {
                certificate: certificate.as_ref().map(|(c, k)| PemKeyPair {
                    certificate_pem: text(c),
                    private_key_pem: text(k),
                }),
                min_version,
                max_version,
                client_cas: cas.iter().map(text).collect(),
                client_auth,
            })
        });
        Some(TerminateTls {
            fixed,
            certificate,
            cas,
            min_version,
            max_version,
            client_auth,
        })
    }
}
