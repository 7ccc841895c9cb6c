//! The rows of the HMAC table: one per provider, each following that provider's own
//! documentation of its webhook signatures.

use std::time::Duration;

use super::super::WebhookRequest;
use super::super::util::{self, Alg};
use super::{Enc, KeyFormat, Part, Scheme, SigAt, TsFormat};

const BODY: &[Part] = &[Part::Body];

/// A row for the common case: HMAC of the body in one header.
const fn body(
    id: &'static str,
    name: &'static str,
    prefix: &'static str,
    alg: Alg,
    enc: Enc,
) -> Scheme {
    Scheme {
        id,
        alg,
        enc,
        sig: SigAt::Header { name, prefix },
        ts_header: None,
        ts_format: TsFormat::UnixSecs,
        signed: BODY,
        tolerance: None,
        key: KeyFormat::Raw,
        challenge: None,
    }
}

/// A row for the Stripe-like case: `name: <ts>=…,<sig>=…` over `"<ts>.<body>"`, hex SHA-256.
const fn dotted(
    id: &'static str,
    name: &'static str,
    ts: &'static str,
    sig: &'static str,
) -> Scheme {
    Scheme {
        id,
        alg: Alg::Sha256,
        enc: Enc::Hex,
        sig: SigAt::Params {
            name,
            sig,
            ts: Some(ts),
        },
        ts_header: None,
        ts_format: TsFormat::UnixSecs,
        signed: &[Part::Timestamp, Part::Text("."), Part::Body],
        tolerance: None,
        key: KeyFormat::Raw,
        challenge: None,
    }
}

/// A row for the Slack-like case: `name: <v>=<hex>` over `"<v>:<ts>:<body>"`, timestamp in
/// `ts_header`.
const fn versioned(
    id: &'static str,
    name: &'static str,
    prefix: &'static str,
    signed: &'static [Part],
    ts_header: &'static str,
    ts_format: TsFormat,
) -> Scheme {
    Scheme {
        id,
        alg: Alg::Sha256,
        enc: Enc::Hex,
        sig: SigAt::Header { name, prefix },
        ts_header: Some(ts_header),
        ts_format,
        signed,
        tolerance: None,
        key: KeyFormat::Raw,
        challenge: None,
    }
}

/// Every provider of the table, sorted by id.
pub(crate) static SCHEMES: &[Scheme] = &[
    body(
        "aftership",
        "aftership-hmac-sha256",
        "",
        Alg::Sha256,
        Enc::Base64,
    ),
    versioned(
        "airship",
        "X-UA-Signature",
        "",
        &[Part::Timestamp, Part::Text(":"), Part::Body],
        "X-UA-Timestamp",
        TsFormat::UnixSecs,
    ),
    body("alchemy", "X-Alchemy-Signature", "", Alg::Sha256, Enc::Hex),
    body(
        "autodesk",
        "x-adsk-signature",
        "sha1hash=",
        Alg::Sha1,
        Enc::Hex,
    ),
    body("bolt", "X-Bolt-Hmac-Sha256", "", Alg::Sha256, Enc::Base64),
    Scheme {
        id: "box",
        alg: Alg::Sha256,
        enc: Enc::Base64,
        sig: SigAt::AnyHeader(&["box-signature-primary", "box-signature-secondary"]),
        ts_header: Some("box-delivery-timestamp"),
        ts_format: TsFormat::DateTime,
        signed: &[Part::Body, Part::Timestamp],
        tolerance: Some(Duration::from_secs(600)),
        key: KeyFormat::Raw,
        challenge: None,
    },
    Scheme {
        id: "buildkite",
        alg: Alg::Sha256,
        enc: Enc::Hex,
        sig: SigAt::Params {
            name: "X-Buildkite-Signature",
            sig: "signature",
            ts: Some("timestamp"),
        },
        ts_header: None,
        ts_format: TsFormat::UnixSecs,
        signed: &[Part::Timestamp, Part::Text("."), Part::Body],
        tolerance: None,
        key: KeyFormat::Raw,
        challenge: None,
    },
    body("castle", "X-Castle-Signature", "", Alg::Sha256, Enc::Base64),
    body(
        "chargify",
        "X-Chargify-Webhook-Signature-Hmac-Sha-256",
        "",
        Alg::Sha256,
        Enc::Hex,
    ),
    Scheme {
        id: "circleci",
        alg: Alg::Sha256,
        enc: Enc::Hex,
        sig: SigAt::Params {
            name: "circleci-signature",
            sig: "v1",
            ts: None,
        },
        ts_header: None,
        ts_format: TsFormat::UnixSecs,
        signed: BODY,
        tolerance: None,
        key: KeyFormat::Raw,
        challenge: None,
    },
    body(
        "clearbit",
        "X-Request-Signature",
        "sha1=",
        Alg::Sha1,
        Enc::Hex,
    ),
    body(
        "coinbase",
        "X-CC-Webhook-Signature",
        "",
        Alg::Sha256,
        Enc::Hex,
    ),
    Scheme {
        id: "docusign",
        alg: Alg::Sha256,
        enc: Enc::Base64,
        sig: SigAt::AnyHeader(&[
            "X-DocuSign-Signature-1",
            "X-DocuSign-Signature-2",
            "X-DocuSign-Signature-3",
            "X-DocuSign-Signature-4",
            "X-DocuSign-Signature-5",
        ]),
        ts_header: None,
        ts_format: TsFormat::UnixSecs,
        signed: BODY,
        tolerance: None,
        key: KeyFormat::Raw,
        challenge: None,
    },
    Scheme {
        challenge: Some(dropbox_challenge),
        ..body("dropbox", "X-Dropbox-Signature", "", Alg::Sha256, Enc::Hex)
    },
    body(
        "facebook_graph_api",
        "X-Hub-Signature-256",
        "sha256=",
        Alg::Sha256,
        Enc::Hex,
    ),
    body(
        "facebook_messenger",
        "X-Hub-Signature-256",
        "sha256=",
        Alg::Sha256,
        Enc::Hex,
    ),
    versioned(
        "frameio",
        "X-Frameio-Signature",
        "v0=",
        &[
            Part::Text("v0:"),
            Part::Timestamp,
            Part::Text(":"),
            Part::Body,
        ],
        "X-Frameio-Request-Timestamp",
        TsFormat::UnixSecs,
    ),
    dotted("go1", "go1-signature", "t", "v1"),
    body(
        "heroku",
        "Heroku-Webhook-Hmac-SHA256",
        "",
        Alg::Sha256,
        Enc::Base64,
    ),
    dotted("hostedhooks", "HostedHooks-Signature", "t", "s"),
    body(
        "instagram",
        "X-Hub-Signature-256",
        "sha256=",
        Alg::Sha256,
        Enc::Hex,
    ),
    body("jira", "X-Hub-Signature", "sha256=", Alg::Sha256, Enc::Hex),
    body("launch_darkly", "X-LD-Signature", "", Alg::Sha256, Enc::Hex),
    Scheme {
        key: KeyFormat::Base64,
        ..body(
            "microsoft_teams",
            "Authorization",
            "HMAC ",
            Alg::Sha256,
            Enc::Base64,
        )
    },
    body("modern_treasury", "X-Signature", "", Alg::Sha256, Enc::Hex),
    body("mongodb", "X-MMS-Signature", "", Alg::Sha1, Enc::Base64),
    dotted("mux", "Mux-Signature", "t", "v1"),
    versioned(
        "orb",
        "X-Orb-Signature",
        "v1=",
        &[
            Part::Text("v1:"),
            Part::Timestamp,
            Part::Text(":"),
            Part::Body,
        ],
        "X-Orb-Timestamp",
        TsFormat::DateTime,
    ),
    versioned(
        "pinwheel",
        "X-Pinwheel-Signature",
        "v2=",
        &[
            Part::Text("v2:"),
            Part::Timestamp,
            Part::Text(":"),
            Part::Body,
        ],
        "X-Timestamp",
        TsFormat::UnixSecs,
    ),
    body("pusher", "X-Pusher-Signature", "", Alg::Sha256, Enc::Hex),
    body(
        "signal_sciences",
        "X-SigSci-Signature",
        "",
        Alg::Sha256,
        Enc::Hex,
    ),
    body(
        "sonatype",
        "X-Nexus-Webhook-Signature",
        "",
        Alg::Sha1,
        Enc::Hex,
    ),
    body(
        "terraform",
        "X-TFE-Notification-Signature",
        "",
        Alg::Sha512,
        Enc::Hex,
    ),
    dotted("tiktok", "TikTok-Signature", "t", "s"),
    body(
        "trendmicro_conformity",
        "X-TrendMicro-Signature",
        "",
        Alg::Sha256,
        Enc::Hex,
    ),
    body("webex", "X-Spark-Signature", "", Alg::Sha1, Enc::Hex),
    body(
        "whatsapp",
        "X-Hub-Signature-256",
        "sha256=",
        Alg::Sha256,
        Enc::Hex,
    ),
    Scheme {
        id: "zendesk",
        alg: Alg::Sha256,
        enc: Enc::Base64,
        sig: SigAt::Header {
            name: "X-Zendesk-Webhook-Signature",
            prefix: "",
        },
        ts_header: Some("X-Zendesk-Webhook-Signature-Timestamp"),
        ts_format: TsFormat::DateTime,
        signed: &[Part::Timestamp, Part::Body],
        tolerance: None,
        key: KeyFormat::Raw,
        challenge: None,
    },
];

/// Dropbox verifies a new webhook URL with `GET ?challenge=<text>` and expects `<text>` back
/// as a plain-text body.
fn dropbox_challenge(req: &WebhookRequest<'_>) -> Option<http::Response<bytes::Bytes>> {
    if req.method != http::Method::GET {
        return None;
    }
    let challenge = util::query_param(req.url, "challenge")?;
    Some(util::ok_response(
        "text/plain",
        challenge.into_owned().into_bytes(),
    ))
}
