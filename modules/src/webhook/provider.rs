//! The provider ids of `verify-webhook`, as ngrok spells them, and what each implies
//! (replay tolerance, whether a secret is taken, the failure status).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use super::{DEFAULT_TOLERANCE, UnknownProvider, contentful, sns, table};

/// A provider id as ngrok spells it in policies ("github", "stripe", "svix", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Bitbucket (Cloud and Data Center) webhooks.
    Bitbucket,
    /// Brex webhooks (Standard Webhooks headers).
    Brex,
    /// Calendly webhook subscriptions.
    Calendly,
    /// Clerk webhooks (delivered through Svix).
    Clerk,
    /// Contentful webhooks (signed canonical request).
    Contentful,
    /// GitHub webhooks.
    GitHub,
    /// GitLab webhooks (secret token).
    GitLab,
    /// Hygraph (formerly GraphCMS) webhooks.
    GraphCms,
    /// HubSpot webhooks and app requests (signature v3).
    HubSpot,
    /// Intercom webhooks.
    Intercom,
    /// Linear webhooks.
    Linear,
    /// Mailchimp Transactional (Mandrill) webhooks.
    Mailchimp,
    /// Mailgun webhooks.
    Mailgun,
    /// Orbit (orbit.love) webhooks (secret in a header).
    Orbit,
    /// PagerDuty v3 webhooks.
    PagerDuty,
    /// Plivo callbacks (signature V3).
    Plivo,
    /// SendGrid signed Event Webhook.
    SendGrid,
    /// Sentry integration platform webhooks.
    Sentry,
    /// Shopify webhooks.
    Shopify,
    /// Slack requests (events, commands, interactivity).
    Slack,
    /// Amazon SNS HTTP/S subscriptions (certificate-signed, no secret).
    Sns,
    /// Square webhooks.
    Square,
    /// Stripe webhooks.
    Stripe,
    /// Svix and Standard Webhooks senders.
    Svix,
    /// Twilio webhooks and status callbacks.
    Twilio,
    /// Twitter / X Account Activity API webhooks.
    Twitter,
    /// Typeform webhooks.
    Typeform,
    /// VMware Workspace ONE UEM event notifications (HTTP Basic credentials).
    VMware,
    /// Worldline (Connect / Direct) webhooks.
    Worldline,
    /// Xero webhooks.
    Xero,
    /// Zoom webhooks.
    Zoom,
    /// A provider whose scheme is one HMAC over parts of the request (a row of `table.rs`).
    Table(TableProvider),
}

/// A provider of the HMAC table, by its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableProvider(usize);

impl TableProvider {
    pub(crate) fn scheme(self) -> &'static table::Scheme {
        &table::SCHEMES[self.0]
    }
}

/// Every provider, sorted by id.
static ALL: LazyLock<Vec<Provider>> = LazyLock::new(|| {
    let mut all: Vec<Provider> = NAMED.to_vec();
    all.extend((0..table::SCHEMES.len()).map(|i| Provider::Table(TableProvider(i))));
    all.sort_by_key(|p| p.id());
    all
});

/// Other spellings of provider ids found in ngrok's integration guides (the policy examples
/// there write these), each with the id it means.
const ALIASES: &[(&str, &str)] = &[
    ("signalsciences", "signal_sciences"),
    ("sonatype_nexus", "sonatype"),
    ("vmware_workspace", "vmware"),
];

/// The providers with their own file.
const NAMED: &[Provider] = &[
    Provider::Bitbucket,
    Provider::Brex,
    Provider::Calendly,
    Provider::Clerk,
    Provider::Contentful,
    Provider::GitHub,
    Provider::GitLab,
    Provider::GraphCms,
    Provider::HubSpot,
    Provider::Intercom,
    Provider::Linear,
    Provider::Mailchimp,
    Provider::Mailgun,
    Provider::Orbit,
    Provider::PagerDuty,
    Provider::Plivo,
    Provider::SendGrid,
    Provider::Sentry,
    Provider::Shopify,
    Provider::Slack,
    Provider::Sns,
    Provider::Square,
    Provider::Stripe,
    Provider::Svix,
    Provider::Twilio,
    Provider::Twitter,
    Provider::Typeform,
    Provider::VMware,
    Provider::Worldline,
    Provider::Xero,
    Provider::Zoom,
];

impl Provider {
    /// The provider id as written in a traffic policy.
    pub fn id(&self) -> &'static str {
        match self {
            Provider::Bitbucket => "bitbucket",
            Provider::Brex => "brex",
            Provider::Calendly => "calendly",
            Provider::Clerk => "clerk",
            Provider::Contentful => "contentful",
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::GraphCms => "graphcms",
            Provider::HubSpot => "hubspot",
            Provider::Intercom => "intercom",
            Provider::Linear => "linear",
            Provider::Mailchimp => "mailchimp",
            Provider::Mailgun => "mailgun",
            Provider::Orbit => "orbit",
            Provider::PagerDuty => "pagerduty",
            Provider::Plivo => "plivo",
            Provider::SendGrid => "sendgrid",
            Provider::Sentry => "sentry",
            Provider::Shopify => "shopify",
            Provider::Slack => "slack",
            Provider::Sns => "sns",
            Provider::Square => "square",
            Provider::Stripe => "stripe",
            Provider::Svix => "svix",
            Provider::Twilio => "twilio",
            Provider::Twitter => "twitter",
            Provider::Typeform => "typeform",
            Provider::VMware => "vmware",
            Provider::Worldline => "worldline",
            Provider::Xero => "xero",
            Provider::Zoom => "zoom",
            Provider::Table(t) => t.scheme().id,
        }
    }

    /// Every supported provider, sorted by id.
    pub fn all() -> &'static [Provider] {
        &ALL
    }

    /// The other spellings accepted for an id (`signalsciences`, `sonatype_nexus`,
    /// `vmware_workspace`, as ngrok's integration guides write them), with the id each means.
    pub fn aliases() -> &'static [(&'static str, &'static str)] {
        ALIASES
    }

    /// The replay tolerance applied to the provider's signed timestamp, or
    /// `None` when the provider signs no timestamp.
    pub fn tolerance(&self) -> Option<Duration> {
        match self {
            Provider::Calendly => Some(Duration::from_secs(180)),
            Provider::Linear => Some(Duration::from_secs(60)),
            Provider::Contentful => Some(contentful::TOLERANCE),
            Provider::Sns => Some(sns::TOLERANCE),
            Provider::Brex
            | Provider::Clerk
            | Provider::GraphCms
            | Provider::HubSpot
            | Provider::SendGrid
            | Provider::Slack
            | Provider::Stripe
            | Provider::Svix
            | Provider::Zoom => Some(DEFAULT_TOLERANCE),
            Provider::Table(t) => t.scheme().replay_tolerance(),
            _ => None,
        }
    }

    /// Whether the provider's requests are signed with a shared secret (all but Amazon
    /// SNS, whose messages carry a certificate-backed signature and take no secret).
    pub fn takes_secret(&self) -> bool {
        !matches!(self, Provider::Sns)
    }

    /// The status the proxy should use to reject an unverified request: `401`
    /// for Xero, whose intent-to-receive check demands it, else `403`.
    pub fn failure_status(&self) -> http::StatusCode {
        match self {
            Provider::Xero => http::StatusCode::UNAUTHORIZED,
            _ => http::StatusCode::FORBIDDEN,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Parses an id or one of its [aliases](Provider::aliases) (ASCII case-insensitive,
    /// surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let given = s.trim();
        let wanted = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(given))
            .map_or(given, |(_, id)| id);
        ALL.iter()
            .copied()
            .find(|p| p.id().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownProvider {
                given: s.to_owned(),
                supported: ALL.iter().map(Provider::id).collect::<Vec<_>>().join(", "),
            })
    }
}
