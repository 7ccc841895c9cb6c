//! Tests of the last four of ngrok's providers (HostedHooks, Signal Sciences, Orbit, VMware
//! Workspace ONE) and of the id spellings ngrok's integration guides use. Each request is
//! signed or authenticated here as the provider's documentation describes.

use super::table::{BODY, check, hex256, provider};
use super::*;
use crate::webhook::validate_secret;

#[test]
fn hostedhooks_signs_t_dot_body_in_a_t_s_list() {
    // docs.hostedhooks.com: `HostedHooks-Signature: t=<unix>,s=<hex HMAC-SHA256("t.body")>`.
    check(
        "hostedhooks",
        "hh-endpoint-signing-secret",
        "HostedHooks-Signature",
        Some(300),
        &|req, secret, ts| {
            let sig = hex256(secret.as_bytes(), format!("{ts}.{BODY}").as_bytes());
            req.header("HostedHooks-Signature", &format!("t={ts},s={sig}"))
        },
    );
}

#[test]
fn hostedhooks_signature_under_another_key_is_not_taken() {
    let secret = "hh-endpoint-signing-secret";
    let sig = hex256(secret.as_bytes(), format!("{NOW}.{BODY}").as_bytes());
    let req = Req::post(BODY).header("HostedHooks-Signature", &format!("t={NOW},v1={sig}"));
    assert_malformed(req.verify(provider("hostedhooks"), secret, now()));
}

#[test]
fn signal_sciences_signs_the_body() {
    // Fastly Next-Gen WAF (Signal Sciences) generic webhook: hex HMAC-SHA256 of the payload.
    check(
        "signal_sciences",
        "sigsci-generated-key",
        "X-SigSci-Signature",
        None,
        &|req, secret, _| {
            req.header(
                "X-SigSci-Signature",
                &hex256(secret.as_bytes(), BODY.as_bytes()),
            )
        },
    );
}

#[test]
fn orbit_header_carries_the_secret() {
    let orbit = provider("orbit");
    let secret = "orbit-webhook-secret";
    validate_secret(orbit, secret).expect("any non-empty secret");
    assert_eq!(orbit.tolerance(), None, "nothing signed, nothing stale");
    let req = Req::post(BODY).header("X-Orbit-Signature", secret);
    assert_verified(req.verify(orbit, secret, now()));
    // A flipped byte in the header, a longer or shorter secret.
    let flipped = Req::post(BODY).header("X-Orbit-Signature", "orbit-webhook-secreu");
    assert_mismatch(flipped.verify(orbit, secret, now()));
    assert_mismatch(req.verify(orbit, "orbit-webhook-secre", now()));
    assert_mismatch(req.verify(orbit, "orbit-webhook-secrets", now()));
    assert_missing(
        req.clone()
            .without("X-Orbit-Signature")
            .verify(orbit, secret, now()),
        "X-Orbit-Signature",
    );
}

fn basic(credentials: &str) -> String {
    format!("Basic {}", b64(credentials.as_bytes()))
}

#[test]
fn vmware_checks_the_basic_credentials_of_the_event_notification() {
    let vmware = provider("vmware");
    let secret = "ws1-notify::Pa55word!";
    validate_secret(vmware, secret).expect("username::password");
    assert_eq!(vmware.tolerance(), None, "nothing signed, nothing stale");
    let req = Req::post(BODY).header("Authorization", &basic("ws1-notify:Pa55word!"));
    assert_verified(req.verify(vmware, secret, now()));
    // Any body: the credentials authenticate the sender, they sign nothing.
    assert_verified(req.clone().body("other").verify(vmware, secret, now()));
    // The scheme name is case-insensitive.
    let lower = Req::post(BODY).header(
        "Authorization",
        &format!("basic {}", b64(b"ws1-notify:Pa55word!")),
    );
    assert_verified(lower.verify(vmware, secret, now()));
    // A flipped byte in the password, another user, the right password alone.
    for wrong in ["ws1-notify:Pa55word\"", "ws1-notifz:Pa55word!", "Pa55word!"] {
        let req = Req::post(BODY).header("Authorization", &basic(wrong));
        assert_mismatch(req.verify(vmware, secret, now()));
    }
    assert_missing(
        req.clone()
            .without("Authorization")
            .verify(vmware, secret, now()),
        "Authorization",
    );
    let bearer = Req::post(BODY).header("Authorization", "Bearer ws1-notify:Pa55word!");
    assert_malformed(bearer.verify(vmware, secret, now()));
    let garbage = Req::post(BODY).header("Authorization", "Basic !!!");
    assert_malformed(garbage.verify(vmware, secret, now()));
}

#[test]
fn vmware_password_may_hold_colons() {
    let vmware = provider("vmware");
    let req = Req::post(BODY).header("Authorization", &basic("user:a::b:c"));
    assert_verified(req.verify(vmware, "user::a::b:c", now()));
}

#[test]
fn vmware_secret_must_be_username_double_colon_password() {
    let vmware = provider("vmware");
    for bad in [
        "user:password",
        "::password",
        "us:er::password",
        "user::",
        "plain",
    ] {
        let err = validate_secret(vmware, bad).expect_err(bad);
        assert!(
            matches!(err, WebhookError::InvalidSecret(_)),
            "{bad}: {err}"
        );
        // A bad secret fails verification too (a `${…}` secret is only known per request).
        let req = Req::post(BODY).header("Authorization", &basic("user:password"));
        assert!(
            matches!(
                req.verify(vmware, bad, now()),
                Err(WebhookError::InvalidSecret(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn spellings_of_ngrok_integration_guides_are_aliases() {
    for (alias, id) in [
        ("signalsciences", "signal_sciences"),
        ("sonatype_nexus", "sonatype"),
        ("vmware_workspace", "vmware"),
        ("VMware_Workspace", "vmware"),
    ] {
        assert_eq!(provider(alias).id(), id, "{alias}");
    }
    assert_eq!(Provider::aliases().len(), 3);
}

#[test]
fn every_provider_of_ngroks_list_is_known() {
    // The provider ids of ngrok's verify-webhook reference, as it lists them.
    const NGROK: &str = "aftership airship alchemy sns autodesk bitbucket bolt box brex \
        buildkite calendly castle chargify circleci clearbit clerk coinbase contentful docusign \
        dropbox facebook_graph_api facebook_messenger frameio github gitlab go1 heroku \
        hostedhooks hubspot graphcms instagram intercom jira launch_darkly linear mailchimp \
        mailgun microsoft_teams modern_treasury mongodb mux orb orbit pagerduty pinwheel plivo \
        pusher sendgrid sentry shopify signal_sciences slack sonatype square stripe svix \
        terraform tiktok trendmicro_conformity twilio twitter typeform vmware webex whatsapp \
        worldline xero zendesk zoom";
    let ids: Vec<&str> = NGROK.split_whitespace().collect();
    assert_eq!(ids.len(), 69);
    for id in &ids {
        assert_eq!(provider(id).id(), *id);
    }
    assert_eq!(
        Provider::all().len(),
        ids.len(),
        "nothing beyond ngrok's list"
    );
}
