//! The tunnel listener's authenticator: authtokens from the edge config, compared in
//! constant time, each granting what its `allow` list says; source addresses that present
//! wrong tokens too often are blocked for a while ([`AuthLimiter`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use sluice_tunnel::{AuthRejection, AuthRequest, Authenticator, BindPermission, Grant};
use subtle::ConstantTimeEq;

use crate::auth_limit::AuthLimiter;
use crate::config::{Allow, Authtoken};
use crate::metrics::Metrics;

/// Code of an attempt refused because its source address is blocked after failures.
pub const AUTH_THROTTLED: &str = sluice_tunnel::error::AUTH_THROTTLED;

/// Authenticates agents against the configured authtokens (constant-time comparison), with
/// per-source-address back-off after failures; every refusal is logged (never the token)
/// and counted in `sluice_tunnel_auth_failures_total`.
pub struct TokenAuth {
    tokens: Vec<Authtoken>,
    limiter: Arc<AuthLimiter>,
    metrics: Arc<Metrics>,
}

impl TokenAuth {
    /// An authenticator over `tokens`, limited by `limiter`, counting into `metrics`.
    pub fn new(tokens: Vec<Authtoken>, limiter: Arc<AuthLimiter>, metrics: Arc<Metrics>) -> Self {
        TokenAuth {
            tokens,
            limiter,
            metrics,
        }
    }

    /// The token presented, if it is one of ours.
    fn find(&self, presented: &[u8]) -> Option<&Authtoken> {
        // Compare against every token so the time taken does not say which one matched.
        let mut found: Option<&Authtoken> = None;
        for t in &self.tokens {
            if bool::from(t.token.as_bytes().ct_eq(presented)) {
                found = Some(t);
            }
        }
        found
    }
}

#[async_trait]
impl Authenticator for TokenAuth {
    async fn authenticate(&self, request: &AuthRequest) -> Result<Grant, AuthRejection> {
        let peer = request.remote_addr;
        if let Err(wait) = self.limiter.check(peer.ip()) {
            self.metrics
                .tunnel_auth_throttled
                .fetch_add(1, Ordering::Relaxed);
            let secs = wait.as_secs_f64().ceil();
            tracing::warn!(
                %peer,
                reason = "throttled",
                retry_after_s = secs,
                "tunnel authentication refused: too many failures from this address"
            );
            return Err(AuthRejection::new(
                AUTH_THROTTLED,
                format!("too many failed authentications from this address; retry in {secs}s"),
            ));
        }
        let Some(t) = self.find(request.authtoken.as_bytes()) else {
            self.metrics
                .tunnel_auth_invalid
                .fetch_add(1, Ordering::Relaxed);
            let blocked = self.limiter.failure(peer.ip());
            tracing::warn!(
                %peer,
                reason = "invalid_token",
                blocked_for_s = blocked.map_or(0.0, |d| d.as_secs_f64()),
                "tunnel authentication refused: unknown authtoken"
            );
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
