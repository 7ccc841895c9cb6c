use std::str::FromStr;

use super::*;
use crate::webhook::{DEFAULT_TOLERANCE, validate_secret};

#[test]
fn ids_round_trip() {
    assert_eq!(Provider::all().len(), 69);
    let ids: Vec<&str> = Provider::all().iter().map(Provider::id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "sorted by id");
    for provider in Provider::all() {
        assert_eq!(Provider::from_str(provider.id()), Ok(*provider));
        assert_eq!(provider.to_string(), provider.id());
    }
    assert_eq!("GitHub".parse::<Provider>(), Ok(Provider::GitHub));
    assert_eq!(" stripe ".parse::<Provider>(), Ok(Provider::Stripe));
}

#[test]
fn unknown_provider_lists_the_supported_ids() {
    let err = "acme"
        .parse::<Provider>()
        .expect_err("acme is not supported");
    assert_eq!(err.given, "acme");
    let message = err.to_string();
    for provider in Provider::all() {
        assert!(message.contains(provider.id()), "{message}");
    }
}

#[test]
fn tolerances() {
    assert_eq!(Provider::Linear.tolerance(), Some(Duration::from_secs(60)));
    assert_eq!(
        Provider::Calendly.tolerance(),
        Some(Duration::from_secs(180))
    );
    assert_eq!(Provider::Stripe.tolerance(), Some(DEFAULT_TOLERANCE));
    assert_eq!(Provider::GitHub.tolerance(), None);
    assert_eq!(
        Provider::GitHub.failure_status(),
        http::StatusCode::FORBIDDEN
    );
}

#[test]
fn empty_secrets_are_rejected() {
    // Amazon SNS takes no secret at all (its own test checks that a secret is refused).
    for provider in Provider::all().iter().filter(|p| p.takes_secret()) {
        assert!(matches!(
            validate_secret(*provider, ""),
            Err(WebhookError::InvalidSecret(_))
        ));
        let result = Req::post("{}").verify(*provider, "", now());
        assert!(
            matches!(result, Err(WebhookError::InvalidSecret(_))),
            "{provider}: {result:?}"
        );
    }
}

#[test]
fn errors_never_reveal_the_secret() {
    let secret = "S3cr3t-Value-That-Must-Not-Leak";
    let garbage = "sha256=zz,t=1,v1=zz,v0=zz";
    for provider in Provider::all() {
        let mut req = Req::post(secret).url(&format!("https://h.test/?bodySHA256={secret}"));
        for name in [
            "X-Hub-Signature-256",
            "X-Hub-Signature",
            "Stripe-Signature",
            "Calendly-Webhook-Signature",
            "X-Slack-Signature",
            "x-zm-signature",
            "Linear-Signature",
            "svix-id",
            "svix-signature",
            "X-Twilio-Signature",
            "X-HubSpot-Signature-v3",
            "X-Twilio-Email-Event-Webhook-Signature",
        ] {
            req = req.header(name, garbage);
        }
        for result in [
            req.verify(*provider, secret, now()),
            Req::post("").verify(*provider, secret, now()),
        ] {
            if let Err(err) = result {
                assert!(!err.to_string().contains(secret), "{provider}: {err}");
                assert!(!format!("{err:?}").contains(secret), "{provider}: {err:?}");
            }
        }
        if let Err(err) = validate_secret(*provider, secret) {
            assert!(!err.to_string().contains(secret), "{provider}: {err}");
        }
    }
}
