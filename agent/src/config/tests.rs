use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_modules::builtin_registry;

use super::check::check_text;
use super::{Config, ConfigError, WebAddr, check, default_path, parse_file};
use crate::upstream::{AppProtocol, EndpointKind, ProxyProtocol, Scheme};

pub(super) type TestResult = Result<(), Box<dyn std::error::Error>>;

const V3: &str = r#"version: 3
agent:
  authtoken: tok
  connect_url: edge.example:4443
  heartbeat_interval: 5s
  heartbeat_tolerance: 1m
  inspect_db_size: -1
  log: stderr
  web_addr: false
  metadata: '{"a":1}'
endpoints:
  - name: web
    url: https://web.example.com
    pooling_enabled: true
    traffic_policy:
      on_http_request:
        - actions:
            - type: add-headers
              config:
                headers:
                  x-a: "1"
    upstream:
      url: 8080
      protocol: http2
  - name: db
    url: tcp://1.tcp.example.com:20000
    upstream:
      url: localhost:5432
      proxy_protocol: 2
"#;

pub(super) fn file(text: &str) -> Result<super::ConfigFile, ConfigError> {
    parse_file("sluice.yml", text, Path::new("/nonexistent/sluice.yml"))
}

#[test]
fn v3_parses_and_resolves() -> TestResult {
    let f = file(V3)?;
    let agent = f.agent_settings();
    assert_eq!(agent.authtoken.as_deref(), Some("tok"));
    assert_eq!(
        agent.heartbeat_tolerance.map(|d| d.0),
        Some(Duration::from_secs(60))
    );
    assert_eq!(agent.web_addr, Some(WebAddr::Disabled));
    let mut config = Config::default();
    config.merge(f, Path::new("sluice.yml"));
    let eps = config.resolve(&[], true)?;
    assert_eq!(eps.len(), 2);
    let web = &eps[0];
    assert_eq!(
        (web.kind, web.upstream.protocol, web.pooling_enabled),
        (EndpointKind::Http, AppProtocol::Http2, true)
    );
    assert_eq!(web.upstream.to_string(), "http://localhost:8080");
    let policy: serde_json::Value =
        serde_json::from_str(web.traffic_policy.as_deref().unwrap_or("null"))?;
    assert_eq!(
        policy["on_http_request"][0]["actions"][0]["type"],
        "add-headers"
    );
    let db = &eps[1];
    assert_eq!(
        (db.kind, db.upstream.scheme, db.upstream.proxy_protocol),
        (EndpointKind::Tcp, Scheme::Tcp, Some(ProxyProtocol::V2))
    );
    assert_eq!(config.resolve(&["db".into()], false)?.len(), 1);
    assert!(config.resolve(&["nope".into()], false).is_err());
    Ok(())
}

#[test]
fn unknown_keys_have_line_and_column() {
    let err = file("version: 3\nagent:\n  authtoken: x\n  bogus: 1\n")
        .map(|_| ())
        .map_err(|e| e.to_string());
    let err = err.err().unwrap_or_default();
    assert!(err.starts_with("sluice.yml:4:3: agent"), "{err}");
    assert!(err.contains("unknown field `bogus`"), "{err}");
    let err = file("version: 4\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("unsupported config version"), "{err}");
    let err = file("version: 3\nagent:\n  web_addr: nope\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("sluice.yml:3:") && err.contains("invalid web_addr"),
        "{err}"
    );
}

#[test]
fn later_files_win() -> TestResult {
    let mut config = Config::default();
    config.merge(file(V3)?, Path::new("a.yml"));
    let second = "version: 3\nagent:\n  authtoken: newer\nendpoints:\n  - name: web\n    upstream: {url: 9090}\n  - name: more\n    upstream: {url: 'file:///srv'}\n";
    config.merge(file(second)?, Path::new("b.yml"));
    assert_eq!(config.agent.authtoken.as_deref(), Some("newer"));
    assert_eq!(config.agent.log_level, None);
    assert_eq!(
        config.agent.heartbeat_interval.map(|d| d.0),
        Some(Duration::from_secs(5))
    );
    let names: Vec<_> = config.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["web", "db", "more"]);
    let eps = config.resolve(&[], true)?;
    assert_eq!(eps[0].upstream.to_string(), "http://localhost:9090");
    assert!(eps[0].traffic_policy.is_none());
    assert_eq!(eps[2].upstream.scheme, Scheme::File);
    Ok(())
}

pub(super) const V2: &str = r#"version: "2"
authtoken: legacy
tunnels:
  site:
    proto: http
    addr: 8000
    domain: site.example.com
    schemes: [https]
    basic_auth: ["user:password1"]
    ip_restriction:
      deny_cidrs: [10.0.0.0/8]
    request_header:
      add: ["x-from: sluice"]
    host_header: rewrite
    inspect: false
    policy:
      inbound:
        - actions:
            - type: deny
  ssh:
    proto: tcp
    addr: 22
    remote_addr: 1.tcp.example.com:2222
"#;

#[test]
fn check_loads_every_policy() -> TestResult {
    let dir = std::env::temp_dir().join(format!("sluice-agent-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path: PathBuf = dir.join("sluice.yml");
    std::fs::write(&path, V3)?;
    let report = check(&path, &builtin_registry())?;
    assert_eq!((report.endpoints, report.tunnels), (2, 0));
    let p = Path::new("/x/sluice.yml");
    assert_eq!(check_text("v2.yml", V2, p, &builtin_registry())?.tunnels, 2);
    // A bad action type inside an inline policy is reported at its line in the config file.
    let bad = V3.replace("type: add-headers", "type: no-such-action");
    let err = check_text("sluice.yml", &bad, p, &builtin_registry())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("sluice.yml:18:"), "{err}");
    assert!(err.contains("no-such-action"), "{err}");
    // A policy file next to the config.
    std::fs::write(
        dir.join("p.yml"),
        "on_http_request:\n  - expressions: ['nope(']\n    actions: [{type: deny}]\n",
    )?;
    let with_file = "version: 3\nagent: {}\nendpoints:\n  - name: a\n    traffic_policy_file: p.yml\n    upstream: {url: 80}\n";
    std::fs::write(&path, with_file)?;
    let err = check(&path, &builtin_registry())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("p.yml:2:"), "{err}");
    // Duplicate names and bad upstreams.
    let dup = "version: 3\nendpoints:\n  - name: a\n    upstream: {url: 80}\n  - name: a\n    upstream: {url: 'ftp://x'}\n";
    let err = check_text("d.yml", dup, p, &builtin_registry())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("d.yml:5:") && err.contains("duplicate endpoint name"),
        "{err}"
    );
    assert!(
        err.contains("d.yml:6:") && err.contains("unsupported upstream scheme"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn bindings_agree_with_the_url() -> TestResult {
    let p = Path::new("/x/sluice.yml");
    let ep = |url: &str, bindings: &str| {
        format!(
            "version: 3\nendpoints:\n  - name: a\n    url: {url}\n    bindings: {bindings}\n    upstream: {{url: 80}}\n"
        )
    };
    check_text(
        "ok.yml",
        &ep("https://api.internal", "[internal]"),
        p,
        &builtin_registry(),
    )?;
    check_text(
        "ok.yml",
        &ep("https://api.example.com", "[public]"),
        p,
        &builtin_registry(),
    )?;
    for (url, bindings, code) in [
        ("https://api.example.com", "[internal]", "ERR_SLUICE_9029"),
        ("https://api.internal", "[public]", "ERR_SLUICE_9029"),
        (
            "https://api.internal",
            "[internal, public]",
            "ERR_SLUICE_3212",
        ),
        ("https://api.example.com", "[kubernetes]", "ERR_SLUICE_3212"),
    ] {
        let err = check_text("b.yml", &ep(url, bindings), p, &builtin_registry())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("b.yml:5:") && err.contains(code), "{err}");
    }
    let cfg = parse_file("ok.yml", &ep("http://db.internal", "[internal]"), p)?;
    let resolved = super::resolve_endpoint(&cfg.endpoints[0])?;
    assert_eq!(resolved.bindings, vec!["internal".to_string()]);
    Ok(())
}

#[test]
fn default_path_is_under_the_config_folder() {
    if let Some(p) = default_path() {
        assert!(p.ends_with("sluice/sluice.yml"), "{}", p.display());
    }
}

fn endpoint(
    kind: EndpointKind,
    url: Option<&str>,
) -> Result<super::ResolvedEndpoint, Box<dyn std::error::Error>> {
    Ok(super::ResolvedEndpoint {
        name: "e".into(),
        kind,
        url: url.map(str::to_owned),
        description: None,
        metadata: Some("m".into()),
        pooling_enabled: true,
        bindings: Vec::new(),
        traffic_policy: None,
        upstream: crate::Upstream::parse("9000", kind)?,
        inspect: true,
        host_header: crate::HostHeader::Preserve,
        agent_tls: None,
        also_http: false,
        subdomain: None,
    })
}

#[test]
fn bind_requests_follow_the_url() -> TestResult {
    use sluice_tunnel::Protocol;
    let r = endpoint(EndpointKind::Http, None)?.bind_request();
    assert_eq!((r.protocol, r.url), (Protocol::Http, None));
    assert!(r.pooling_enabled);
    assert_eq!(r.metadata.as_deref(), Some("m"));
    let r = endpoint(EndpointKind::Http, Some("https://"))?.bind_request();
    assert_eq!((r.protocol, r.url), (Protocol::Https, None));
    let r = endpoint(EndpointKind::Http, Some("HTTPS://a.example.com"))?.bind_request();
    assert_eq!(r.protocol, Protocol::Https);
    assert_eq!(r.url.as_deref(), Some("HTTPS://a.example.com"));
    let r = endpoint(EndpointKind::Http, Some("http://a.example.com"))?.bind_request();
    assert_eq!(r.protocol, Protocol::Http);
    let r = endpoint(EndpointKind::Tcp, Some("tcp://localhost:20001"))?.bind_request();
    assert_eq!(r.protocol, Protocol::Tcp);
    let r = endpoint(EndpointKind::Tls, Some("tls://a.localhost"))?.bind_request();
    assert_eq!(r.protocol, Protocol::Tls);
    Ok(())
}

#[test]
fn keys_sluice_cannot_act_on_warn_or_refuse_where_written() -> TestResult {
    let harmless = "version: 2\nregion: eu\nupdate_check: true\nconsole_ui: false\nagent:\n  console_ui: iftty\n  update_check: false\n";
    let harmless = file(harmless)?;
    let joined = harmless.warnings.join("\n");
    assert_eq!(harmless.warnings.len(), 2, "{joined}");
    assert!(
        joined.contains("sluice.yml:2:9: region: region `eu` has no effect"),
        "{joined}"
    );
    assert!(joined.contains("sluice.yml:3:15: update_check"), "{joined}");
    assert!(
        !joined.contains("console_ui"),
        "console_ui is honoured: {joined}"
    );

    let v3 = "version: 3\nagent:\n  console_ui: true\n  console_ui_color: black\n";
    assert!(file(v3)?.warnings.is_empty());
    let bad = "version: 3\nagent:\n  console_ui: sometimes\n";
    let err = file(bad).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("sluice.yml:3:15: agent.console_ui: `sometimes` is not true, false or iftty"),
        "{err}"
    );

    let refused = "version: 3\nagent:\n  authtoken: t\n  proxy_url: ftp://127.0.0.1:1080\n  dns_resolver_ips: [10.0.0.1]\n";
    let err = file(refused)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("sluice.yml:4:14: agent.proxy_url: proxy URL `ftp://127.0.0.1:1080`"),
        "{err}"
    );
    assert!(
        err.contains("sluice.yml:5:21: agent.dns_resolver_ips"),
        "{err}"
    );
    let v3_proxy = "version: 3\nagent:\n  proxy_url: socks5://u:p@127.0.0.1:1080\n";
    assert_eq!(
        file(v3_proxy)?.agent_settings().proxy_url.as_deref(),
        Some("socks5://u:p@127.0.0.1:1080")
    );
    let v2_proxy = "proxy_url: http://127.0.0.1:3128\n";
    assert!(file(v2_proxy)?.warnings.is_empty());
    let v2_socks = "socks5_proxy: 127.0.0.1:1080\n";
    assert_eq!(
        file(v2_socks)?.agent_settings().proxy_url.as_deref(),
        Some("socks5://127.0.0.1:1080")
    );
    let v2_bad = "http_proxy: \"https://p:1\"\n";
    let err = file(v2_bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("sluice.yml:1:13: http_proxy:"), "{err}");
    Ok(())
}

#[test]
fn a_connect_url_that_is_not_host_port_fails_at_load_with_its_location() {
    let bad = "version: 3\nagent:\n  authtoken: tok\n  connect_url: edge-a.example:4443, https://edge-b.example\n";
    let err = file(bad).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("sluice.yml:4:"), "{err}");
    assert!(
        err.contains("\"https://edge-b.example\" is not host:port"),
        "{err}"
    );
    let good = "version: 3\nagent:\n  connect_url: edge-a.example:4443, edge-b.example:4443\n";
    assert!(file(good).is_ok());
    let v2 = "version: 2\nserver_addr: edge.example\n";
    let err = file(v2).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("sluice.yml:2:"), "{err}");
}
