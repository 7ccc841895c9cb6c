//! Tests of ngrok v2 agent files: `tunnels:` become endpoints (with their policy, login blocks,
//! `bind_tls` schemes and subdomains).

use std::path::Path;

use sluice_modules::builtin_registry;

use super::Config;
use super::check::check_text;
use super::tests::{TestResult, V2, file};
use crate::upstream::EndpointKind;

#[test]
fn v2_tunnels_become_endpoints_with_policy() -> TestResult {
    let mut config = Config::default();
    config.merge(file(V2)?, Path::new("v2.yml"));
    assert_eq!(config.agent.authtoken.as_deref(), Some("legacy"));
    let eps = config.resolve(&[], true)?;
    let site = eps.iter().find(|e| e.name == "site").ok_or("site")?;
    assert_eq!(site.url.as_deref(), Some("https://site.example.com"));
    assert!(!site.inspect);
    let p: serde_json::Value =
        serde_json::from_str(site.traffic_policy.as_deref().unwrap_or("null"))?;
    assert_eq!(p["on_tcp_connect"][0]["actions"][0]["type"], "restrict-ips");
    let req = p["on_http_request"].as_array().ok_or("no request rules")?;
    assert_eq!(req[0]["actions"][0]["type"], "basic-auth");
    assert_eq!(
        req[1]["actions"][0]["config"]["headers"]["x-from"],
        "sluice"
    );
    assert!(
        req[1]["actions"].get(1).is_none(),
        "host_header is the forwarder's job, not policy"
    );
    assert_eq!(site.host_header, crate::HostHeader::Rewrite);
    assert_eq!(
        req[2]["actions"][0]["type"], "deny",
        "the user's own rules come last"
    );
    let ssh = eps.iter().find(|e| e.name == "ssh").ok_or("ssh")?;
    assert_eq!(
        (ssh.kind, ssh.url.as_deref()),
        (EndpointKind::Tcp, Some("tcp://1.tcp.example.com:2222"))
    );
    Ok(())
}

#[test]
fn v2_oauth_and_oidc_blocks_become_login_policy() -> TestResult {
    let text = r#"version: "2"
tunnels:
  gh:
    proto: http
    addr: 8000
    oauth:
      provider: github
      client_id: id
      client_secret: secret
      allow_domains: [example.com]
  corp:
    proto: http
    addr: 8001
    oidc:
      issuer_url: https://id.example.com
      client_id: id
      client_secret: secret
      scopes: [openid, email]
"#;
    let parsed = file(text)?;
    let joined = parsed.warnings.join("\n");
    assert_eq!(parsed.warnings.len(), 2, "{joined}");
    assert!(
        joined.contains("sluice.yml:7:7: tunnels.gh.oauth: is deprecated; applied as a traffic policy: on_http_request: oauth {"),
        "{joined}"
    );
    assert!(
        joined.contains("sluice.yml:15:7: tunnels.corp.oidc: is deprecated; applied as a traffic policy: on_http_request: openid-connect {"),
        "{joined}"
    );
    let mut config = Config::default();
    config.merge(parsed, Path::new("v2.yml"));
    let eps = config.resolve(&[], true)?;
    let policy = |name: &str| -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let ep = eps.iter().find(|e| e.name == name).ok_or("endpoint")?;
        Ok(serde_json::from_str(
            ep.traffic_policy.as_deref().unwrap_or("null"),
        )?)
    };
    let gh = policy("gh")?;
    assert_eq!(gh["on_http_request"][0]["actions"][0]["type"], "oauth");
    assert_eq!(
        gh["on_http_request"][1]["actions"][0]["config"]["status_code"],
        403
    );
    let corp = policy("corp")?;
    let action = &corp["on_http_request"][0]["actions"][0];
    assert_eq!(action["type"], "openid-connect");
    assert_eq!(action["config"]["issuer_url"], "https://id.example.com");
    let p = Path::new("/x/sluice.yml");
    assert_eq!(
        check_text("v2.yml", text, p, &builtin_registry())?.tunnels,
        2
    );
    Ok(())
}

#[test]
fn bind_tls_picks_the_scheme() -> TestResult {
    let tunnel = |bind_tls: &str| {
        file(&format!(
            "version: 2\ntunnels:\n  web:\n    proto: http\n    addr: 80\n    bind_tls: {bind_tls}\n"
        ))
        .and_then(|f| {
            let mut c = Config::default();
            c.merge(f, Path::new("t.yml"));
            c.resolve(&["web".to_owned()], false)
        })
        .map(|mut r| r.remove(0).bind_request().protocol)
    };
    use sluice_tunnel::Protocol;
    assert_eq!(tunnel("true")?, Protocol::Https);
    assert_eq!(tunnel("\"true\"")?, Protocol::Https);
    assert_eq!(tunnel("both")?, Protocol::Https);
    assert_eq!(tunnel("false")?, Protocol::Http);
    let err = tunnel("sometimes")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("`bind_tls` must be true, false or both"),
        "{err}"
    );
    Ok(())
}

fn v2_tunnel(body: &str) -> Result<super::ResolvedEndpoint, Box<dyn std::error::Error>> {
    let f = file(&format!("version: 2\ntunnels:\n  web:\n{body}"))?;
    let mut c = Config::default();
    c.merge(f, Path::new("t.yml"));
    Ok(c.resolve(&["web".to_owned()], false)?.remove(0))
}

#[test]
fn both_schemes_bind_https_then_its_http_twin() -> TestResult {
    use sluice_tunnel::Protocol;
    for keys in [
        "    schemes: [http, https]\n",
        "    schemes: [https, http]\n",
        "    bind_tls: both\n",
    ] {
        let ep = v2_tunnel(&format!("    proto: http\n    addr: 80\n{keys}"))?;
        assert!(ep.also_http, "{keys}");
        assert_eq!(ep.bind_request().protocol, Protocol::Https, "{keys}");
        let twin = ep
            .http_twin("https://abc.example.com:8443")
            .ok_or("no twin")?;
        assert_eq!(
            (twin.protocol, twin.url.as_deref()),
            (Protocol::Http, Some("http://abc.example.com"))
        );
        assert_eq!(ep.http_twin_name(), "web (http)");
    }
    for keys in ["    schemes: [https]\n", "    bind_tls: true\n", ""] {
        let ep = v2_tunnel(&format!("    proto: http\n    addr: 80\n{keys}"))?;
        assert!(!ep.also_http, "{keys}");
        assert!(ep.http_twin("https://abc.example.com").is_none());
    }
    let tcp = v2_tunnel("    proto: tcp\n    addr: 22\n    bind_tls: both\n");
    assert!(tcp.is_err());
    Ok(())
}

#[test]
fn v2_subdomain_asks_the_edge_for_a_name_under_its_domain() -> TestResult {
    let ep = v2_tunnel("    proto: http\n    addr: 80\n    subdomain: My-App\n")?;
    assert_eq!(ep.subdomain.as_deref(), Some("my-app"));
    let r = ep.bind_request();
    assert_eq!((r.url, r.subdomain.as_deref()), (None, Some("my-app")));
    let tls = v2_tunnel("    proto: tls\n    addr: 443\n    subdomain: secure\n")?;
    assert_eq!(tls.bind_request().subdomain.as_deref(), Some("secure"));
    for bad in [
        "    proto: http\n    addr: 80\n    subdomain: a\n    domain: a.example.com\n",
        "    proto: tcp\n    addr: 22\n    subdomain: a\n",
        "    proto: http\n    addr: 80\n    subdomain: \"a_b\"\n",
    ] {
        assert!(v2_tunnel(bad).is_err(), "{bad}");
    }
    Ok(())
}
