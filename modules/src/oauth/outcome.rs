//! What the gate tells the rest of the policy and the request's event: the
//! `actions.ngrok.oauth` / `actions.ngrok.openid_connect` results, the login record, and the
//! answer to a refused login.

use cel::Value;
use http::header::SET_COOKIE;
use sluice_policy::cel::value::{map, string};
use sluice_policy::{Flow, HttpCx, LoginDecision, LoginRecord, PhaseCx, SyntheticResponse};

use super::error::AuthError;
use super::gate::{Gate, Here, Idp, timestamp};
use super::session::{Identity, Session};

impl Gate {
    /// Answers a failed step with its status and code, clearing the pending login.
    pub(super) fn refuse(
        &self,
        cx: &mut HttpCx<'_>,
        here: &Here,
        err: AuthError,
        clear: bool,
    ) -> Flow {
        tracing::info!(action = self.action, code = err.code(), %err, "login refused");
        let message = err.to_string();
        let code = format!("ERR_SLUICE_{}", err.code());
        cx.set_result(
            self.result,
            map([(
                "error",
                map([("code", string(code)), ("message", string(message.clone()))]),
            )]),
        );
        Self::record(cx, here, LoginDecision::Deny, None);
        let mut response = SyntheticResponse::error(err.status(), err.code(), &message);
        if clear && let Some(v) = here.scope.clear(&self.cookies.nonce) {
            response.headers.append(SET_COOKIE, v);
        }
        Flow::Respond(response)
    }

    /// Records the decision for the request's event: the app's client id and the user, never
    /// tokens or cookies.
    pub(super) fn record(
        cx: &mut HttpCx<'_>,
        here: &Here,
        decision: LoginDecision,
        identity: Option<&Identity>,
    ) {
        cx.record_login(LoginRecord {
            app_client_id: here.client_id.clone(),
            decision,
            user_id: identity
                .map(|i| i.provider_user_id.clone())
                .unwrap_or_default(),
            user_name: identity.map(|i| i.name.clone()).unwrap_or_default(),
        });
    }

    pub(super) fn set_results(
        &self,
        cx: &mut HttpCx<'_>,
        session: Option<&Session>,
        timed_out: bool,
        max_reached: bool,
        refreshed: bool,
    ) {
        let empty = Session {
            id: String::new(),
            identity: Identity::default(),
            provider_session_id: String::new(),
            id_token: String::new(),
            access_token: String::new(),
            refresh_token: String::new(),
            expires_at: 0,
            created: 0,
            last_seen: 0,
            userinfo_at: 0,
            config: String::new(),
        };
        let s = session.unwrap_or(&empty);
        let oidc = matches!(self.idp, Idp::Oidc(_));
        let (session_key, session_value) = if oidc {
            ("current_session_id", s.id.clone())
        } else {
            ("current_provider_session_id", s.provider_session_id.clone())
        };
        let identity = map([
            ("id", string(s.identity.provider_user_id.clone())),
            ("email", string(s.identity.email.clone())),
            ("name", string(s.identity.name.clone())),
            (
                "provider_user_id",
                string(s.identity.provider_user_id.clone()),
            ),
            (session_key, string(session_value)),
        ]);
        let refreshed_key = if oidc {
            "user_info_refreshed"
        } else {
            "userinfo_refreshed"
        };
        let mut entries = vec![
            ("identity", identity),
            ("access_token", string(s.access_token.clone())),
            ("refresh_token", string(s.refresh_token.clone())),
            ("expires_at", timestamp(s.expires_at)),
            ("session_timed_out", Value::Bool(timed_out)),
            ("session_max_duration_reached", Value::Bool(max_reached)),
            (refreshed_key, Value::Bool(refreshed)),
        ];
        if oidc {
            entries.push(("identity_token", string(s.id_token.clone())));
            // The pricing page's spelling, so either name works.
            entries.push(("userinfo_refreshed", Value::Bool(refreshed)));
        }
        cx.set_result(self.result, map(entries));
    }
}
