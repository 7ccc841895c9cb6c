//! `url-rewrite`: changes the URL the upstream receives; the client never sees it.
//!
//! `${…}` in `from` and `to` is interpolated first (not escaped). Every match of `from` in the
//! whole URL (`https://app.example.com/path?q=1`) is replaced by `to` (`$1`, `${1}` and
//! `$name` refer to capture groups); without `from` the whole URL becomes `to`. The request's
//! path and query are then set from the result, and its `host` when the host changed. A
//! result that is only a path (`/new?x=1`) keeps the host.

use async_trait::async_trait;
use http::HeaderValue;
use http::uri::{Authority, PathAndQuery, Uri};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_policy::cel::Template;
use sluice_policy::cel::value::{map, string, string_list};
use sluice_policy::values::RequestUrl;
use sluice_policy::{
    Action, ActionError, BuildCx, Code, Flow, HttpCx, Phase, PhaseCx, Termination, TypedAction,
};

use super::redirect::error_value;
use crate::find_replace::{Pattern, groups, render_to, to_template, verbatim};

/// Name of the result variable, `actions.ngrok.url_rewrite`.
const RESULT: &str = "url_rewrite";

/// Config of `url-rewrite`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlRewriteConfig {
    /// Regular expression matched against the whole URL; `${…}` allowed. Absent: the whole
    /// URL is replaced.
    #[serde(default)]
    pub from: Option<String>,
    /// The replacement; `${…}` allowed, `$1`/`${1}` refer to capture groups. Required.
    pub to: String,
}

/// The built action.
pub struct UrlRewrite {
    from: Option<Pattern<regex::Regex>>,
    to: Template,
}

impl UrlRewrite {
    /// The new URL and the capture groups of every match, in order.
    fn target(&self, cx: &HttpCx<'_>, url: &str) -> Result<(String, Vec<String>), ActionError> {
        let to_error = |e| ActionError::interpolation(Self::TYPE, "to", e);
        let Some(from) = &self.from else {
            let to = render_to(&self.to, cx.scope(), verbatim, false).map_err(to_error)?;
            return Ok((to, Vec::new()));
        };
        let regex = from.resolve(cx.scope(), verbatim, Self::TYPE, "from")?;
        let matches: Vec<String> = regex.captures_iter(url).flat_map(|c| groups(&c)).collect();
        if matches.is_empty() {
            return Ok((url.to_string(), matches));
        }
        let to = render_to(&self.to, cx.scope(), verbatim, true).map_err(to_error)?;
        Ok((regex.replace_all(url, to.as_str()).into_owned(), matches))
    }

    fn run(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        let old = RequestUrl::of(cx.request(), cx.endpoint());
        let url = old.full();
        let result = self
            .target(cx, &url)
            .and_then(|(new, matches)| apply(cx, &old, &new).map(|()| (new, matches)));
        match result {
            Ok((new, matches)) => {
                cx.set_result(
                    RESULT,
                    map([("matches", string_list(matches)), ("url", string(new))]),
                );
                Ok(Flow::Continue)
            }
            Err(e) => {
                cx.set_result(RESULT, error_value(&e));
                Err(e)
            }
        }
    }
}

/// Points the request at `new` (when it differs from `old`).
fn apply(cx: &mut HttpCx<'_>, old: &RequestUrl, new: &str) -> Result<(), ActionError> {
    if new == old.full() {
        return Ok(());
    }
    let invalid = || {
        ActionError::internal(format!(
            "url-rewrite produced {new:?}, which is not an absolute URL or a path"
        ))
    };
    let uri: Uri = new.parse().map_err(|_| invalid())?;
    let pq: PathAndQuery = match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => pq.clone(),
        _ => PathAndQuery::from_static("/"),
    };
    if uri.scheme().is_none() && !new.starts_with('/') {
        return Err(invalid());
    }
    let authority: Option<Authority> = uri.authority().map(|a| {
        let default = matches!(
            (uri.scheme_str(), a.port_u16()),
            (Some("http"), Some(80)) | (Some("https"), Some(443))
        );
        match (default, a.host().parse()) {
            (true, Ok(host)) => host,
            _ => a.clone(),
        }
    });
    let host_changed = authority
        .as_ref()
        .is_some_and(|a| !a.as_str().eq_ignore_ascii_case(&old.authority()));
    let host_value = match (&authority, host_changed) {
        (Some(a), true) => Some(HeaderValue::from_str(a.as_str()).map_err(|_| invalid())?),
        _ => None,
    };
    let req = cx.request_mut();
    let mut parts = req.uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    if parts.authority.is_some()
        && let Some(a) = authority
    {
        // An absolute-form request keeps its form, pointing at the new host.
        parts.authority = Some(a);
        parts.scheme = uri.scheme().cloned().or(parts.scheme);
    }
    req.uri = Uri::from_parts(parts).map_err(|_| invalid())?;
    if let Some(h) = host_value {
        req.headers.insert(http::header::HOST, h);
    }
    Ok(())
}

#[async_trait]
impl Action for UrlRewrite {
    async fn on_http_request(&self, cx: &mut HttpCx<'_>) -> Result<Flow, ActionError> {
        self.run(cx)
    }
    fn summary(&self) -> String {
        match &self.from {
            Some(from) => format!("rewrites {} → {}", from.source(), self.to.source()),
            None => format!("rewrites the URL to {}", self.to.source()),
        }
    }
}

impl TypedAction for UrlRewrite {
    type Config = UrlRewriteConfig;
    const TYPE: &'static str = "url-rewrite";
    const PHASES: &'static [Phase] = &[Phase::HttpRequest];
    const TERMINATION: Termination = Termination::Never;
    const ABOUT: &'static str =
        "Rewrites the URL sent upstream, replacing every match of `from` with `to`.";

    fn build(config: UrlRewriteConfig, cx: &mut BuildCx<'_>) -> Option<Self> {
        if config.to.is_empty() {
            cx.error_at(Code::InvalidValue, "to", "give the URL to rewrite to");
        }
        let from = config
            .from
            .as_deref()
            .map(|f| Pattern::build(cx, "from", f));
        let to = to_template(cx, "to", &config.to);
        if cx.failed() {
            return None;
        }
        Some(UrlRewrite {
            from: from.map(|f| f.ok_or(())).transpose().ok()?,
            to: to?,
        })
    }
}
