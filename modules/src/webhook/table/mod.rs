//! The providers whose scheme is one HMAC over parts of the request, described by a row each
//! instead of a file each: which header carries the signature (and how it is spelled), the
//! hash, the encoding, what is signed, and where the signed timestamp comes from.
//!
//! Each row follows the provider's own documentation of its webhook signatures; the module
//! docs of [`super`] list them. Providers with anything more (challenges, signatures in the
//! body, canonical requests, public keys) have their own file.

use std::time::{Duration, SystemTime};

use super::util::{self, Alg};
use super::{DEFAULT_TOLERANCE, Verification, WebhookError, WebhookRequest};

/// How the signature bytes are written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Enc {
    Hex,
    Base64,
}

/// Where the signature is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SigAt {
    /// The whole value of a header, after `prefix` (e.g. `sha256=`).
    Header {
        name: &'static str,
        prefix: &'static str,
    },
    /// Any of several headers (key rotation: Box's primary and secondary, DocuSign's
    /// `-1`, `-2`…); one matching signature is enough, absent headers are skipped.
    AnyHeader(&'static [&'static str]),
    /// A comma-separated `key=value` list in one header (`t=…,v1=…`): the signature is every
    /// value under `sig` (one matching is enough), the timestamp the value under `ts`.
    Params {
        name: &'static str,
        sig: &'static str,
        ts: Option<&'static str>,
    },
}

impl SigAt {
    /// The header that must be present.
    fn main_header(&self) -> &'static str {
        match self {
            SigAt::Header { name, .. } | SigAt::Params { name, .. } => name,
            SigAt::AnyHeader(names) => names[0],
        }
    }
}

/// How a signed timestamp is written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TsFormat {
    /// Unix seconds.
    UnixSecs,
    /// RFC 3339 / ISO 8601 date and time (a time without an offset is UTC).
    DateTime,
}

/// One piece of the signed message, in order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    /// The raw body.
    Body,
    /// The signed timestamp, as sent.
    Timestamp,
    /// Fixed text, e.g. `.` or `v0:`.
    Text(&'static str),
}

/// What the configured secret is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyFormat {
    /// Its bytes are the HMAC key.
    Raw,
    /// Its base64 decoding is the HMAC key (Microsoft Teams' security token).
    Base64,
}

/// Answers a provider's URL-verification request, or `None` for any other request.
pub(crate) type Challenge = fn(&WebhookRequest<'_>) -> Option<http::Response<bytes::Bytes>>;

/// One provider's scheme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scheme {
    /// The provider id as ngrok spells it.
    pub id: &'static str,
    pub alg: Alg,
    pub enc: Enc,
    pub sig: SigAt,
    /// The header carrying the signed timestamp, when it is not in a [`SigAt::Params`] list.
    pub ts_header: Option<&'static str>,
    pub ts_format: TsFormat,
    /// The parts whose concatenation is signed.
    pub signed: &'static [Part],
    /// Replay tolerance; `None` uses [`DEFAULT_TOLERANCE`] when a timestamp is signed.
    pub tolerance: Option<Duration>,
    pub key: KeyFormat,
    /// The provider's URL-verification handshake, answered instead of verifying.
    pub challenge: Option<Challenge>,
}

impl Scheme {
    /// Whether the scheme signs a timestamp (and so rejects stale requests).
    pub(crate) fn signs_timestamp(&self) -> bool {
        self.signed.iter().any(|p| matches!(p, Part::Timestamp))
    }

    /// The replay tolerance, when a timestamp is signed.
    pub(crate) fn replay_tolerance(&self) -> Option<Duration> {
        self.signs_timestamp()
            .then(|| self.tolerance.unwrap_or(DEFAULT_TOLERANCE))
    }
}

mod rows;

pub(crate) use rows::SCHEMES;

/// The HMAC key of `secret` under `scheme`; checked at load by `validate_secret`.
pub(crate) fn key(scheme: &Scheme, secret: &str) -> Result<Vec<u8>, WebhookError> {
    match scheme.key {
        KeyFormat::Raw => Ok(secret.as_bytes().to_vec()),
        KeyFormat::Base64 => util::decode_base64(secret).map_err(|_| {
            WebhookError::invalid_secret("the secret must be base64, as the provider issues it")
        }),
    }
}

/// Verifies a request against one row.
pub(crate) fn verify(
    scheme: &Scheme,
    secret: &str,
    req: &WebhookRequest<'_>,
    now: SystemTime,
) -> Result<Verification, WebhookError> {
    if let Some(response) = scheme.challenge.and_then(|answer| answer(req)) {
        return Ok(Verification::Challenge(response));
    }
    let key = key(scheme, secret)?;
    let (candidates, param_ts) = signatures(scheme, req)?;
    let timestamp = match (scheme.ts_header, param_ts) {
        (Some(name), _) => Some(util::header(req, name)?),
        (None, ts) => ts,
    };
    if scheme.signs_timestamp() {
        let ts = timestamp.ok_or_else(|| WebhookError::malformed("no signed timestamp"))?;
        let tolerance = scheme.replay_tolerance().unwrap_or(DEFAULT_TOLERANCE);
        match scheme.ts_format {
            TsFormat::UnixSecs => util::check_age_secs(util::parse_timestamp(ts)?, now, tolerance)?,
            TsFormat::DateTime => {
                util::check_age_ms(util::parse_date_time_ms(ts)?, now, tolerance)?
            }
        }
    }
    let parts: Vec<&[u8]> = scheme
        .signed
        .iter()
        .map(|part| match part {
            Part::Body => req.body,
            Part::Timestamp => timestamp.unwrap_or_default().as_bytes(),
            Part::Text(t) => t.as_bytes(),
        })
        .collect();
    let expected = util::hmac(scheme.alg, &key, &parts)?;
    let decoded = candidates
        .into_iter()
        .map(|c| match scheme.enc {
            Enc::Hex => util::decode_hex(c),
            Enc::Base64 => util::decode_base64(c),
        })
        .collect::<Result<Vec<_>, _>>()?;
    util::match_any(&expected, decoded)?;
    Ok(Verification::Verified)
}

/// The signatures sent, and the timestamp of a `Params` list.
fn signatures<'r>(
    scheme: &Scheme,
    req: &WebhookRequest<'r>,
) -> Result<(Vec<&'r str>, Option<&'r str>), WebhookError> {
    match scheme.sig {
        SigAt::Header { name, prefix } => {
            let value = util::header(req, name)?;
            Ok((vec![util::strip_prefix(value, prefix)?], None))
        }
        SigAt::AnyHeader(names) => {
            let mut found = Vec::new();
            for name in names {
                if let Some(v) = util::opt_header(req, name)? {
                    found.push(v);
                }
            }
            if found.is_empty() {
                return Err(WebhookError::MissingHeader(scheme.sig.main_header()));
            }
            Ok((found, None))
        }
        SigAt::Params { name, sig, ts } => {
            let value = util::header(req, name)?;
            let items: Vec<(&str, &str)> = util::kv_items(value, ',').collect();
            let found: Vec<&str> = items
                .iter()
                .filter(|(k, _)| *k == sig)
                .map(|(_, v)| *v)
                .collect();
            if found.is_empty() {
                return Err(WebhookError::Malformed(format!(
                    "no `{sig}=` signature in {name}"
                )));
            }
            let timestamp = ts.and_then(|t| items.iter().find(|(k, _)| *k == t).map(|(_, v)| *v));
            Ok((found, timestamp))
        }
    }
}
