//! Hygraph (formerly GraphCMS): `gcms-signature: sign=<base64>, env=<environment>, t=<ms>`.
//! The signed message is the JSON text `{"Body":<body as a JSON string>,
//! "EnvironmentName":<env>,"TimeStamp":<t>}` (in that order, no spaces), and `sign` is its
//! base64 HMAC-SHA256 keyed with the webhook's secret key.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::util::{self, Alg};
use super::{Verification, WebhookError, WebhookRequest};

const SIGNATURE: &str = "gcms-signature";

/// The signed message, serialized in Hygraph's field order.
#[derive(Serialize)]
struct Signed<'a> {
    #[serde(rename = "Body")]
    body: &'a str,
    #[serde(rename = "EnvironmentName")]
    environment: &'a str,
    #[serde(rename = "TimeStamp")]
    timestamp: i64,
}

/// Verifies a Hygraph webhook.
pub(crate) fn verify(
    key: &[u8],
    req: &WebhookRequest<'_>,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verification, WebhookError> {
    let value = util::header(req, SIGNATURE)?;
    let (mut sign, mut env, mut ts) = (None, None, None);
    for (k, v) in util::kv_items(value, ',') {
        match k {
            "sign" => sign = Some(v),
            "env" => env = Some(v),
            "t" => ts = Some(v),
            _ => {}
        }
    }
    let (Some(sign), Some(env), Some(ts)) = (sign, env, ts) else {
        return Err(WebhookError::malformed(
            "gcms-signature lacks sign=, env= or t=",
        ));
    };
    let ts = util::parse_timestamp(ts)?;
    util::check_age_ms(i128::from(ts), now, tolerance)?;
    let body = std::str::from_utf8(req.body)
        .map_err(|_| WebhookError::malformed("the body is not UTF-8 text"))?;
    let signed = serde_json::to_string(&Signed {
        body,
        environment: env,
        timestamp: ts,
    })
    .map_err(|_| WebhookError::malformed("the signed message cannot be built"))?;
    let provided = util::decode_base64(sign)?;
    let expected = util::hmac(Alg::Sha256, key, &[signed.as_bytes()])?;
    util::match_any(&expected, [provided])?;
    Ok(Verification::Verified)
}
