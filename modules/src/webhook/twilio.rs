//! Twilio: `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed with the
//! account's auth token, of the full request URL followed by every form
//! parameter of a `application/x-www-form-urlencoded` body as `key + value`,
//! sorted by key (then value). Requests with a JSON (or other) body instead
//! carry a `bodySHA256` query parameter, the hex SHA-256 of the body; the URL
//! alone is then signed.
//!
//! Like Twilio's helper libraries, the URL is tried both without its port and
//! with the scheme's default port added, since Twilio may sign either form.

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

const SIGNATURE: &str = "X-Twilio-Signature";

/// Verifies a Twilio request signature.
pub(crate) fn verify(key: &[u8], req: &WebhookRequest<'_>) -> Result<Verification, WebhookError> {
    let provided = util::decode_base64(util::header(req, SIGNATURE)?)?;

    let params = if let Some(body_hash) = util::query_param(req.url, "bodySHA256") {
        let claimed = util::decode_hex(&body_hash)?;
        if !util::ct_eq(&claimed, &util::sha256(req.body)) {
            return Err(WebhookError::SignatureMismatch);
        }
        String::new()
    } else if util::is_form_encoded(req) {
        sorted_params(req.body)
    } else if req.body.is_empty() {
        String::new()
    } else {
        // The signature would not cover the body: never accept that.
        return Err(WebhookError::malformed(
            "body is neither form-encoded nor covered by a bodySHA256 parameter",
        ));
    };

    let mut matched = false;
    for url in url_variants(req.url) {
        let expected = util::hmac(Alg::Sha1, key, &[url.as_bytes(), params.as_bytes()])?;
        matched |= util::ct_eq(&expected, &provided);
    }
    if matched {
        Ok(Verification::Verified)
    } else {
        Err(WebhookError::SignatureMismatch)
    }
}

/// Decoded form parameters concatenated as `key value key value ...` (no
/// separators), sorted by key then value, identical pairs counted once.
pub(crate) fn sorted_params(body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    pairs.dedup();
    pairs.into_iter().map(|(k, v)| k + &v).collect()
}

/// The URL without any port, and with the scheme's default port when it has none.
fn url_variants(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let port_start = if hostport.starts_with('[') {
        hostport.find("]:").map(|i| i + 1)
    } else {
        hostport.rfind(':')
    };
    let (host, port) = match port_start {
        Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
        None => (hostport, None),
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    };
    let without_port = format!("{scheme}://{userinfo}{host}{tail}");
    let with_port = match port.or(default_port) {
        Some(port) => format!("{scheme}://{userinfo}{host}:{port}{tail}"),
        None => without_port.clone(),
    };
    let mut variants = vec![without_port];
    if with_port != variants[0] {
        variants.push(with_port);
    }
    variants
}

#[cfg(test)]
mod unit {
    use super::url_variants;

    #[test]
    fn url_variants_toggle_the_port() {
        assert_eq!(
            url_variants("https://a.test/x?y=1"),
            ["https://a.test/x?y=1", "https://a.test:443/x?y=1"]
        );
        assert_eq!(
            url_variants("http://u:p@a.test:8080"),
            ["http://u:p@a.test", "http://u:p@a.test:8080"]
        );
        assert_eq!(
            url_variants("https://[::1]:443/"),
            ["https://[::1]/", "https://[::1]:443/"]
        );
        assert_eq!(url_variants("not a url"), ["not a url"]);
    }
}
