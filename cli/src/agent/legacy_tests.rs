//! Tests of the deprecated shortcuts in `legacy`: each becomes the policy or URL it stands for.

use super::*;

#[test]
fn oauth_flags_become_a_login_and_an_allow_rule_that_load() -> Result<(), String> {
    let legacy = LegacyArgs {
        oauth: Some("github".into()),
        oauth_client_id: Some("id".into()),
        oauth_client_secret: Some("secret".into()),
        oauth_scope: vec!["read:user".into()],
        oauth_allow_email: vec!["Boss@Example.com".into()],
        oauth_allow_domain: vec!["example.org".into()],
        ..LegacyArgs::default()
    }
    .translate()?;
    assert_eq!(
        legacy.warnings,
        vec![
            "warning: --oauth is deprecated; applied as a traffic policy: on_http_request: \
             oauth {provider: ..., client_id: ..., client_secret: ...}"
                .to_string()
        ],
        "one warning for --oauth and its companion flags"
    );
    let policy = legacy
        .options
        .to_policy()
        .map_err(|e| e.to_string())?
        .ok_or("no policy")?;
    let rules = &policy["on_http_request"];
    assert_eq!(rules[0]["actions"][0]["type"], "oauth");
    assert_eq!(rules[0]["actions"][0]["config"]["provider"], "github");
    let expr = rules[1]["expressions"][0].as_str().unwrap_or_default();
    assert!(expr.contains(r#"== "boss@example.com""#), "{expr}");
    assert!(expr.contains(r#"endsWith("@example.org")"#), "{expr}");
    let text = serde_json::to_string(&policy).map_err(|e| e.to_string())?;
    sluice_policy::load_policy(
        "flags.json",
        &text,
        &sluice_modules::builtin_registry(),
        sluice_policy::LoadOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let oidc = LegacyArgs {
        oidc: Some("https://id.example.com".into()),
        oidc_client_id: Some("id".into()),
        ..LegacyArgs::default()
    }
    .translate()?;
    assert_eq!(
        oidc.warnings,
        vec![
            "warning: --oidc is deprecated; applied as a traffic policy: on_http_request: \
             openid-connect {issuer_url: ..., client_id: ..., client_secret: ...}"
                .to_string()
        ]
    );
    let login = oidc.options.login.ok_or("no login")?;
    assert_eq!(login.issuer, "https://id.example.com");
    let mixed = LegacyArgs {
        oauth: Some("github".into()),
        oidc_client_id: Some("id".into()),
        ..LegacyArgs::default()
    };
    assert!(mixed.translate().is_err());
    Ok(())
}

#[test]
fn schemes_and_bind_tls_pick_the_url() -> Result<(), String> {
    let url = |scheme: Option<&str>, bind_tls: Option<&str>| {
        LegacyArgs {
            scheme: scheme.map(Into::into),
            bind_tls: bind_tls.map(Into::into),
            ..LegacyArgs::default()
        }
        .translate()
        .map(|l| (l.url, l.also_http, l.warnings.len()))
    };
    let https = Some("https://".to_owned());
    let http = Some("http://".to_owned());
    assert_eq!(url(Some("http,https"), None)?, (https.clone(), true, 1));
    assert_eq!(url(Some("https, http"), None)?, (https.clone(), true, 1));
    assert_eq!(url(Some("HTTP"), None)?, (http.clone(), false, 1));
    assert_eq!(url(None, Some("true"))?, (https.clone(), false, 1));
    assert_eq!(url(None, Some("false"))?, (http, false, 1));
    assert_eq!(url(None, Some("both"))?, (https, true, 1));
    assert!(url(Some("ftp"), None).is_err());
    assert!(url(None, Some("maybe")).is_err());
    assert!(url(Some("http"), Some("true")).is_err());
    Ok(())
}

/// Each deprecated flag's warning names that flag, and no other.
#[test]
fn each_warning_names_its_own_flag() -> Result<(), String> {
    let one = |args: LegacyArgs, flag: &str| -> Result<(), String> {
        let w = args.translate()?.warnings;
        assert_eq!(w.len(), 1, "{flag}: {w:?}");
        assert!(
            w[0].starts_with(&format!("warning: {flag} ")),
            "{flag}: {w:?}"
        );
        Ok(())
    };
    let s = |v: &str| vec![v.to_owned()];
    one(
        LegacyArgs {
            basic_auth: s("u:password1"),
            ..LegacyArgs::default()
        },
        "--basic-auth",
    )?;
    one(
        LegacyArgs {
            auth: s("u:password1"),
            ..LegacyArgs::default()
        },
        "--auth",
    )?;
    one(
        LegacyArgs {
            compression: true,
            ..LegacyArgs::default()
        },
        "--compression",
    )?;
    one(
        LegacyArgs {
            cidr_allow: s("10.0.0.0/8"),
            ..LegacyArgs::default()
        },
        "--cidr-allow",
    )?;
    one(
        LegacyArgs {
            cidr_deny: s("10.0.0.0/8"),
            ..LegacyArgs::default()
        },
        "--cidr-deny",
    )?;
    one(
        LegacyArgs {
            request_header_add: s("a: b"),
            ..LegacyArgs::default()
        },
        "--request-header-add",
    )?;
    one(
        LegacyArgs {
            response_header_remove: s("a"),
            ..LegacyArgs::default()
        },
        "--response-header-remove",
    )?;
    one(
        LegacyArgs {
            circuit_breaker: Some(0.5),
            ..LegacyArgs::default()
        },
        "--circuit-breaker",
    )?;
    one(
        LegacyArgs {
            host_header: Some("rewrite".into()),
            ..LegacyArgs::default()
        },
        "--host-header",
    )?;
    one(
        LegacyArgs {
            domain: Some("a.example.com".into()),
            ..LegacyArgs::default()
        },
        "--domain",
    )?;
    one(
        LegacyArgs {
            bind_tls: Some("both".into()),
            ..LegacyArgs::default()
        },
        "--bind-tls",
    )?;
    Ok(())
}

#[test]
fn subdomain_is_checked_and_kept() -> Result<(), String> {
    let sub = |subdomain: &str, domain: Option<&str>| {
        LegacyArgs {
            subdomain: Some(subdomain.into()),
            domain: domain.map(Into::into),
            ..LegacyArgs::default()
        }
        .translate()
        .map(|l| l.subdomain)
    };
    assert_eq!(sub("My-App", None)?, Some("my-app".into()));
    assert!(sub("a_b", None).is_err());
    assert!(sub("*.x", None).is_err());
    assert!(sub("app", Some("app.example.com")).is_err());
    Ok(())
}

#[test]
fn flags_warn_and_translate() -> Result<(), String> {
    let args = LegacyArgs {
        basic_auth: vec!["u:password1".into()],
        domain: Some("app.example.com".into()),
        scheme: Some("http".into()),
        ..LegacyArgs::default()
    };
    let l = args.translate()?;
    assert_eq!(l.options.basic_auth, vec!["u:password1".to_owned()]);
    assert_eq!(l.url.as_deref(), Some("http://app.example.com"));
    assert_eq!(l.warnings.len(), 3, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("basic-auth"), "{:?}", l.warnings);
    let tcp = LegacyArgs {
        remote_addr: Some("localhost:20001".into()),
        ..LegacyArgs::default()
    }
    .translate()?;
    assert_eq!(tcp.url.as_deref(), Some("tcp://localhost:20001"));
    assert!(LegacyArgs::default().translate()?.warnings.is_empty());
    let v2 = LegacyArgs {
        auth: vec!["v2:password2".into()],
        region: Some("eu".into()),
        ..LegacyArgs::default()
    }
    .translate()?;
    assert_eq!(v2.options.basic_auth, vec!["v2:password2".to_owned()]);
    assert!(
        v2.warnings[0].contains("--auth is deprecated"),
        "{:?}",
        v2.warnings
    );
    assert!(
        v2.warnings[1].contains("--region eu has no effect"),
        "{:?}",
        v2.warnings
    );
    Ok(())
}
