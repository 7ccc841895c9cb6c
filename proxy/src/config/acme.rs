//! `acme:` of the edge config: the CA's directory, the names to cover and the challenges the
//! edge answers, validated with their locations.

use std::path::Path;
use std::time::Duration;

use super::check::{Checker, key, parse_duration, valid_host_pattern};
use super::model::{AcmeChallenge, AcmeConfig};
use super::raw::{RawAcme, RawChallenge};

/// Renewal window when none is given: 30 days, as most ACME clients do for 90-day certificates.
const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Validates `acme:`; `http` and `https` say whether those listeners are configured.
pub(super) fn acme_section(
    cx: &mut Checker<'_>,
    raw: &RawAcme,
    base: &Path,
    http: bool,
    https: bool,
) -> Option<AcmeConfig> {
    let before = cx.diagnostics.len();
    let directory = raw.directory.trim().to_string();
    if !directory.starts_with("https://") {
        cx.error(
            &[key("acme"), key("directory")],
            format!("`{directory}` is not an https:// URL of an ACME directory"),
        );
    }
    if !https {
        cx.error(
            &[key("acme")],
            "ACME certificates are served on the https listener: configure listeners.https",
        );
    }
    let mut names = |field: &str, list: &[String]| {
        let mut out = Vec::new();
        for (i, n) in list.iter().enumerate() {
            let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
            let at = [key("acme"), key(field), sluice_source::PathSeg::Index(i)];
            if n.starts_with('*') {
                cx.error(
                    &at,
                    format!(
                        "`{n}`: wildcard certificates need the DNS-01 challenge, which the edge does not answer"
                    ),
                );
            } else if !valid_host_pattern(&n) || !n.contains('.') {
                cx.error(&at, format!("`{n}` is not a domain name"));
            } else if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    };
    let domains = names("domains", &raw.domains);
    let base_domains = names("base_domains", &raw.base_domains);
    if domains.is_empty() && base_domains.is_empty() {
        cx.error(
            &[key("acme")],
            "give the names to cover: acme.domains and/or acme.base_domains",
        );
    }
    let mut challenges = Vec::new();
    for (i, c) in raw.challenges.iter().enumerate() {
        let at = [
            key("acme"),
            key("challenges"),
            sluice_source::PathSeg::Index(i),
        ];
        let (challenge, listener, ok) = match c {
            RawChallenge::Http01 => (AcmeChallenge::Http01, "listeners.http", http),
            RawChallenge::TlsAlpn01 => (AcmeChallenge::TlsAlpn01, "listeners.https", https),
        };
        if !ok {
            cx.error(
                &at,
                format!("this challenge is answered on {listener}, which is not configured"),
            );
        } else if !challenges.contains(&challenge) {
            challenges.push(challenge);
        }
    }
    if raw.challenges.is_empty() {
        if http {
            challenges.push(AcmeChallenge::Http01);
        }
        if https {
            challenges.push(AcmeChallenge::TlsAlpn01);
        }
    }
    let renew_before = match &raw.renew_before {
        None => DEFAULT_RENEW_BEFORE,
        Some(text) => match parse_duration(text) {
            Some(d) if !d.is_zero() => d,
            _ => {
                cx.error(
                    &[key("acme"), key("renew_before")],
                    format!("`{text}` is not a duration like 720h"),
                );
                DEFAULT_RENEW_BEFORE
            }
        },
    };
    let email = raw.email.as_ref().map(|e| e.trim().to_string());
    if let Some(e) = &email
        && (!e.contains('@') || e.contains(char::is_whitespace))
    {
        cx.error(
            &[key("acme"), key("email")],
            format!("`{e}` is not an email address"),
        );
    }
    let ca_roots = raw.ca_roots.as_ref().map(|p| base.join(p));
    if let Some(path) = &ca_roots
        && let Err(why) = check_roots(path)
    {
        cx.error(&[key("acme"), key("ca_roots")], why);
    }
    if cx.diagnostics.len() > before {
        return None;
    }
    Some(AcmeConfig {
        directory,
        email,
        ca_roots,
        domains,
        base_domains,
        challenges,
        renew_before,
    })
}

/// Whether `path` holds at least one PEM certificate.
fn check_roots(path: &Path) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the CA roots {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::config::{AcmeChallenge, ConfigError, EdgeConfig, load_str};

    fn load(listeners: &str, acme: &str) -> Result<EdgeConfig, ConfigError> {
        load_str(
            &Arc::from("edge.yml"),
            &format!("version: 1\nlisteners:\n{listeners}acme:\n{acme}"),
            Path::new("/etc/sluice"),
            &sluice_modules::builtin_registry(),
        )
    }

    const BOTH: &str = "  http: 127.0.0.1:80\n  https: 127.0.0.1:443\n";

    #[test]
    fn a_full_section_loads_with_its_defaults() {
        let c = load(
            BOTH,
            "  directory: https://ca.example/dir\n  email: ops@example.com\n  domains: [App.Example.com, app.example.com.]\n  base_domains: [tenants.example.com]\n",
        )
        .unwrap();
        let a = c.acme.unwrap();
        assert_eq!(a.domains, ["app.example.com"]);
        assert_eq!(a.base_domains, ["tenants.example.com"]);
        assert_eq!(
            a.challenges,
            [AcmeChallenge::Http01, AcmeChallenge::TlsAlpn01]
        );
        assert_eq!(a.renew_before, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(a.ca_roots, None);
    }

    #[test]
    fn challenges_default_to_the_listeners_configured() {
        let c = load(
            "  https: 127.0.0.1:443\n",
            "  directory: https://ca.example/dir\n  domains: [a.example.com]\n  renew_before: 48h\n",
        )
        .unwrap();
        let a = c.acme.unwrap();
        assert_eq!(a.challenges, [AcmeChallenge::TlsAlpn01]);
        assert_eq!(a.renew_before, Duration::from_secs(48 * 3600));
    }

    #[test]
    fn mistakes_are_located_errors() {
        let e = load(
            "  https: 127.0.0.1:443\n",
            "  directory: http://ca.example/dir\n  email: nobody\n  domains: [\"*.example.com\", localhost]\n  challenges: [http-01]\n  renew_before: soon\n",
        )
        .unwrap_err();
        let s = e.to_string();
        for needle in [
            "is not an https:// URL",
            "not an email address",
            "wildcard certificates need the DNS-01 challenge",
            "`localhost` is not a domain name",
            "answered on listeners.http, which is not configured",
            "`soon` is not a duration",
        ] {
            assert!(s.contains(needle), "{needle}: {s}");
        }
        assert!(s.contains("edge.yml:6:"), "{s}");
    }

    #[test]
    fn acme_needs_the_https_listener_and_some_names() {
        let e = load(
            "  http: 127.0.0.1:80\n",
            "  directory: https://ca.example/dir\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("configure listeners.https"), "{s}");
        assert!(s.contains("acme.domains and/or acme.base_domains"), "{s}");
    }

    #[test]
    fn ca_roots_must_hold_a_certificate() {
        let e = load(
            BOTH,
            "  directory: https://ca.example/dir\n  domains: [a.example.com]\n  ca_roots: missing.pem\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("cannot read the CA roots /etc/sluice/missing.pem"),
            "{s}"
        );
        assert!(s.contains("edge.yml:8:"), "{s}");
    }

    #[test]
    fn an_unknown_challenge_is_refused() {
        let e = load(
            BOTH,
            "  directory: https://ca.example/dir\n  domains: [a.example.com]\n  challenges: [dns-01]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("dns-01"), "{e}");
    }
}
