//! The `oauth` part of `http_request_complete.v0`: what a login action (`oauth` or
//! `openid-connect`) decided about the request, with ngrok's field names (`oauth.app_client_id`,
//! `oauth.decision`, `oauth.user.id`, `oauth.user.name`). Never tokens or cookies.

use serde::Serialize;
use sluice_policy::LoginRecord;

/// What a login action decided about a request.
#[derive(Debug, Serialize)]
pub struct OAuthEvent {
    /// The client id of the app at the identity provider.
    pub app_client_id: String,
    /// `allow`, `redirect`, `login`, `logout` or `deny`.
    pub decision: &'static str,
    /// The user, when one is known.
    pub user: OAuthUser,
}

/// The user of a login decision.
#[derive(Debug, Serialize)]
pub struct OAuthUser {
    /// The user's id at the provider (empty when unknown).
    pub id: String,
    /// The user's name (empty when unknown).
    pub name: String,
}

impl From<&LoginRecord> for OAuthEvent {
    fn from(r: &LoginRecord) -> Self {
        OAuthEvent {
            app_client_id: r.app_client_id.clone(),
            decision: r.decision.as_str(),
            user: OAuthUser {
                id: r.user_id.clone(),
                name: r.user_name.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_policy::LoginDecision;

    #[test]
    fn a_login_decision_has_ngroks_field_names() {
        let event = OAuthEvent::from(&LoginRecord {
            app_client_id: "app-1".into(),
            decision: LoginDecision::Allow,
            user_id: "u-7".into(),
            user_name: "Alice".into(),
        });
        assert_eq!(
            serde_json::to_string(&event).expect("serializes"),
            r#"{"app_client_id":"app-1","decision":"allow","user":{"id":"u-7","name":"Alice"}}"#
        );
    }
}
