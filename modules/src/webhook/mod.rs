//! Webhook signature verification for the `verify-webhook` traffic policy action.
//!
//! The action is configured with a `provider` id (as ngrok spells it), a
//! `secret` and `enforce`. [`verify`] checks one request against the
//! provider's documented signature scheme; a failure is answered by the proxy
//! with `403` and [`ERROR_CODE`]. For providers with a URL-validation
//! handshake, [`verify`] returns [`Verification::Challenge`] with the response
//! the proxy must send instead of forwarding the request.
//!
//! | id | signature | replay tolerance |
//! |----|-----------|------------------|
//! | `bitbucket` | `X-Hub-Signature: sha256=<hex HMAC-SHA256(body)>` | none signed |
//! | `brex` | Standard Webhooks (see `svix`); the secret is the base64 key Brex's API returns | 300 s |
//! | `calendly` | `Calendly-Webhook-Signature: t=..,v1=<hex HMAC-SHA256("t.body")>` | 180 s |
//! | `clerk` | Svix (see `svix`) | 300 s |
//! | `contentful` | `x-contentful-signature`: hex HMAC-SHA256 of method, path, the `x-contentful-signed-headers`, body; 64-character secret | 30 s |
//! | `graphcms` | Hygraph: `gcms-signature: sign=<base64>, env=.., t=<ms>` over `{"Body":..,"EnvironmentName":..,"TimeStamp":..}` | 300 s (default) |
//! | `github` | `X-Hub-Signature-256: sha256=<hex>`; legacy `X-Hub-Signature: sha1=<hex>` only when the former is absent | none signed |
//! | `gitlab` | `X-Gitlab-Token` equals the secret | none signed |
//! | `hubspot` | `X-HubSpot-Signature-v3`: base64 HMAC-SHA256 of method+URL+body+`X-HubSpot-Request-Timestamp` (ms) | 300 s |
//! | `intercom` | `X-Hub-Signature: sha1=<hex HMAC-SHA1(body)>` | none signed |
//! | `linear` | `Linear-Signature: <hex HMAC-SHA256(body)>`; `webhookTimestamp` (ms) in the JSON body | 60 s |
//! | `plivo` | `X-Plivo-Signature-V3`: base64 HMAC-SHA256 of URL (sorted query), sorted `POST` params or body, and `X-Plivo-Signature-V3-Nonce` | none signed |
//! | `pagerduty` | `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]` | none signed |
//! | `sendgrid` | ECDSA P-256/SHA-256 over timestamp+body; secret is the base64 DER public key | 300 s (default) |
//! | `sns` | Amazon SNS: RSA (SHA-1 or SHA-256) over the message's fields, with the certificate fetched from its `SigningCertURL`; no secret | 3600 s |
//! | `sentry` | `Sentry-Hook-Signature: <hex HMAC-SHA256(body)>` | none signed |
//! | `shopify` | `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(body)>` | none signed |
//! | `slack` | `X-Slack-Signature: v0=<hex HMAC-SHA256("v0:ts:body")>` | 300 s |
//! | `square` | `X-Square-HmacSha256-Signature: <base64 HMAC-SHA256(url+body)>` | none signed |
//! | `stripe` | `Stripe-Signature: t=..,v1=..[,v1=..]`, hex HMAC-SHA256 of `"t.body"` | 300 s |
//! | `svix` | `svix-*` or Standard Webhooks `webhook-*` headers, `v1,<base64>` list, `whsec_` secret | 300 s |
//! | `twilio` | `X-Twilio-Signature`: base64 HMAC-SHA1 of URL + sorted form params, or URL with `bodySHA256` | none signed |
//! | `twitter` | `X-Twitter-Webhooks-Signature: sha256=<base64>`; answers the CRC `GET` | none signed |
//! | `typeform` | `Typeform-Signature: sha256=<base64 HMAC-SHA256(body)>` | none signed |
//! | `worldline` | `X-GCS-Signature: <base64 HMAC-SHA256(body)>`; answers the verification `GET` | none signed |
//! | `xero` | `X-Xero-Signature: <base64 HMAC-SHA256(body)>`; answers intent-to-receive | none signed |
//! | `zoom` | `x-zm-signature: v0=<hex HMAC-SHA256("v0:ts:body")>`; answers `endpoint.url_validation` | 300 s (default) |
//!
//! | `mailchimp` | Mandrill: `X-Mandrill-Signature`: base64 HMAC-SHA1 of URL + sorted form params | none signed |
//! | `mailgun` | in the body: hex HMAC-SHA256 of `timestamp` + `token` (JSON `signature` object or form fields) | 300 s (default) |
//! | `orbit` | `X-Orbit-Signature` equals the secret | none signed |
//! | `vmware` (alias `vmware_workspace`) | Workspace ONE UEM: `Authorization: Basic`, secret `username::password` | none signed |
//!
//! One HMAC over parts of the request, one row each in `table.rs`:
//!
//! | id | signature | replay tolerance |
//! |----|-----------|------------------|
//! | `aftership` | `aftership-hmac-sha256: <base64 HMAC-SHA256(body)>` | none signed |
//! | `airship` | `X-UA-Signature: <hex HMAC-SHA256("ts:body")>`, `X-UA-Timestamp` (Unix seconds) | 300 s (default) |
//! | `alchemy` | `X-Alchemy-Signature: <hex HMAC-SHA256(body)>` | none signed |
//! | `autodesk` | `x-adsk-signature: sha1hash=<hex HMAC-SHA1(body)>` | none signed |
//! | `bolt` | `X-Bolt-Hmac-Sha256: <base64 HMAC-SHA256(body)>` | none signed |
//! | `box` | `box-signature-primary`/`-secondary: <base64 HMAC-SHA256(body + box-delivery-timestamp)>` | 600 s |
//! | `buildkite` | `X-Buildkite-Signature: timestamp=..,signature=<hex HMAC-SHA256("t.body")>` | 300 s (default) |
//! | `castle` | `X-Castle-Signature: <base64 HMAC-SHA256(body)>` | none signed |
//! | `chargify` | `X-Chargify-Webhook-Signature-Hmac-Sha-256: <hex HMAC-SHA256(body)>` | none signed |
//! | `circleci` | `circleci-signature: v1=<hex HMAC-SHA256(body)>[,…]` | none signed |
//! | `coinbase` | Coinbase Commerce: `X-CC-Webhook-Signature: <hex HMAC-SHA256(body)>` | none signed |
//! | `clearbit` | `X-Request-Signature: sha1=<hex HMAC-SHA1(body)>` | none signed |
//! | `docusign` | `X-DocuSign-Signature-1` (… `-5`): `<base64 HMAC-SHA256(body)>` | none signed |
//! | `dropbox` | `X-Dropbox-Signature: <hex HMAC-SHA256(body)>`; answers the `GET ?challenge=` | none signed |
//! | `facebook_graph_api`, `facebook_messenger`, `instagram`, `whatsapp` | `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>` (app secret) | none signed |
//! | `frameio` | `X-Frameio-Signature: v0=<hex HMAC-SHA256("v0:ts:body")>`, `X-Frameio-Request-Timestamp` | 300 s (default) |
//! | `go1` | `go1-signature: t=..,v1=<hex HMAC-SHA256("t.body")>` | 300 s (default) |
//! | `hostedhooks` | `HostedHooks-Signature: t=..,s=<hex HMAC-SHA256("t.body")>` | 300 s (default) |
//! | `heroku` | `Heroku-Webhook-Hmac-SHA256: <base64 HMAC-SHA256(body)>` | none signed |
//! | `jira` | `X-Hub-Signature: sha256=<hex HMAC-SHA256(body)>` | none signed |
//! | `launch_darkly` | `X-LD-Signature: <hex HMAC-SHA256(body)>` | none signed |
//! | `microsoft_teams` | `Authorization: HMAC <base64 HMAC-SHA256(body)>`, key = base64-decoded secret | none signed |
//! | `modern_treasury` | `X-Signature: <hex HMAC-SHA256(body)>` | none signed |
//! | `mongodb` | `X-MMS-Signature: <base64 HMAC-SHA1(body)>` | none signed |
//! | `mux` | `Mux-Signature: t=..,v1=<hex HMAC-SHA256("t.body")>` | 300 s (default) |
//! | `orb` | `X-Orb-Signature: v1=<hex HMAC-SHA256("v1:ts:body")>`, `X-Orb-Timestamp` (ISO 8601) | 300 s (default) |
//! | `pinwheel` | `X-Pinwheel-Signature: v2=<hex HMAC-SHA256("v2:ts:body")>`, `X-Timestamp` | 300 s (default) |
//! | `pusher` | `X-Pusher-Signature: <hex HMAC-SHA256(body)>` | none signed |
//! | `signal_sciences` (alias `signalsciences`) | Fastly's generic webhook: `X-SigSci-Signature: <hex HMAC-SHA256(body)>` | none signed |
//! | `sonatype` (alias `sonatype_nexus`) | `X-Nexus-Webhook-Signature: <hex HMAC-SHA1(body)>` | none signed |
//! | `terraform` | `X-TFE-Notification-Signature: <hex HMAC-SHA512(body)>` | none signed |
//! | `tiktok` | `TikTok-Signature: t=..,s=<hex HMAC-SHA256("t.body")>` | 300 s (default) |
//! | `trendmicro_conformity` | `X-TrendMicro-Signature: <hex HMAC-SHA256(body)>` (the security token) | none signed |
//! | `webex` | `X-Spark-Signature: <hex HMAC-SHA1(body)>` | none signed |
//! | `zendesk` | `X-Zendesk-Webhook-Signature: <base64 HMAC-SHA256(ts + body)>`, `X-Zendesk-Webhook-Signature-Timestamp` (RFC 3339) | 300 s (default) |
//!
//! Where a provider documents no tolerance, [`DEFAULT_TOLERANCE`] applies.
//! Timestamps are checked in both directions. Secrets and signatures are always
//! compared in constant time, and no error message contains a secret.

mod error;
mod util;

mod contentful;
mod github;
mod graphcms;
mod hubspot;
mod linear;
mod mailchimp;
mod mailgun;
mod plivo;
mod provider;
mod sendgrid;
mod simple;
mod slack;
mod sns;
mod sns_certs;
mod stripe;
mod svix;
mod table;
mod token;
mod twilio;
mod twitter;
mod vmware;
mod worldline;
mod xero;
mod zoom;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

pub use error::{UnknownProvider, WebhookError};
pub use provider::Provider;
pub use sns_certs::SnsCertificates;

/// Error code the proxy reports when verification fails (ngrok's `ERR_NGROK_3204`).
pub const ERROR_CODE: &str = "ERR_SLUICE_3204";

/// Replay tolerance used for providers that sign a timestamp but document no tolerance.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// What the proxy knows about an incoming request.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The request method.
    pub method: &'a http::Method,
    /// Full URL as the client requested it, e.g. `https://example.com/hooks?x=1` (needed by twilio).
    pub url: &'a str,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
    /// The raw request body, exactly as received.
    pub body: &'a [u8],
}

/// The outcome of a successful verification.
#[derive(Debug)]
pub enum Verification {
    /// Signature valid; continue.
    Verified,
    /// The provider's URL-validation handshake: the proxy must answer with this response and not forward.
    Challenge(http::Response<bytes::Bytes>),
}

/// Checks at policy load time that `secret` is usable with `provider`.
pub fn validate_secret(provider: Provider, secret: &str) -> Result<(), WebhookError> {
    check_presence(provider, secret)?;
    match provider {
        Provider::Svix | Provider::Clerk | Provider::Brex => svix::signing_key(secret).map(drop),
        Provider::SendGrid => sendgrid::public_key(secret).map(drop),
        Provider::Contentful => contentful::validate_secret(secret),
        Provider::VMware => vmware::credentials(secret).map(drop),
        Provider::Table(t) => table::key(t.scheme(), secret).map(drop),
        _ => Ok(()),
    }
}

/// A secret is required for every provider but `sns`, which refuses one (as ngrok does).
fn check_presence(provider: Provider, secret: &str) -> Result<(), WebhookError> {
    match (provider.takes_secret(), secret.is_empty()) {
        (true, true) => Err(WebhookError::invalid_secret("the secret must not be empty")),
        (false, false) => Err(WebhookError::invalid_secret(
            "Amazon SNS messages are signed by AWS's certificate; sns takes no secret",
        )),
        _ => Ok(()),
    }
}

/// Verifies one webhook request signed by `provider` with `secret`, at time `now`.
///
/// `certs` fetches and caches Amazon SNS signing certificates; it is only used (and only
/// needed) for `sns`, whose requests fail verification without it.
pub async fn verify(
    provider: Provider,
    secret: &str,
    req: &WebhookRequest<'_>,
    now: SystemTime,
    certs: Option<&SnsCertificates>,
) -> Result<Verification, WebhookError> {
    check_presence(provider, secret)?;
    if provider == Provider::Sns {
        let certs = certs.ok_or_else(|| {
            WebhookError::malformed("no certificate source for Amazon SNS messages")
        })?;
        let message = sns::parse(req, now)?;
        let cert = certs.get(&message.cert_url).await?;
        sns::check_signature(&message, &cert)?;
        return Ok(Verification::Verified);
    }
    verify_shared_secret(provider, secret, req, now)
}

/// [`verify`] for the providers that sign with a shared secret.
fn verify_shared_secret(
    provider: Provider,
    secret: &str,
    req: &WebhookRequest<'_>,
    now: SystemTime,
) -> Result<Verification, WebhookError> {
    let key = secret.as_bytes();
    let tolerance = provider.tolerance().unwrap_or(DEFAULT_TOLERANCE);
    match provider {
        Provider::Bitbucket => github::verify_bitbucket(key, req),
        Provider::Calendly => stripe::verify_calendly(key, req, now, tolerance),
        Provider::Brex | Provider::Clerk | Provider::Svix => {
            svix::verify(secret, req, now, tolerance)
        }
        Provider::Contentful => contentful::verify(key, req, now),
        Provider::GitHub => github::verify_github(key, req),
        Provider::GitLab => token::verify(token::GITLAB, key, req),
        Provider::GraphCms => graphcms::verify(key, req, now, tolerance),
        Provider::HubSpot => hubspot::verify(key, req, now, tolerance),
        Provider::Intercom => github::verify_intercom(key, req),
        Provider::Linear => linear::verify(key, req, now, tolerance),
        Provider::Mailchimp => mailchimp::verify(key, req),
        Provider::Mailgun => mailgun::verify(key, req, now, tolerance),
        Provider::Orbit => token::verify(token::ORBIT, key, req),
        Provider::PagerDuty => simple::verify_pagerduty(key, req),
        Provider::Plivo => plivo::verify(key, req),
        Provider::SendGrid => sendgrid::verify(secret, req, now, tolerance),
        Provider::Sentry => simple::verify_sentry(key, req),
        Provider::Shopify => simple::verify_shopify(key, req),
        Provider::Slack => slack::verify(key, req, now, tolerance),
        Provider::Sns => Err(WebhookError::malformed(
            "Amazon SNS messages are verified with their certificate",
        )),
        Provider::Square => simple::verify_square(key, req),
        Provider::Stripe => stripe::verify_stripe(key, req, now, tolerance),
        Provider::Twilio => twilio::verify(key, req),
        Provider::Twitter => twitter::verify(key, req),
        Provider::Typeform => simple::verify_typeform(key, req),
        Provider::VMware => vmware::verify(secret, req),
        Provider::Worldline => worldline::verify(key, req),
        Provider::Xero => xero::verify(key, req),
        Provider::Zoom => zoom::verify(key, req, now, tolerance),
        Provider::Table(t) => table::verify(t.scheme(), secret, req, now),
    }
}
