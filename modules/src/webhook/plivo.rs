//! Plivo, signature V3: `X-Plivo-Signature-V3` holds one or more comma-separated base64
//! HMAC-SHA256 signatures, keyed with the account's auth token, of
//! `<url>.<params>.<nonce>`, where
//! - `<url>` is the request URL without its query, followed by `?` and the query parameters
//!   sorted by name as `k=v&k=v` when there are any;
//! - `<params>` (only for `POST`) is the form parameters sorted by name, each written as the
//!   name followed by its values (sorted), with no separators; a body that is not
//!   form-encoded (Plivo's JSON callbacks) is taken as sent;
//! - `<nonce>` is `X-Plivo-Signature-V3-Nonce`.
//!
//! A subaccount's request may instead be signed with the main account's token in
//! `X-Plivo-Signature-Ma-V3`; a match in either header is enough.
//!
//! V2 (`X-Plivo-Signature-V2`) signs only the URL and the nonce, not the body, so a forged
//! body would pass: sluice does not accept it. Plivo signs no timestamp, so there is no
//! replay window to check.

use std::collections::BTreeMap;

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

const SIGNATURE: &str = "X-Plivo-Signature-V3";
const MAIN_ACCOUNT_SIGNATURE: &str = "X-Plivo-Signature-Ma-V3";
const NONCE: &str = "X-Plivo-Signature-V3-Nonce";

/// Verifies a Plivo V3 signature.
pub(crate) fn verify(key: &[u8], req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    let signature = util::header(req, SIGNATURE)?;
    let nonce = util::header(req, NONCE)?;
    let mut candidates = Vec::new();
    for value in [
        Some(signature),
        util::opt_header(req, MAIN_ACCOUNT_SIGNATURE)?,
    ]
    .into_iter()
    .flatten()
    {
        for sig in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            candidates.push(util::decode_base64(sig)?);
        }
    }
    let mut message = sorted_url(req.url);
    if req.method == http::Method::POST {
        message.push('.');
        if util::is_form_encoded(req) {
            message.push_str(&sorted_params(req.body));
        } else {
            let body = std::str::from_utf8(req.body)
                .map_err(|_| WebhookError::malformed("body is not UTF-8"))?;
            message.push_str(body);
        }
    }
    message.push('.');
    message.push_str(nonce);
    let expected = util::hmac(Alg::Sha256, key, &[message.as_bytes()])?;
    util::match_any(&expected, candidates)?;
    Ok(Verification::Verified)
}

/// Groups decoded `key=value` pairs by key (keys sorted), each key's values sorted.
fn grouped(pairs: impl Iterator<Item = (String, String)>) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k).or_default().push(v);
    }
    for values in map.values_mut() {
        values.sort();
    }
    map
}

/// The URL without fragment, its query parameters sorted by name as `?k=v&k=v`.
fn sorted_url(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let params = grouped(form_urlencoded::parse(query.as_bytes()).into_owned());
    if params.is_empty() {
        return base.to_owned();
    }
    let query: Vec<String> = params
        .iter()
        .flat_map(|(k, values)| values.iter().map(move |v| format!("{k}={v}")))
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// Form parameters sorted by name as `name value value name value` without separators.
fn sorted_params(body: &[u8]) -> String {
    grouped(form_urlencoded::parse(body).into_owned())
        .into_iter()
        .map(|(k, values)| k + &values.concat())
        .collect()
}
