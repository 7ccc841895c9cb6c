//! Keeping a logged-in session current, as ngrok does: when the access token has expired (or
//! is about to) and the provider gave a refresh token, the token is renewed with the
//! `refresh_token` grant (a new ID token is validated like the login's and must name the same
//! user); every `userinfo_refresh_interval` the user info is read again. A provider that
//! refuses either sends the user through the login again.

use sluice_policy::{HttpCx, PhaseCx};

use super::client::{self, ClientAuth, RefreshGrant};
use super::error::AuthError;
use super::gate::{Gate, Here, Idp};
use super::session::Session;

/// An access token is renewed this many seconds before it expires.
const RENEW_EARLY: u64 = 5;

/// What [`Gate::freshen`] renewed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Freshness {
    /// The tokens, with the refresh token.
    pub tokens: bool,
    /// The user info.
    pub userinfo: bool,
}

impl Gate {
    /// Renews what is due in `session`: the tokens when the access token has expired and a
    /// refresh token is at hand, the user info every `userinfo_refresh_interval`.
    pub(super) async fn freshen(
        &self,
        cx: &mut HttpCx<'_>,
        here: &Here,
        session: &mut Session,
    ) -> Result<Freshness, AuthError> {
        let mut done = Freshness::default();
        if !session.refresh_token.is_empty()
            && session.expires_at != 0
            && here.now.saturating_add(RENEW_EARLY) >= session.expires_at
        {
            self.renew_tokens(cx, here, session).await?;
            done.tokens = true;
        }
        if let Some(every) = self.userinfo_refresh
            && here.now >= session.userinfo_at.saturating_add(every.as_secs())
            && !session.access_token.is_empty()
        {
            let Some(found) = self
                .userinfo(&here.client_id, &session.access_token)
                .await?
            else {
                // An OIDC issuer without a user-info endpoint: nothing to read again.
                return Ok(done);
            };
            if found.provider_user_id != session.identity.provider_user_id {
                return Err(AuthError::Provider(
                    "the user info names another user than the session's".into(),
                ));
            }
            if !found.email.is_empty() {
                session.identity.email = found.email;
            }
            if !found.name.is_empty() {
                session.identity.name = found.name;
            }
            session.userinfo_at = here.now;
            done.userinfo = true;
        }
        Ok(done)
    }

    /// The `refresh_token` grant; the session takes the new tokens.
    async fn renew_tokens(
        &self,
        cx: &mut HttpCx<'_>,
        here: &Here,
        session: &mut Session,
    ) -> Result<(), AuthError> {
        let secret = self
            .secret(cx)
            .map_err(|e| AuthError::Internal(e.message))?;
        let (token_url, auth, found) = match &self.idp {
            Idp::Oidc(discovery) => {
                let found = discovery.get(&self.caller).await?;
                (
                    found.doc.token_endpoint.clone(),
                    found.client_auth(),
                    Some(found),
                )
            }
            Idp::OAuth { endpoints, .. } => (endpoints.token.clone(), ClientAuth::Post, None),
        };
        let tokens = client::refresh(
            &self.caller,
            RefreshGrant {
                token_url: &token_url,
                refresh_token: &session.refresh_token,
                client_id: &here.client_id,
                client_secret: &secret,
                auth,
            },
        )
        .await?;
        if let (Some(found), Some(id_token)) = (&found, &tokens.id_token) {
            let policy = found.id_token_policy(&here.client_id)?;
            let verified = found
                .keys
                .verify(id_token, &policy, cx.now())
                .await
                .map_err(|e| AuthError::IdToken(e.to_string()))?;
            let sub = verified.payload().get("sub").and_then(|s| s.as_str());
            if sub != Some(session.identity.provider_user_id.as_str()) {
                return Err(AuthError::IdToken(
                    "the refreshed ID token names another user".into(),
                ));
            }
            session.id_token = id_token.clone();
        }
        if !tokens.access_token.is_empty() {
            session.access_token = tokens.access_token;
        }
        if let Some(renewed) = tokens.refresh_token {
            session.refresh_token = renewed;
        }
        session.expires_at = tokens.expires_in.map_or(0, |s| here.now.saturating_add(s));
        tracing::debug!(
            action = self.action,
            user = %session.identity.provider_user_id,
            "access token renewed"
        );
        Ok(())
    }
}
