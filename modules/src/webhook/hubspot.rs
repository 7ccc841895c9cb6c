//! HubSpot signature v3: `X-HubSpot-Signature-v3` is the base64
//! HMAC-SHA256, keyed with the app's client secret, of
//! `method + URI + body + timestamp`, where the timestamp is the
//! `X-HubSpot-Request-Timestamp` header (Unix milliseconds). HubSpot asks
//! receivers to reject timestamps older than five minutes.
//!
//! HubSpot signs the URI with some percent-escapes decoded; the URL is tried
//! as received and, if different, with those escapes decoded.

use std::time::{Duration, SystemTime};

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

/// Percent-escapes HubSpot decodes in the signed URI.
const DECODED: &[(&str, char)] = &[
    ("%3A", ':'),
    ("%2F", '/'),
    ("%3F", '?'),
    ("%40", '@'),
    ("%21", '!'),
    ("%24", '$'),
    ("%27", '\''),
    ("%28", '('),
    ("%29", ')'),
    ("%2A", '*'),
    ("%2C", ','),
    ("%3B", ';'),
];

/// Verifies the v3 signature, then the timestamp.
pub(crate) fn verify(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    let provided = util::decode_base64(util::header(req, "X-HubSpot-Signature-v3")?)?;
    let timestamp = util::header(req, "X-HubSpot-Request-Timestamp")?;
    let millis = util::parse_timestamp(timestamp)?;

    let decoded = decode_uri(req.url);
    let mut uris = vec![req.url];
    if decoded != req.url {
        uris.push(&decoded);
    }
    let mut matched = false;
    for uri in uris {
        let expected = util::hmac(
            Alg::Sha256,
            key,
            &[
                req.method.as_str().as_bytes(),
                uri.as_bytes(),
                req.body,
                timestamp.as_bytes(),
            ],
        )?;
        matched |= util::ct_eq(&expected, &provided);
    }
    if !matched {
        return Err(WebhookError::SignatureMismatch);
    }
    util::check_age_ms(i128::from(millis), now, tolerance)?;
    Ok(Verification::Verified)
}

/// Decodes the escapes in [`DECODED`] (case-insensitively), leaving others as they are.
fn decode_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let escape = rest.get(pos..pos + 3);
        match escape.and_then(|e| {
            DECODED
                .iter()
                .find(|(code, _)| code.eq_ignore_ascii_case(e))
        }) {
            Some((_, ch)) => {
                out.push(*ch);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod unit {
    use super::decode_uri;

    #[test]
    fn decodes_only_the_listed_escapes() {
        assert_eq!(
            decode_uri("https://x.test/a%3Ab?c=%2f%20%25%40"),
            "https://x.test/a:b?c=/%20%25@"
        );
        assert_eq!(decode_uri("trailing%4"), "trailing%4");
    }
}
