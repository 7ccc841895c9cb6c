//! The application's side of binds on the edge: [`BindHandler`].

use async_trait::async_trait;

use crate::proto::BindRequest;
use crate::session::AgentSession;

/// Why a bind was refused (sent to the agent as `BindError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRejection {
    /// Machine-readable code, e.g. `ERR_SLUICE_POLICY_INVALID`.
    pub code: String,
    /// Human-readable explanation; may span several lines.
    pub message: String,
}

impl BindRejection {
    /// A rejection with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Decides binds for the edge: validates the policy, allocates or claims the URL, registers the
/// endpoint. The tunnel server checks the requested and the returned URL against the session's
/// [`Grant`](crate::Grant) around the call.
#[async_trait]
pub trait BindHandler: Send + Sync + 'static {
    /// Binds `request` for `session`, returning the public URL.
    async fn bind(
        &self,
        session: &AgentSession,
        request: &BindRequest,
    ) -> Result<String, BindRejection>;

    /// The agent released `url` (only called for URLs this session bound).
    async fn unbind(&self, session: &AgentSession, url: &str) {
        let _ = (session, url);
    }

    /// The session ended; its binds are gone with it.
    async fn session_closed(&self, session: &AgentSession) {
        let _ = session;
    }
}
