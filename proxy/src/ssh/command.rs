//! The command after the host in `ssh -R … edge COMMAND`: `http`, `tcp` or `tls` and the
//! agent's endpoint flags (`--url`, `--basic-auth`, `--traffic-policy` with the policy inline,
//! `--traffic-policy-file` with the policy sent over the session's standard input,
//! `--pooling-enabled`, `--schemes`), turned with the `-R` forward into the same
//! [`BindRequest`] an agent sends.

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use sluice_tunnel::{BindRequest, Protocol};

/// One `ssh -R [address:]port:…` forward as the client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteForward {
    /// The bind address: a name to publish (`app.example.com`, `*.example.com`) or a
    /// loopback/any address meaning "none".
    pub address: String,
    /// The port: 80 asks for http, 443 (or anything else) https; the public port for tcp.
    pub port: u32,
}

impl RemoteForward {
    /// The name it asks for, if the address is one (not `localhost`, `*`, an any-address…).
    fn name(&self) -> Option<&str> {
        let a = self.address.trim();
        let none = ["", "localhost", "*", "0.0.0.0", "::", "127.0.0.1", "::1"];
        (!none.contains(&a)).then_some(a)
    }
}

/// `ssh … edge http|tcp|tls [FLAGS]`.
#[derive(Debug, Parser)]
#[command(
    name = "ssh -R [NAME:]PORT:HOST:PORT EDGE",
    no_binary_name = true,
    disable_help_subcommand = true,
    disable_version_flag = true
)]
struct SshCommand {
    #[command(subcommand)]
    protocol: Kind,
}

#[derive(Debug, Subcommand)]
enum Kind {
    /// An HTTPS endpoint (HTTP when the forward's port is 80).
    Http(Flags),
    /// A TCP endpoint (the forward's port, or any free one for 0).
    Tcp(Flags),
    /// A TLS endpoint routed by SNI, TLS passed through to the local service.
    Tls(Flags),
}

#[derive(Debug, Args)]
struct Flags {
    /// The public URL to bind (`https://app.example.com`, `tcp://host:20001`,
    /// `tls://app.example.com`); else from the forward's address and port.
    #[arg(long)]
    url: Option<String>,
    /// `http` or `https` (http; as in ngrok's `ssh -R 80:… http --schemes http`); else the
    /// forward's port decides (80: http).
    #[arg(long, alias = "scheme")]
    schemes: Option<String>,
    /// `user:password` credentials (http; policy: basic-auth).
    #[arg(long)]
    basic_auth: Vec<String>,
    /// A Traffic Policy, YAML or JSON, inline.
    #[arg(long)]
    traffic_policy: Option<String>,
    /// A Traffic Policy file, read from the session's standard input (the file is on the
    /// client: `ssh … http --traffic-policy-file policy.yml < policy.yml`).
    #[arg(long)]
    traffic_policy_file: Option<String>,
    /// Share the URL with other agents binding it with pooling enabled.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pooling_enabled: bool,
}

/// A `basic-auth` rule, as the agent's `--basic-auth` makes it.
#[derive(Serialize)]
struct BasicAuthPolicy<'a> {
    on_http_request: [Rule<'a>; 1],
}

#[derive(Serialize)]
struct Rule<'a> {
    actions: [BasicAuth<'a>; 1],
}

#[derive(Serialize)]
struct BasicAuth<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    config: Credentials<'a>,
}

#[derive(Serialize)]
struct Credentials<'a> {
    credentials: &'a [String],
}

/// What a command asks for.
#[derive(Debug)]
pub struct Parsed {
    /// The bind, without its policy when [`policy_from_stdin`](Self::policy_from_stdin).
    pub request: BindRequest,
    /// The policy is the session's standard input (`--traffic-policy-file`), which the caller
    /// reads and puts in [`request`](Self::request) before binding.
    pub policy_from_stdin: bool,
}

/// The bind the command asks for with `forward`, or what is wrong with it (clap's usage text
/// for bad flags). A policy from `--traffic-policy-file` is left for the caller to read.
pub fn parse(command: &str, forward: &RemoteForward) -> Result<Parsed, String> {
    let words = shell_words::split(command).map_err(|e| format!("cannot read the command: {e}"))?;
    if words.is_empty() {
        return Err(usage());
    }
    let parsed = SshCommand::try_parse_from(&words).map_err(|e| e.render().to_string())?;
    let (protocol, flags) = match parsed.protocol {
        Kind::Http(f) => (http_scheme(f.schemes.as_deref(), forward.port)?, f),
        Kind::Tcp(f) | Kind::Tls(f) if f.schemes.is_some() => {
            return Err("--schemes is for http endpoints".into());
        }
        Kind::Tcp(f) => (Protocol::Tcp, f),
        Kind::Tls(f) => (Protocol::Tls, f),
    };
    let url = match &flags.url {
        Some(u) if u.contains("://") => Some(u.clone()),
        Some(u) => Some(format!("{}://{u}", scheme_of(protocol))),
        None => forward_url(protocol, forward),
    };
    let protocol = match url.as_deref().and_then(|u| u.split_once("://")) {
        Some(("http", _)) if protocol == Protocol::Https => Protocol::Http,
        Some(("https", _)) if protocol == Protocol::Http => Protocol::Https,
        _ => protocol,
    };
    if !flags.basic_auth.is_empty() && !matches!(protocol, Protocol::Http | Protocol::Https) {
        return Err("--basic-auth is for http endpoints".into());
    }
    let policy_from_stdin = flags.traffic_policy_file.is_some();
    let inline = match (flags.traffic_policy, policy_from_stdin) {
        (Some(_), true) => {
            return Err("give --traffic-policy or --traffic-policy-file, not both".into());
        }
        (inline, false) => inline,
        // Stands for the policy in the checks below; the caller puts the real one in.
        (None, true) => Some(String::new()),
    };
    let policy = match (flags.basic_auth.is_empty(), inline) {
        (true, policy) => policy,
        (false, None) => Some(basic_auth_policy(&flags.basic_auth)?),
        (false, Some(_)) => {
            return Err(
                "give --basic-auth or --traffic-policy, not both: put a basic-auth \
                        action in the policy"
                    .into(),
            );
        }
    };
    let mut request = BindRequest::new(protocol);
    if let Some(u) = url {
        request = request.with_url(u);
    }
    if let Some(p) = policy.filter(|_| !policy_from_stdin) {
        request = request.with_traffic_policy(p);
    }
    request.pooling_enabled = flags.pooling_enabled;
    request.inspect = false;
    Ok(Parsed {
        request,
        policy_from_stdin,
    })
}

/// [`parse`] for commands whose policy, if any, is inline.
pub fn bind_request(command: &str, forward: &RemoteForward) -> Result<BindRequest, String> {
    parse(command, forward).map(|p| p.request)
}

/// An http endpoint's scheme: `--schemes`, else http for a forward of port 80, else https.
fn http_scheme(schemes: Option<&str>, port: u32) -> Result<Protocol, String> {
    match schemes.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("http") => Ok(Protocol::Http),
        Some("https") => Ok(Protocol::Https),
        Some(other) => Err(format!(
            "--schemes `{other}`: give http or https (one endpoint per session)"
        )),
        None if port == 80 => Ok(Protocol::Http),
        None => Ok(Protocol::Https),
    }
}

fn basic_auth_policy(credentials: &[String]) -> Result<String, String> {
    let policy = BasicAuthPolicy {
        on_http_request: [Rule {
            actions: [BasicAuth {
                kind: "basic-auth",
                config: Credentials { credentials },
            }],
        }],
    };
    serde_json::to_string_pretty(&policy).map_err(|e| e.to_string())
}

fn scheme_of(protocol: Protocol) -> &'static str {
    protocol.as_str()
}

/// The URL the forward itself names, if any: its name for http(s) and tls, its port for tcp.
fn forward_url(protocol: Protocol, forward: &RemoteForward) -> Option<String> {
    match protocol {
        Protocol::Tcp if forward.port == 0 => None,
        Protocol::Tcp => Some(format!(
            "tcp://{}:{}",
            forward.name().unwrap_or("localhost"),
            forward.port
        )),
        p => forward
            .name()
            .map(|name| format!("{}://{name}", scheme_of(p))),
    }
}

/// What to type, for a command that names no protocol.
pub fn usage() -> String {
    "usage: ssh -R [NAME:]PORT:localhost:LOCAL_PORT EDGE http|tcp|tls [--url URL] \
     [--basic-auth USER:PASS] [--traffic-policy POLICY] [--traffic-policy-file FILE < FILE] \
     [--pooling-enabled]\n"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(address: &str, port: u32) -> RemoteForward {
        RemoteForward {
            address: address.into(),
            port,
        }
    }

    #[test]
    fn forms_of_ngrok_docs() -> Result<(), String> {
        let r = bind_request("http", &fwd("localhost", 443))?;
        assert_eq!((r.protocol, r.url), (Protocol::Https, None));
        let r = bind_request("http", &fwd("app.example.com", 443))?;
        assert_eq!(r.url.as_deref(), Some("https://app.example.com"));
        let r = bind_request("http", &fwd("*.example.com", 443))?;
        assert_eq!(r.url.as_deref(), Some("https://*.example.com"));
        let r = bind_request("http", &fwd("localhost", 80))?;
        assert_eq!(r.protocol, Protocol::Http);
        let r = bind_request("http --schemes http", &fwd("localhost", 443))?;
        assert_eq!(r.protocol, Protocol::Http);
        let r = bind_request("http --schemes https", &fwd("localhost", 80))?;
        assert_eq!(r.protocol, Protocol::Https);
        let r = bind_request("tcp", &fwd("localhost", 0))?;
        assert_eq!((r.protocol, r.url), (Protocol::Tcp, None));
        let r = bind_request("tcp", &fwd("localhost", 22022))?;
        assert_eq!(r.url.as_deref(), Some("tcp://localhost:22022"));
        let r = bind_request("tls", &fwd("secure.example.com", 443))?;
        assert_eq!(r.url.as_deref(), Some("tls://secure.example.com"));
        let r = bind_request("http --url http://x.example.com", &fwd("", 443))?;
        assert_eq!(
            (r.protocol, r.url.as_deref()),
            (Protocol::Http, Some("http://x.example.com"))
        );
        let r = bind_request("http --basic-auth 'u:p w' --pooling-enabled", &fwd("", 443))?;
        assert!(r.pooling_enabled);
        assert!(r.traffic_policy.is_some_and(|p| p.contains("\"u:p w\"")));
        let r = bind_request("http --traffic-policy 'on_http_request: []'", &fwd("", 443))?;
        assert_eq!(r.traffic_policy.as_deref(), Some("on_http_request: []"));
        let p = parse("http --traffic-policy-file policy.yml", &fwd("", 443))?;
        assert!(p.policy_from_stdin && p.request.traffic_policy.is_none());
        assert!(!parse("http", &fwd("", 443))?.policy_from_stdin);
        Ok(())
    }

    #[test]
    fn bad_commands_say_why() {
        for (cmd, says) in [
            ("", "usage"),
            ("udp", "unrecognized subcommand"),
            ("http --nope", "unexpected argument"),
            ("tcp --basic-auth u:p", "for http endpoints"),
            ("tls --schemes http", "for http endpoints"),
            ("http --schemes http,https", "give http or https"),
            (
                "http --traffic-policy-file p.yml --traffic-policy 'on_http_request: []'",
                "not both",
            ),
            (
                "http --traffic-policy-file p.yml --basic-auth u:p",
                "not both",
            ),
            ("http 'unclosed", "cannot read"),
        ] {
            let e = bind_request(cmd, &fwd("", 443)).err().unwrap_or_default();
            assert!(e.contains(says), "{cmd}: {e}");
        }
    }
}
