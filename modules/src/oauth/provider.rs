//! The OAuth 2.0 providers `oauth` knows: each one's authorize, token and user-info endpoints
//! (overridable in config, e.g. for GitHub Enterprise or a test server), default scopes, and
//! how its user-info document names the user's id, email and name.

use serde_json::Value;

use super::session::Identity;

/// Where a provider's endpoints are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint the browser is sent to.
    pub authorize: String,
    /// The token endpoint the edge redeems the code at.
    pub token: String,
    /// The user-info endpoint, read with the access token.
    pub userinfo: String,
    /// GitHub's list of the user's addresses, read when the profile hides the email.
    pub emails: Option<String>,
}

/// How a provider's user-info document names things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// OpenID Connect claims: `sub`, `email`, `name`.
    Oidc,
    /// GitHub: `id` (a number), `email` (may be null), `name` or `login`.
    GitHub,
    /// GitLab: `id`, `email`, `name` or `username`.
    GitLab,
    /// Twitch Helix: `data[0].{id, email, display_name, login}`.
    Twitch,
    /// Facebook Graph `me`: `id`, `email`, `name`.
    Facebook,
    /// Login with Amazon: `user_id`, `email`, `name`.
    Amazon,
}

/// A built-in provider.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// Its `provider:` name.
    pub name: &'static str,
    authorize: &'static str,
    token: &'static str,
    userinfo: &'static str,
    emails: Option<&'static str>,
    /// Scopes asked for when the config gives none.
    pub default_scopes: &'static [&'static str],
    /// Its user-info shape.
    pub shape: Shape,
    /// Whether the user-info call also needs the `client-id` header (Twitch Helix).
    pub userinfo_needs_client_id: bool,
}

impl Provider {
    /// The built-in endpoints.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            authorize: self.authorize.to_string(),
            token: self.token.to_string(),
            userinfo: self.userinfo.to_string(),
            emails: self.emails.map(str::to_string),
        }
    }
}

/// Every provider of ngrok's `oauth` action.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "amazon",
        authorize: "https://www.amazon.com/ap/oa",
        token: "https://api.amazon.com/auth/o2/token",
        userinfo: "https://api.amazon.com/user/profile",
        emails: None,
        default_scopes: &["profile"],
        shape: Shape::Amazon,
        userinfo_needs_client_id: false,
    },
    Provider {
        name: "facebook",
        authorize: "https://www.facebook.com/v19.0/dialog/oauth",
        token: "https://graph.facebook.com/v19.0/oauth/access_token",
        userinfo: "https://graph.facebook.com/me?fields=id,name,email",
        emails: None,
        default_scopes: &["email", "public_profile"],
        shape: Shape::Facebook,
        userinfo_needs_client_id: false,
    },
    Provider {
        name: "github",
        authorize: "https://github.com/login/oauth/authorize",
        token: "https://github.com/login/oauth/access_token",
        userinfo: "https://api.github.com/user",
        emails: Some("https://api.github.com/user/emails"),
        default_scopes: &["read:user", "user:email"],
        shape: Shape::GitHub,
        userinfo_needs_client_id: false,
    },
    Provider {
        name: "gitlab",
        authorize: "https://gitlab.com/oauth/authorize",
        token: "https://gitlab.com/oauth/token",
        userinfo: "https://gitlab.com/api/v4/user",
        emails: None,
        default_scopes: &["read_user"],
        shape: Shape::GitLab,
        userinfo_needs_client_id: false,
    },
    Provider {
        name: "google",
        authorize: "https://accounts.google.com/o/oauth2/v2/auth",
        token: "https://oauth2.googleapis.com/token",
        userinfo: "https://openidconnect.googleapis.com/v1/userinfo",
        emails: None,
        default_scopes: &["openid", "email", "profile"],
        shape: Shape::Oidc,
        userinfo_needs_client_id: false,
    },
    Provider {
        name: "linkedin",
        authorize: "https://www.linkedin.com/oauth/v2/authorization",
        token: "https://www.linkedin.com/oauth/v2/accessToken",
        userinfo: "https://api.linkedin.com/v2/userinfo",
        emails: None,
        default_scopes: &["openid", "profile", "email"],
        shape: Shape::Oidc,
        userinfo_needs_client_id: false,
    },
    Provider {
        name: "microsoft",
        authorize: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        userinfo: "https://graph.microsoft.com/oidc/userinfo",
        emails: None,
        default_scopes: &["openid", "email", "profile"],
        shape: Shape::Oidc,
        userinfo_needs_client_id: false,
    },
    Provider {
        name: "twitch",
        authorize: "https://id.twitch.tv/oauth2/authorize",
        token: "https://id.twitch.tv/oauth2/token",
        userinfo: "https://api.twitch.tv/helix/users",
        emails: None,
        default_scopes: &["user:read:email"],
        shape: Shape::Twitch,
        userinfo_needs_client_id: true,
    },
];

/// The provider called `name`.
pub fn find(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name == name)
}

/// A JSON scalar as text (`id` is a number at GitHub and GitLab).
fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn first_of(doc: &Value, keys: &[&str]) -> String {
    keys.iter()
        .map(|k| text(doc.get(k)))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

/// Reads the user from a user-info document of the given shape.
pub fn identity(shape: Shape, doc: &Value) -> Identity {
    let doc = match shape {
        Shape::Twitch => doc
            .get("data")
            .and_then(|d| d.get(0))
            .unwrap_or(&Value::Null),
        _ => doc,
    };
    let (id, names): (&str, &[&str]) = match shape {
        Shape::Oidc => ("sub", &["name", "preferred_username"]),
        Shape::GitHub => ("id", &["name", "login"]),
        Shape::GitLab => ("id", &["name", "username"]),
        Shape::Twitch => ("id", &["display_name", "login"]),
        Shape::Facebook => ("id", &["name"]),
        Shape::Amazon => ("user_id", &["name"]),
    };
    Identity {
        provider_user_id: text(doc.get(id)),
        email: text(doc.get("email")),
        name: first_of(doc, names),
    }
}

/// The primary verified address from GitHub's `/user/emails` list.
pub fn primary_email(list: &Value) -> Option<String> {
    let entries = list.as_array()?;
    let verified = |e: &&Value| e.get("verified").and_then(Value::as_bool) == Some(true);
    entries
        .iter()
        .filter(verified)
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| entries.iter().find(verified))
        .map(|e| text(e.get("email")))
        .filter(|e| !e.is_empty())
}
