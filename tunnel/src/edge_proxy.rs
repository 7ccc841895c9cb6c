//! Reaching the edge through a corporate proxy, as ngrok's agent does with `proxy_url` (v2 also
//! `http_proxy` / `socks5_proxy`) or the environment: an HTTP proxy tunnels the connection with
//! `CONNECT` (basic credentials from the URL's `user:pass@`), a SOCKS5 proxy with its
//! user/password method. TLS to the edge then runs inside the tunnel, unchanged.
//!
//! SOCKS5 is `tokio-socks`; the environment's rules (`NO_PROXY` as curl reads it) are
//! hyper-util's proxy matcher. The `CONNECT` exchange is written here (one request, one
//! response head) because hyper-util's `Tunnel` keeps its error type private and drops the
//! proxy's status line, so a proxy refusing the credentials (which retrying cannot fix) could
//! not be told from one that is down (which retrying can), nor said clearly.

use std::time::Duration;

use hyper_util::client::proxy::matcher::Matcher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Result, TunnelError};

/// The largest proxy response head read before giving up on it.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The environment variables read for the edge connection, in order: the first one set wins.
/// `http_proxy` is there because ngrok's agent documents it for its (TLS) edge connection.
pub const PROXY_ENV: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// How the proxy is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// HTTP `CONNECT`, with this `Proxy-Authorization` value if the URL had credentials.
    Connect { authorization: Option<String> },
    /// SOCKS5; `remote_dns` (`socks5h://`) lets the proxy resolve the edge's name.
    Socks5 {
        credentials: Option<(String, String)>,
        remote_dns: bool,
    },
}

/// A proxy the agent dials the edge through. Its `Debug` and [`Display`](std::fmt::Display)
/// leave the credentials out.
#[derive(Clone, PartialEq, Eq)]
pub struct EdgeProxy {
    /// `host:port` of the proxy.
    addr: String,
    /// The URL as shown to users (no credentials).
    shown: String,
    kind: Kind,
}

impl std::fmt::Debug for EdgeProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeProxy")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for EdgeProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

fn invalid(url: &str, why: &str) -> TunnelError {
    TunnelError::Proxy {
        message: format!("proxy URL `{}`: {why}", redact(url)),
        fatal: true,
    }
}

/// `url` with any `user:pass@` replaced by `***@`.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    match scheme {
        "" => format!("{authority}{tail}"),
        s => format!("{s}://{authority}{tail}"),
    }
}

impl EdgeProxy {
    /// A proxy from its URL: `http://[user:pass@]host:port` (CONNECT),
    /// `socks5://[user:pass@]host:port` (the agent resolves the edge's name) or `socks5h://…`
    /// (the proxy does). A URL without a scheme is an HTTP proxy, as curl reads it.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        let with_scheme = match url.contains("://") {
            true => url.to_owned(),
            false => format!("http://{url}"),
        };
        let scheme = with_scheme
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(scheme.as_str(), "http" | "socks5" | "socks5h") {
            let why = match scheme.as_str() {
                "https" => "TLS to the proxy itself is not supported; use http:// (the edge \
                            connection inside the tunnel is TLS either way)"
                    .to_owned(),
                other => format!("scheme `{other}` is not http, socks5 or socks5h"),
            };
            return Err(invalid(url, &why));
        }
        // The matcher parses the authority and decodes the credentials; with only `all` set
        // and no exceptions it always answers for an https destination.
        let matcher = Matcher::builder().all(with_scheme.clone()).build();
        let probe = http::Uri::from_static("https://edge.invalid/");
        let intercept = matcher
            .intercept(&probe)
            .ok_or_else(|| invalid(url, "not a URL like http://proxy.example.com:3128"))?;
        let uri = intercept.uri();
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid(url, "no host"))?;
        let default_port = if scheme == "http" { 80 } else { 1080 };
        let port = uri.port_u16().unwrap_or(default_port);
        let addr = match host.contains(':') && !host.starts_with('[') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        };
        let kind = match scheme.as_str() {
            "http" => Kind::Connect {
                authorization: intercept
                    .basic_auth()
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            },
            s => Kind::Socks5 {
                credentials: intercept
                    .raw_auth()
                    .map(|(u, p)| (u.to_owned(), p.to_owned())),
                remote_dns: s == "socks5h",
            },
        };
        Ok(EdgeProxy {
            shown: format!("{scheme}://{addr}"),
            addr,
            kind,
        })
    }

    /// The proxy the environment names for a connection to `edge_host`: the first of
    /// [`PROXY_ENV`] that is set, unless `NO_PROXY`/`no_proxy` exempts the host (curl's rules:
    /// `*`, names and their subdomains, IPs and CIDRs). `Err` names the variable holding a URL
    /// that is not one.
    pub fn from_env(edge_host: &str) -> Result<Option<Self>> {
        let Some((var, url)) = PROXY_ENV.iter().find_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*var, v))
        }) else {
            return Ok(None);
        };
        let no_proxy = ["NO_PROXY", "no_proxy"]
            .iter()
            .find_map(|v| std::env::var(v).ok())
            .unwrap_or_default();
        let proxy = Self::parse(&url).map_err(|e| TunnelError::Proxy {
            message: format!("{var}: {e}"),
            fatal: true,
        })?;
        let host = edge_host.trim_start_matches('[').trim_end_matches(']');
        let exempt = http::Uri::try_from(format!("https://{}/", bracket(host)))
            .ok()
            .is_some_and(|dst| {
                Matcher::builder()
                    .all(url.clone())
                    .no(no_proxy)
                    .build()
                    .intercept(&dst)
                    .is_none()
            });
        Ok((!exempt).then_some(proxy))
    }

    /// A TCP connection to `host:port` through the proxy, tunnel established, within `timeout`.
    /// A proxy that refuses (credentials, policy) is a fatal [`TunnelError::Proxy`]; one that
    /// cannot be reached, or cannot reach the edge, is retryable.
    pub async fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
        let dial = async {
            match &self.kind {
                Kind::Connect { authorization } => {
                    let mut tcp = self.reach().await?;
                    connect_handshake(&mut tcp, host, port, authorization.as_deref())
                        .await
                        .map_err(|(message, fatal)| self.failed(message, fatal))?;
                    Ok(tcp)
                }
                Kind::Socks5 {
                    credentials,
                    remote_dns,
                } => {
                    self.socks5(host, port, credentials.as_ref(), *remote_dns)
                        .await
                }
            }
        };
        tokio::time::timeout(timeout, dial)
            .await
            .map_err(|_| self.failed("no answer in time".into(), false))?
    }

    fn failed(&self, why: String, fatal: bool) -> TunnelError {
        TunnelError::Proxy {
            message: format!("proxy {}: {why}", self.shown),
            fatal,
        }
    }

    async fn reach(&self) -> Result<TcpStream> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| self.failed(format!("cannot reach the proxy: {e}"), false))?;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }

    async fn socks5(
        &self,
        host: &str,
        port: u16,
        credentials: Option<&(String, String)>,
        remote_dns: bool,
    ) -> Result<TcpStream> {
        use tokio_socks::tcp::Socks5Stream;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let target = match (host.parse::<std::net::IpAddr>(), remote_dns) {
            (Ok(ip), _) => tokio_socks::TargetAddr::Ip((ip, port).into()),
            (Err(_), true) => tokio_socks::TargetAddr::Domain(host.into(), port),
            (Err(_), false) => {
                let addr = tokio::net::lookup_host((host, port))
                    .await?
                    .next()
                    .ok_or_else(|| self.failed(format!("{host} has no address"), false))?;
                tokio_socks::TargetAddr::Ip(addr)
            }
        };
        let tcp = self.reach().await?;
        let stream = match credentials {
            Some((user, pass)) => {
                Socks5Stream::connect_with_password_and_socket(tcp, target, user, pass).await
            }
            None => Socks5Stream::connect_with_socket(tcp, target).await,
        };
        stream
            .map(Socks5Stream::into_inner)
            .map_err(|e| self.socks_error(e))
    }

    fn socks_error(&self, e: tokio_socks::Error) -> TunnelError {
        use tokio_socks::Error as E;
        let fatal = matches!(
            e,
            E::PasswordAuthFailure(_)
                | E::NoAcceptableAuthMethods
                | E::InvalidAuthValues(_)
                | E::ConnectionNotAllowedByRuleset
        );
        let why = match &e {
            E::PasswordAuthFailure(_) => "the SOCKS5 proxy refused the user name and password \
                                          (check the proxy URL's user:pass@)"
                .to_owned(),
            E::NoAcceptableAuthMethods => {
                "the SOCKS5 proxy accepts none of the offered authentication methods (it may \
                 need a user:pass@ in the proxy URL)"
                    .to_owned()
            }
            other => format!("SOCKS5: {other}"),
        };
        self.failed(why, fatal)
    }
}

fn bracket(host: &str) -> String {
    match host.contains(':') {
        true => format!("[{host}]"),
        false => host.to_owned(),
    }
}

/// Sends `CONNECT host:port` and reads the proxy's answer head. `Err((why, fatal))`.
async fn connect_handshake(
    tcp: &mut TcpStream,
    host: &str,
    port: u16,
    authorization: Option<&str>,
) -> std::result::Result<(), (String, bool)> {
    let target = format!("{}:{port}", bracket(host.trim_matches(['[', ']'])));
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = authorization {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let io = |e: std::io::Error| (format!("CONNECT failed: {e}"), false);
    tcp.write_all(request.as_bytes()).await.map_err(io)?;
    // Read byte-sized chunks up to the end of the head: nothing after it may be consumed, as
    // the edge's TLS follows.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_RESPONSE_HEAD {
            return Err(("the proxy's answer to CONNECT is too long".into(), false));
        }
        match tcp.read(&mut byte).await.map_err(io)? {
            0 => {
                return Err((
                    "the proxy closed the connection during CONNECT".into(),
                    false,
                ));
            }
            _ => head.push(byte[0]),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    if response.parse(&head).is_err() {
        return Err(("the proxy's answer to CONNECT is not HTTP".into(), false));
    }
    let code = response.code.unwrap_or(0);
    let reason = response.reason.unwrap_or("");
    match code {
        200..=299 => Ok(()),
        // 407 is the standard answer; some proxies (tinyproxy) answer 401.
        401 | 407 => Err((
            format!(
                "the proxy needs credentials it did not accept ({code} {reason}); put \
                 user:pass@ in the proxy URL"
            ),
            true,
        )),
        // The proxy refuses this destination or port by policy: retrying cannot help.
        403 | 405 => Err((
            format!("the proxy refused to CONNECT to {target} ({code} {reason})"),
            true,
        )),
        _ => Err((
            format!("the proxy could not CONNECT to {target} ({code} {reason})"),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_and_credentials() -> Result<()> {
        let p = EdgeProxy::parse("http://al%40x:open%20sesame@proxy.corp:3128")?;
        assert_eq!(p.addr, "proxy.corp:3128");
        assert_eq!(p.to_string(), "http://proxy.corp:3128");
        assert_eq!(
            p.kind,
            Kind::Connect {
                authorization: Some("Basic YWxAeDpvcGVuIHNlc2FtZQ==".into())
            }
        );
        let p = EdgeProxy::parse("proxy.corp")?;
        assert_eq!(p.addr, "proxy.corp:80");
        let p = EdgeProxy::parse("socks5h://u:p@127.0.0.1:1080")?;
        assert_eq!(
            p.kind,
            Kind::Socks5 {
                credentials: Some(("u".into(), "p".into())),
                remote_dns: true
            }
        );
        let p = EdgeProxy::parse("socks5://[::1]")?;
        assert_eq!(p.addr, "[::1]:1080");
        for bad in ["https://p:443", "ftp://p", "http://", "socks4://p:1"] {
            let e = EdgeProxy::parse(bad).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains("proxy URL")),
                "{bad}: {e:?}"
            );
        }
        let e = EdgeProxy::parse("https://u:secret@p")
            .err()
            .map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| !e.contains("secret")), "{e:?}");
        assert!(!format!("{p:?}").contains("u:p"));
        Ok(())
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact("http://u:p@h:1/x"), "http://***@h:1/x");
        assert_eq!(redact("h:1"), "h:1");
    }
}
