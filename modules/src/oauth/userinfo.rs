//! Who the user is, from the identity provider's user-info endpoint: after the callback and
//! again every `userinfo_refresh_interval` (see `refresh`).

use super::client;
use super::error::AuthError;
use super::gate::{Gate, Idp};
use super::provider::{self, Shape};
use super::session::Identity;

impl Gate {
    /// Reads the user from the user-info endpoint (`None` for an OIDC issuer without one).
    pub(super) async fn userinfo(
        &self,
        client_id: &str,
        access_token: &str,
    ) -> Result<Option<Identity>, AuthError> {
        match &self.idp {
            Idp::Oidc(discovery) => {
                let found = discovery.get(&self.caller).await?;
                let Some(url) = &found.doc.userinfo_endpoint else {
                    return Ok(None);
                };
                let doc = client::get_json(&self.caller, url, access_token, None).await?;
                Ok(Some(provider::identity(Shape::Oidc, &doc)))
            }
            Idp::OAuth {
                provider,
                endpoints,
            } => {
                let id = provider.userinfo_needs_client_id.then_some(client_id);
                let doc =
                    client::get_json(&self.caller, &endpoints.userinfo, access_token, id).await?;
                let mut identity = provider::identity(provider.shape, &doc);
                if identity.provider_user_id.is_empty() {
                    return Err(AuthError::NoUserId);
                }
                if identity.email.is_empty()
                    && let Some(url) = &endpoints.emails
                {
                    let list = client::get_json(&self.caller, url, access_token, None).await?;
                    identity.email = provider::primary_email(&list).unwrap_or_default();
                }
                Ok(Some(identity))
            }
        }
    }
}
