//! `redirect`: answers with a 3xx and a `Location` computed from the request URL.
//!
//! `${…}` in `from` and `to` is interpolated first, with the interpolated values URL-escaped
//! (`San Francisco` → `San%20Francisco`). `from` is then matched, unanchored, against the
//! whole URL (`https://app.example.com/path?q=1`) and its first match replaced by `to`
//! (`$1`, `${1}` and `$name` refer to capture groups); without `from` the whole URL becomes
//! `to`. When the result equals the URL, nothing happens. Beware that `from: /old` with
//! `to: https://new.example.com/` replaces only the matched part, giving
//! `https://app.example.com` + `https://new.example.com/`: anchor with `^https?://[^/]+/old`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cel::Value;
use http::{HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string, string_list};
use sluice_policy::values::RequestUrl;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, SyntheticResponse,
    Termination, TypedAction,
};

use crate::find_replace::{Pattern, groups, render_to, to_template, url_escape};
use crate::scalar_text::ScalarText;
use crate::util::{HeaderTemplates, header_templates, render_headers};

/// Name of the result variable, `actions.ngrok.redirect`.
const RESULT: &str = "redirect";

/// Config of `redirect`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// Regular expression matched against the whole URL; `${…}` allowed. Absent: the whole
    /// URL is replaced.
    #[serde(default)]
    pub from: Option<String>,
    /// The replacement; `${…}` allowed, `$1`/`${1}` refer to capture groups. Required.
    pub to: String,
    /// Status to answer with (default 302); must be 3xx.
    #[serde(default = "default_status")]
    #[schemars(range(min = 300, max = 399))]
    pub status_code: u16,
    /// Extra response headers; values may use `${…}`. At most 10.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub headers: BTreeMap<String, ScalarText>,
}

fn default_status() -> u16 {
    302
}

impl Default for RedirectConfig {
    fn default() -> Self {
        RedirectConfig {
            from: None,
            to: String::new(),
            status_code: default_status(),
            headers: BTreeMap::new(),
        }
    }
}

/// The built action.
pub struct Redirect {
    from: Option<Pattern<regex::Regex>>,
    to: Template,
    status: StatusCode,
    headers: HeaderTemplates,
}

impl Redirect {
    /// The new URL and the capture groups of the match.
    fn target(&self, cx: &HttpCx<'_>, url: &str) -> Result<(String, Vec<String>), ActionError> {
        let to_error = |e| ActionError::interpolation(Self::TYPE, "to", e);
        let Some(from) = &self.from else {
            let to = render_to(&self.to, cx.scope(), url_escape, false).map_err(to_error)?;
            return Ok((to, Vec::new()));
        };
        let regex = from.resolve(cx.scope(), url_escape, Self::TYPE, "from")?;
        let Some(caps) = regex.captures(url) else {
            return Ok((url.to_string(), Vec::new()));
        };
        let to = render_to(&self.to, cx.scope(), url_escape, true).map_err(to_error)?;
        Ok((regex.replace(url, to.as_str()).into_owned(), groups(&caps)))
    }

    fn run(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let url = RequestUrl::of(cx.request(), cx.endpoint()).full();
        let (new, matches) = match self.target(cx, &url) {
            Ok(found) => found,
            Err(e) => {
                cx.set_result(RESULT, error_value(&e));
                return Err(e);
            }
        };
        cx.set_result(
            RESULT,
            map([
                ("matches", string_list(matches)),
                ("url", string(new.clone())),
            ]),
        );
        if new == url {
            return Ok(Flow::Continue);
        }
        let location = HeaderValue::from_str(&new).map_err(|_| {
            ActionError::interpolation(Self::TYPE, "to", "the new URL is not a valid header value")
        })?;
        let mut response = SyntheticResponse::empty(self.status);
        for (name, value) in render_headers(cx.scope(), Self::TYPE, &self.headers)? {
            response.headers.append(name, value);
        }
        response.headers.insert(http::header::LOCATION, location);
        Ok(Flow::Respond(response))
    }
}

/// `{error: {code, message}}` for the result variable.
pub(crate) fn error_value(e: &ActionError) -> Value {
    map([(
        "error",
        map([
            ("code", string(format!("ERR_SLUICE_{}", e.code))),
            ("message", string(e.message.clone())),
        ]),
    )])
}

#[async_trait]
impl Action for Redirect {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
    fn summary(&self) -> String {
        match &self.from {
            Some(from) => format!(
                "redirects ({}) {} → {}",
                self.status.as_u16(),
                from.source(),
                self.to.source()
            ),
            None => format!(
                "redirects ({}) to {}",
                self.status.as_u16(),
                self.to.source()
            ),
        }
    }
}

impl TypedAction for Redirect {
    type Config = RedirectConfig;
    const TYPE: &'static str = "redirect";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::WhenRejecting;
    const ABOUT: &'static str =
        "Redirects (3xx + Location) to the URL made by replacing the match of `from` with `to`.";

    fn build(config: RedirectConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        let status = match StatusCode::from_u16(config.status_code) {
            Ok(s) if s.is_redirection() => Some(s),
            _ => {
                cx.error_at(
                    Code::OutOfRange,
                    "status_code",
                    "must be a 3xx redirect status (300 to 399)",
                );
                None
            }
        };
        if config.to.is_empty() {
            cx.error_at(Code::InvalidValue, "to", "give the URL to redirect to");
        }
        let from = config
            .from
            .as_deref()
            .map(|f| Pattern::build(cx, "from", f));
        let to = to_template(cx, "to", &config.to);
        let headers = header_templates(cx, "headers", &config.headers, 10, &[]);
        if cx.failed() {
            return None;
        }
        Some(Redirect {
            from: from.map(|f| f.ok_or(())).transpose().ok()?,
            to: to?,
            status: status?,
            headers: headers?,
        })
    }
}
