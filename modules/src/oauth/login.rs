//! The gate's two browser-facing steps that start and end a login: sending the browser to the
//! identity provider (with `state`, `nonce` and a PKCE challenge bound to the original path)
//! and `/ngrok/logout`. Split from `gate` so each file does one step.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use sluice_policy::{ActionError, Flow, HttpCx, LoginDecision, SyntheticResponse};

use super::gate::{
    CALLBACK_PATH, Gate, Here, Idp, LOGIN_TTL, internal, pkce_challenge, query_param, safe_path,
};
use super::seal::{self, SealKey};
use super::session::{self, PendingLogin};

impl Gate {
    /// Sends the browser to the provider's authorization endpoint.
    pub(super) async fn start_login(
        &self,
        cx: &mut HttpCx<'_>,
        here: &Here,
        key: &SealKey,
        back: String,
        force: bool,
    ) -> Result<Flow, ActionError> {
        let authorize = match &self.idp {
            Idp::Oidc(discovery) => match discovery.get(&self.caller).await {
                Ok(found) => found.doc.authorization_endpoint.clone(),
                Err(e) => return Ok(self.refuse(cx, here, e, false)),
            },
            Idp::OAuth { endpoints, .. } => endpoints.authorize.clone(),
        };
        let pending = (|| -> Result<PendingLogin, String> {
            Ok(PendingLogin {
                state: seal::random_token(24)?,
                nonce: seal::random_token(24)?,
                verifier: seal::random_token(32)?,
                redirect_path: back,
                started: here.now,
                config: self.fingerprint(&here.client_id),
            })
        })();
        let pending = match pending {
            Ok(p) => p,
            Err(e) => return Ok(self.refuse(cx, here, internal(e), false)),
        };
        let sealed = match session::seal(key, &self.cookies.nonce, &pending) {
            Ok(s) => s,
            Err(e) => return Ok(self.refuse(cx, here, internal(e), false)),
        };
        let redirect_uri = format!("{}{CALLBACK_PATH}", here.origin);
        let scope = self.scopes.join(" ");
        let challenge = pkce_challenge(&pending.verifier);
        let mut params = form_urlencoded::Serializer::new(String::new());
        params
            .append_pair("response_type", "code")
            .append_pair("client_id", &here.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &pending.state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if !scope.is_empty() {
            params.append_pair("scope", &scope);
        }
        if matches!(self.idp, Idp::Oidc(_)) {
            params.append_pair("nonce", &pending.nonce);
            if force && !self.authz_params.iter().any(|(k, _)| k == "prompt") {
                params.append_pair("prompt", "login");
            }
        }
        for (k, v) in &self.authz_params {
            params.append_pair(k, v);
        }
        let sep = if authorize.contains('?') { '&' } else { '?' };
        let location = format!("{authorize}{sep}{}", params.finish());
        let mut response = SyntheticResponse::empty(StatusCode::FOUND);
        if let Ok(v) = HeaderValue::from_str(&location) {
            response.headers.insert(LOCATION, v);
        }
        if let Some(v) = here
            .scope
            .set(&self.cookies.nonce, &sealed, Some(LOGIN_TTL))
        {
            response.headers.append(SET_COOKIE, v);
        }
        Self::record(cx, here, LoginDecision::Redirect, None);
        Ok(Flow::Respond(response))
    }

    pub(super) fn logout(&self, cx: &mut HttpCx<'_>, here: &Here, query: Option<&str>) -> Flow {
        self.set_results(cx, None, false, false, false);
        let mut response = match query_param(query, "redirect_path") {
            Some(p) => {
                let mut r = SyntheticResponse::empty(StatusCode::FOUND);
                if let Ok(v) = HeaderValue::from_str(&safe_path(Some(p))) {
                    r.headers.insert(LOCATION, v);
                }
                r
            }
            None => {
                let mut r = SyntheticResponse::empty(StatusCode::OK);
                r.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                r.body = Bytes::from_static(
                    b"<!doctype html><title>Logged out</title><h1 id=logged-out>You are logged out.</h1>\n",
                );
                r
            }
        };
        for name in [&self.cookies.session, &self.cookies.nonce] {
            if let Some(v) = here.scope.clear(name) {
                response.headers.append(SET_COOKIE, v);
            }
        }
        Self::record(cx, here, LoginDecision::Logout, None);
        Flow::Respond(response)
    }
}
