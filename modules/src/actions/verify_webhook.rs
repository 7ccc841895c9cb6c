//! `verify-webhook`: checks a webhook request's signature with the provider's documented
//! scheme (see [`crate::webhook`]) before it is forwarded.
//!
//! The body is buffered (at most [`BODY_LIMIT`] bytes; a larger body fails verification) and
//! still forwarded afterwards. Verified requests continue; a provider's URL-validation
//! handshake (Twitter CRC, Worldline, Xero, Zoom, Dropbox) is answered by the action itself.
//! A failed verification answers `403` (`401` for Xero) with `ERR_SLUICE_3204`, unless
//! `enforce: false`. `webhook-validation`, the older name some ngrok integration pages use,
//! loads with a warning.
//! Amazon SNS (`provider: sns`) takes no `secret`: its messages are RSA-signed by an AWS
//! certificate, fetched from the message's `SigningCertURL` and cached.
//! Result variables: `actions.ngrok.verify_webhook.verified` and, on failure,
//! `actions.ngrok.verify_webhook.error.{code,message}`; they never contain the secret.

use async_trait::async_trait;
use cel::Value;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string};
use sluice_policy::values::RequestUrl;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};

use crate::webhook::{self, Provider, SnsCertificates, Verification, WebhookRequest};

/// The largest body the action buffers to verify (10 MiB).
pub const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The error code of a failed verification (`ERR_SLUICE_3204`).
const CODE: u16 = 3204;

/// Config of `verify-webhook`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyWebhookConfig {
    /// Provider id as ngrok spells it (`github`, `stripe`, `slack`, `zoom`, ...). Required.
    #[schemars(schema_with = "provider_schema")]
    pub provider: String,
    /// The signing secret; `${…}` allowed. Required for every provider but `sns`, which
    /// refuses one.
    #[serde(default)]
    pub secret: String,
    /// Reject requests that fail verification. Default true.
    #[serde(default = "default_enforce")]
    pub enforce: bool,
}

/// `provider` in the JSON Schema: one of the supported ids or their aliases.
fn provider_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut ids: Vec<&str> = Provider::all().iter().map(Provider::id).collect();
    ids.extend(Provider::aliases().iter().map(|(alias, _)| *alias));
    ids.sort_unstable();
    schemars::json_schema!({
        "type": "string",
        "enum": ids,
        "description": "Provider id as ngrok spells it. Required."
    })
}

fn default_enforce() -> bool {
    true
}

impl Default for VerifyWebhookConfig {
    fn default() -> Self {
        VerifyWebhookConfig {
            provider: String::new(),
            secret: String::new(),
            enforce: true,
        }
    }
}

/// The built action.
pub struct VerifyWebhook {
    provider: Provider,
    /// `None` for `sns`, which takes no secret.
    secret: Option<Template>,
    enforce: bool,
    /// Amazon SNS signing certificates, for `sns` only.
    sns_certs: Option<SnsCertificates>,
}

impl VerifyWebhook {
    /// Records a failure and rejects (or continues when not enforcing).
    fn fail(&self, cx: &mut HttpCx<'_>, message: String) -> Flow {
        cx.set_result(
            "verify_webhook",
            map([
                ("verified", Value::Bool(false)),
                (
                    "error",
                    map([
                        ("code", string(webhook::ERROR_CODE)),
                        ("message", string(message.clone())),
                    ]),
                ),
            ]),
        );
        if !self.enforce {
            return Flow::Continue;
        }
        Flow::Respond(SyntheticResponse::error(
            self.provider.failure_status(),
            CODE,
            &format!("Request failed webhook verification: {message}"),
        ))
    }
}

#[async_trait]
impl Action for VerifyWebhook {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let secret = match &self.secret {
            Some(template) => template
                .render(cx.scope())
                .map_err(|e| ActionError::interpolation(Self::TYPE, "secret", e))?,
            None => String::new(),
        };
        let body = match cx.read_request_body(BODY_LIMIT).await {
            Ok(body) => body,
            Err(e) => return Ok(self.fail(cx, format!("the request body cannot be verified: {e}"))),
        };
        let url = RequestUrl::of(cx.request(), cx.endpoint()).full();
        let now = cx.now();
        let outcome = {
            let head = cx.request();
            let req = WebhookRequest {
                method: &head.method,
                url: &url,
                headers: &head.headers,
                body: &body,
            };
            webhook::verify(self.provider, &secret, &req, now, self.sns_certs.as_ref()).await
        };
        match outcome {
            Ok(verification) => {
                cx.set_result("verify_webhook", map([("verified", Value::Bool(true))]));
                Ok(match verification {
                    Verification::Verified => Flow::Continue,
                    Verification::Challenge(response) => {
                        let (parts, body) = response.into_parts();
                        Flow::Respond(SyntheticResponse {
                            status: parts.status,
                            headers: parts.headers,
                            body,
                        })
                    }
                })
            }
            Err(e) => Ok(self.fail(cx, e.to_string())),
        }
    }

    fn summary(&self) -> String {
        let mode = if self.enforce { "rejects" } else { "reports" };
        format!(
            "verifies {} webhook signatures; {mode} failures",
            self.provider
        )
    }
}

impl TypedAction for VerifyWebhook {
    type Config = VerifyWebhookConfig;
    const TYPE: &'static str = "verify-webhook";
    const DEPRECATED_ALIASES: &'static [&'static str] = &["webhook-validation"];
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const ABOUT: &'static str = "Verifies a webhook request's signature for the given provider; \
        rejects unverified requests with 403 and answers providers' URL-validation challenges.";

    fn build(config: VerifyWebhookConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let provider = match config.provider.parse::<Provider>() {
            Ok(p) => Some(p),
            Err(e) => {
                cx.error_at(Code::InvalidValue, "provider", e.to_string());
                None
            }
        };
        let provider = provider?;
        if !provider.takes_secret() {
            if !config.secret.is_empty() {
                cx.error_at(
                    Code::InvalidValue,
                    "secret",
                    "sns takes no secret: Amazon SNS messages are signed by AWS's certificate",
                );
                return None;
            }
            let sns_certs = match SnsCertificates::new() {
                Ok(certs) => certs,
                Err(e) => {
                    cx.error_at(Code::InvalidValue, "provider", e.to_string());
                    return None;
                }
            };
            return Some(VerifyWebhook {
                provider,
                secret: None,
                enforce: config.enforce,
                sns_certs: Some(sns_certs),
            });
        }
        if config.secret.is_empty() {
            cx.error_at(Code::InvalidValue, "secret", "must not be empty");
            return None;
        }
        let secret = cx.template("secret", &config.secret)?;
        if let Some(text) = secret.as_static()
            && let Err(e) = webhook::validate_secret(provider, text)
        {
            cx.error_at(Code::InvalidValue, "secret", e.to_string());
            return None;
        }
        Some(VerifyWebhook {
            provider,
            secret: Some(secret),
            enforce: config.enforce,
            sns_certs: None,
        })
    }
}
