//! Preparing a loaded config's policies before they serve (see
//! [`sluice_policy::Policy::prepare`]): an `openid-connect` issuer that does not answer or
//! serves an invalid discovery document is a config error at start and at reload, with the
//! action's file, line and column, as ngrok refuses such a policy at validation.

use super::model::{ConfigError, EdgeConfig};

/// Prepares every endpoint's policy; the errors of all that cannot serve.
pub async fn prepare_policies(config: &EdgeConfig) -> Result<(), ConfigError> {
    let mut diagnostics = Vec::new();
    for endpoint in &config.endpoints {
        if let Err(e) = endpoint.policy.prepare().await {
            diagnostics.extend(e.diagnostics);
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { diagnostics })
    }
}
