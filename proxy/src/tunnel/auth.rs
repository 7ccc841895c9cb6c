//! The tunnel listener's authenticator: authtokens from the edge config, compared in
//! constant time, each granting what its `allow` list says.

use async_trait::async_trait;
use sluice_tunnel::{AuthRejection, AuthRequest, Authenticator, BindPermission, Grant};
use subtle::ConstantTimeEq;

use crate::config::{Allow, Authtoken};

/// Authenticates agents against the configured authtokens (constant-time comparison).
pub struct TokenAuth {
    tokens: Vec<Authtoken>,
}

impl TokenAuth {
    /// An authenticator over `tokens`.
    pub fn new(tokens: Vec<Authtoken>) -> Self {
        TokenAuth { tokens }
    }
}

#[async_trait]
impl Authenticator for TokenAuth {
    async fn authenticate(&self, request: &AuthRequest) -> Result<Grant, AuthRejection> {
        let presented = request.authtoken.as_bytes();
        // Compare against every token so the time taken does not say which one matched.
        let mut found: Option<&Authtoken> = None;
        for t in &self.tokens {
            if bool::from(t.token.as_bytes().ct_eq(presented)) {
                found = Some(t);
            }
        }
        let Some(t) = found else {
            return Err(AuthRejection::new(
                "ERR_SLUICE_AUTH_FAILED",
                "unknown authtoken",
            ));
        };
        Ok(Grant {
            account: t.account.clone(),
            permissions: t
                .allow
                .iter()
                .map(|a| match a {
                    Allow::Any => BindPermission::Any,
                    Allow::Domain(d) => BindPermission::Domain(d.clone()),
                    Allow::Wildcard(w) => BindPermission::Wildcard(w.clone()),
                    Allow::TcpPort(p) => BindPermission::TcpPort(*p),
                })
                .collect(),
        })
    }
}
