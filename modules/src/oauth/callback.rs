//! The identity provider's redirect back to [`CALLBACK_PATH`]: the pending login is checked
//! against `state`, the code is redeemed with the PKCE verifier, the ID token is validated
//! (signature, `iss`, `aud`, `exp`, `nonce`; OIDC), the user info is read, and the session
//! cookie is set.

use http::header::{LOCATION, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use sluice_policy::{Flow, HttpCx, LoginDecision, PhaseCx, SyntheticResponse};
use subtle::ConstantTimeEq as _;

use super::client::{self, ClientAuth, CodeGrant, Tokens};
use super::cookie;
use super::error::AuthError;
use super::gate::{CALLBACK_PATH, Gate, Here, Idp, LOGIN_TTL, internal, query_param};
use super::provider::{self, Shape};
use super::seal::{self, SealKey};
use super::session::{self, Identity, PendingLogin, Session};

impl Gate {
    /// Answers the provider's redirect back: checks `state` against this browser's pending
    /// login, redeems the code with the PKCE verifier, validates the ID token (OIDC), reads
    /// the user info, and sets the session.
    pub(super) async fn callback(
        &self,
        cx: &mut HttpCx<'_>,
        here: &Here,
        key: &SealKey,
        query: Option<&str>,
    ) -> Result<Flow, AuthError> {
        let text =
            cookie::get(&cx.request().headers, &self.cookies.nonce).ok_or(AuthError::State)?;
        let pending = session::open::<PendingLogin>(key, &self.cookies.nonce, &text)
            .ok_or(AuthError::LoginCookie)?;
        if here.now >= pending.started.saturating_add(LOGIN_TTL)
            || pending.config != self.fingerprint(&here.client_id)
        {
            return Err(AuthError::LoginCookie);
        }
        let state = query_param(query, "state").ok_or(AuthError::State)?;
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(AuthError::State);
        }
        if let Some(error) = query_param(query, "error") {
            let detail = query_param(query, "error_description").unwrap_or_default();
            return Err(AuthError::Denied(
                format!("{error} {detail}").trim().to_string(),
            ));
        }
        let code = query_param(query, "code").ok_or(AuthError::NoCode)?;
        let secret = self
            .secret(cx)
            .map_err(|e| AuthError::Internal(e.message))?;
        let redirect_uri = format!("{}{CALLBACK_PATH}", here.origin);
        let (session_identity, tokens, sid) = match &self.idp {
            Idp::Oidc(discovery) => {
                let found = discovery.get(&self.caller).await?;
                let auth = found.client_auth();
                let tokens = client::redeem(
                    &self.caller,
                    CodeGrant {
                        token_url: &found.doc.token_endpoint,
                        code: &code,
                        redirect_uri: &redirect_uri,
                        verifier: &pending.verifier,
                        client_id: &here.client_id,
                        client_secret: &secret,
                        auth,
                    },
                )
                .await?;
                let id_token = tokens
                    .id_token
                    .clone()
                    .ok_or_else(|| AuthError::IdToken("the token endpoint sent none".into()))?;
                let policy = found.id_token_policy(&here.client_id)?;
                let verified = found
                    .keys
                    .verify(&id_token, &policy, cx.now())
                    .await
                    .map_err(|e| AuthError::IdToken(e.to_string()))?;
                let nonce = verified
                    .payload()
                    .get("nonce")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default();
                if !bool::from(nonce.as_bytes().ct_eq(pending.nonce.as_bytes())) {
                    return Err(AuthError::Nonce);
                }
                let mut identity = provider::identity(Shape::Oidc, verified.payload());
                if identity.provider_user_id.is_empty() {
                    return Err(AuthError::NoUserId);
                }
                if (identity.email.is_empty() || identity.name.is_empty())
                    && let Some(url) = &found.doc.userinfo_endpoint
                    && !tokens.access_token.is_empty()
                {
                    let doc =
                        client::get_json(&self.caller, url, &tokens.access_token, None).await?;
                    let more = provider::identity(Shape::Oidc, &doc);
                    if more.provider_user_id == identity.provider_user_id {
                        if identity.email.is_empty() {
                            identity.email = more.email;
                        }
                        if identity.name.is_empty() {
                            identity.name = more.name;
                        }
                    }
                }
                let sid = verified
                    .payload()
                    .get("sid")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string();
                (identity, tokens, sid)
            }
            Idp::OAuth { endpoints, .. } => {
                let tokens = client::redeem(
                    &self.caller,
                    CodeGrant {
                        token_url: &endpoints.token,
                        code: &code,
                        redirect_uri: &redirect_uri,
                        verifier: &pending.verifier,
                        client_id: &here.client_id,
                        client_secret: &secret,
                        auth: ClientAuth::Post,
                    },
                )
                .await?;
                let identity = self
                    .userinfo(&here.client_id, &tokens.access_token)
                    .await?
                    .ok_or(AuthError::NoUserId)?;
                (identity, tokens, String::new())
            }
        };
        let session = self.new_session(here, session_identity, tokens, sid)?;
        self.set_results(cx, Some(&session), false, false, false);
        let mut response = SyntheticResponse::empty(StatusCode::FOUND);
        if let Ok(v) = HeaderValue::from_str(&pending.redirect_path) {
            response.headers.insert(LOCATION, v);
        }
        if let Some(v) = self.session_cookie(key, here, &session) {
            response.headers.append(SET_COOKIE, v);
        }
        if let Some(v) = here.scope.clear(&self.cookies.nonce) {
            response.headers.append(SET_COOKIE, v);
        }
        Self::record(cx, here, LoginDecision::Login, Some(&session.identity));
        tracing::info!(user = %session.identity.provider_user_id, action = self.action, "login");
        Ok(Flow::Respond(response))
    }

    fn new_session(
        &self,
        here: &Here,
        identity: Identity,
        tokens: Tokens,
        sid: String,
    ) -> Result<Session, AuthError> {
        Ok(Session {
            id: seal::random_token(16).map_err(internal)?,
            identity,
            provider_session_id: sid,
            id_token: tokens.id_token.unwrap_or_default(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token.unwrap_or_default(),
            expires_at: tokens.expires_in.map_or(0, |s| here.now.saturating_add(s)),
            created: here.now,
            last_seen: here.now,
            userinfo_at: here.now,
            config: self.fingerprint(&here.client_id),
        })
    }
}
