//! The `tcp:` section: the IP agent-bound TCP endpoints listen on, the host their URLs name and
//! the port range for binds that name no port.

use std::net::{IpAddr, Ipv4Addr};

use super::check::{Checker, key, valid_host_pattern};
use super::model::TcpConfig;
use super::raw::{RawPorts, RawTcp};

/// Ports given out when the file names none.
const DEFAULT_PORTS: std::ops::RangeInclusive<u16> = 10000..=19999;

/// Parses `FIRST-LAST` or one port.
fn parse_ports(raw: &RawPorts) -> Option<std::ops::RangeInclusive<u16>> {
    let (lo, hi) = match raw {
        RawPorts::Port(p) => (u16::try_from(*p).ok()?, u16::try_from(*p).ok()?),
        RawPorts::Text(t) => match t.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let p = t.trim().parse().ok()?;
                (p, p)
            }
        },
    };
    (lo > 0 && lo <= hi).then_some(lo..=hi)
}

/// `host` as written in a URL: IPv6 addresses in brackets.
fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Validates the `tcp:` section; `base_domains` are those the file gives (maybe none).
pub(super) fn tcp_section(
    cx: &mut Checker<'_>,
    raw: Option<&RawTcp>,
    base_domains: &[String],
) -> TcpConfig {
    let at = |k: &str| [key("tcp"), key(k)];
    let mut bind = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut ports = DEFAULT_PORTS;
    let mut host = None;
    if let Some(raw) = raw {
        if let Some(text) = &raw.bind {
            match text.trim().trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => bind = ip,
                Err(_) => cx.error(
                    &at("bind"),
                    format!("`{text}` is not an IP address like 0.0.0.0 or 127.0.0.1"),
                ),
            }
        }
        if let Some(text) = &raw.host {
            let h = text.trim().trim_end_matches('.').to_ascii_lowercase();
            let is_ip = h.trim_matches(['[', ']']).parse::<IpAddr>().is_ok();
            if is_ip || (!h.starts_with('*') && valid_host_pattern(&h)) {
                host = Some(h);
            } else {
                cx.error(
                    &at("host"),
                    format!("`{text}` is not a host name or an IP address"),
                );
            }
        }
        if let Some(p) = &raw.ports {
            match parse_ports(p) {
                Some(r) => ports = r,
                None => cx.error(
                    &at("ports"),
                    "give a port range like 20000-20999 (first ≤ last, 1-65535) or one port",
                ),
            }
        }
    }
    let host = host
        .or_else(|| base_domains.first().cloned())
        .unwrap_or_else(|| {
            if bind.is_unspecified() {
                "localhost".to_string()
            } else {
                bind.to_string()
            }
        });
    TcpConfig {
        bind,
        host: url_host(&host),
        ports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        let text = |t: &str| parse_ports(&RawPorts::Text(t.to_string()));
        assert_eq!(text("20000-20999"), Some(20000..=20999));
        assert_eq!(text(" 7 - 9 "), Some(7..=9));
        assert_eq!(text("2222"), Some(2222..=2222));
        assert_eq!(parse_ports(&RawPorts::Port(5)), Some(5..=5));
        for bad in ["9-7", "0-10", "1-70000", "a-b", ""] {
            assert_eq!(text(bad), None, "{bad}");
        }
        assert_eq!(parse_ports(&RawPorts::Port(70000)), None);
    }

    fn load(text: &str) -> Result<crate::config::EdgeConfig, crate::config::ConfigError> {
        crate::config::load_str(
            &std::sync::Arc::from("edge.yml"),
            &format!("version: 1\nlisteners:\n  http: 127.0.0.1:8080\n{text}"),
            std::path::Path::new("."),
            &sluice_modules::builtin_registry(),
        )
    }

    #[test]
    fn section_and_defaults() {
        let c = load("tcp:\n  bind: 127.0.0.1\n  host: localhost\n  ports: 20000-20999\n")
            .expect("loads");
        assert_eq!(c.tcp.bind, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.tcp.host, "localhost");
        assert_eq!(c.tcp.ports, 20000..=20999);
        let c = load("").expect("loads");
        assert_eq!(c.tcp.bind, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(
            (c.tcp.host.as_str(), c.tcp.ports.clone()),
            ("localhost", 10000..=19999)
        );
        let c = load("base_domains: [edge.example.com]\ntcp:\n  ports: 2222\n").expect("loads");
        assert_eq!(
            (c.tcp.host.as_str(), c.tcp.ports),
            ("edge.example.com", 2222..=2222)
        );
        let c = load("tcp:\n  bind: \"::1\"\n").expect("loads");
        assert_eq!(c.tcp.host, "[::1]");
    }

    #[test]
    fn errors_have_line_and_column() {
        for (text, line, what) in [
            ("tcp:\n  ports: 9000-8000\n", 5, "port range"),
            ("tcp:\n  bind: nowhere\n", 5, "IP address"),
            ("tcp:\n  host: \"bad host\"\n", 5, "host name"),
            ("tcp:\n  prts: 1\n", 5, "prts"),
        ] {
            let e = load(text).expect_err(text).to_string();
            assert!(e.contains(&format!("edge.yml:{line}:")), "{text}: {e}");
            assert!(e.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn v6_hosts_get_brackets() {
        assert_eq!(url_host("::1"), "[::1]");
        assert_eq!(url_host("[::1]"), "[::1]");
        assert_eq!(url_host("localhost"), "localhost");
    }
}
