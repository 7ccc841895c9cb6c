//! The edge's answer when proxying fails: an error page with `sluice-error-code`, by cause.

use http::StatusCode;
use pingora::proxy::{FailToProxy, Session};
use pingora::{Error, ErrorSource, ErrorType};

use super::headers::accept_of;
use super::response::write_synthetic;
use super::{BodyFailure, Ctx, EdgeService};
use crate::config::Target;
use crate::errors;

/// How long a failed tunnel stream waits to learn whether its agent session ended.
const AGENT_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

impl EdgeService {
    /// Records the failure on the exchange and writes the error page (unless the client is
    /// gone or the policy closed the connection).
    pub(super) async fn fail(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Ctx,
    ) -> FailToProxy {
        let now = self.clock.now();
        ctx.upstream_failed(now);
        if ctx.close {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        if let Some(r) = ctx.refusal.clone() {
            return self
                .answer(session, ctx, r.status, r.code, &r.message)
                .await;
        }
        if let Some(failure) = BodyFailure::of(e, ctx) {
            ctx.body_failure = Some(failure);
            let (status, code, message) = failure.answer();
            let fresh = session.response_written().is_none();
            failure.settle_connection(session);
            let mut answer = self.answer(session, ctx, status, code, &message).await;
            // A body too large is drained (so the client reads the answer, not a reset) and
            // the connection may serve the next request.
            answer.can_reuse_downstream = fresh && failure == BodyFailure::TooLarge;
            return answer;
        }
        let upstream = ctx.upstream_endpoint();
        let addr = upstream
            .as_ref()
            .map(|ep| ep.upstream.url.clone())
            .unwrap_or_default();
        // An agent on another edge of the cluster fails as one on this edge does.
        let tunnel = upstream
            .as_ref()
            .is_some_and(|ep| matches!(ep.upstream.target, Target::Tunnel(_) | Target::Peer(_)));
        let (status, code, message) = match (e.etype(), e.esource()) {
            (ErrorType::HTTPStatus(_), _) => self.status_failure(e),
            (ErrorType::ConnectError | ErrorType::ConnectTimedout, _) if tunnel => (
                StatusCode::NOT_FOUND,
                errors::ENDPOINT_NOT_FOUND,
                "The endpoint is offline: its agent is gone.".to_string(),
            ),
            (_, ErrorSource::Upstream) if tunnel && self.agent_went_away(ctx).await => (
                StatusCode::BAD_GATEWAY,
                errors::AGENT_GONE,
                "The agent serving this endpoint went away during the request.".to_string(),
            ),
            (_, ErrorSource::Upstream) if tunnel => (
                StatusCode::BAD_GATEWAY,
                errors::AGENT_UPSTREAM_FAILED,
                "The agent closed the stream without a response: it could not reach its upstream."
                    .to_string(),
            ),
            (
                ErrorType::TLSHandshakeFailure
                | ErrorType::TLSHandshakeTimedout
                | ErrorType::InvalidCert
                | ErrorType::HandshakeError,
                _,
            ) => (
                StatusCode::BAD_GATEWAY,
                errors::UPSTREAM_TLS,
                format!(
                    "The TLS handshake with the upstream at {addr} failed: {}.",
                    tls_reason(e)
                ),
            ),
            (
                ErrorType::ConnectTimedout
                | ErrorType::ConnectRefused
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectError
                | ErrorType::SocketError,
                _,
            ) => (
                StatusCode::BAD_GATEWAY,
                errors::UPSTREAM_UNREACHABLE,
                format!("The edge could not connect to the upstream at {addr}."),
            ),
            (ErrorType::ReadTimedout | ErrorType::WriteTimedout, ErrorSource::Upstream) => (
                StatusCode::GATEWAY_TIMEOUT,
                errors::UPSTREAM_TIMEOUT,
                format!("The upstream at {addr} did not answer in time."),
            ),
            (_, ErrorSource::Upstream) => (
                StatusCode::BAD_GATEWAY,
                errors::UPSTREAM_INVALID,
                format!("The upstream at {addr} sent an invalid or incomplete response."),
            ),
            (
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
                ErrorSource::Downstream,
            ) => {
                // The client is gone.
                return FailToProxy {
                    error_code: 0,
                    can_reuse_downstream: false,
                };
            }
            (_, ErrorSource::Downstream) => (
                StatusCode::BAD_REQUEST,
                errors::INTERNAL,
                "The request could not be read.".to_string(),
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                errors::INTERNAL,
                "The edge failed while handling the request.".to_string(),
            ),
        };
        self.answer(session, ctx, status, code, &message).await
    }

    /// Writes the error page (unless the response has started: then there is nothing more to
    /// say) and closes the connection after it.
    async fn answer(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        status: StatusCode,
        code: u16,
        message: &str,
    ) -> FailToProxy {
        ctx.error_code = Some(code);
        let page = errors::error_page(status, code, message, accept_of(session).as_deref());
        if session.response_written().is_none() {
            if ctx.body_failure != Some(BodyFailure::TooLarge) {
                // `Connection: close` on the answer: the connection ends after it.
                session.set_keepalive(None);
            }
            let _ = write_synthetic(session, page, ctx).await;
        }
        FailToProxy {
            error_code: status.as_u16(),
            can_reuse_downstream: false,
        }
    }

    /// Whether the tunnel endpoint's agent session ended: a stream cut by its death looks like
    /// any other upstream failure, and the session notices the end a moment later.
    async fn agent_went_away(&self, ctx: &Ctx) -> bool {
        let upstream = ctx.upstream_endpoint();
        let Some(Target::Tunnel(agent)) = upstream.as_ref().map(|ep| &ep.upstream.target) else {
            return false;
        };
        agent.close_reason().is_some()
            || tokio::time::timeout(AGENT_CLOSE_WAIT, agent.closed())
                .await
                .is_ok()
    }

    fn status_failure(&self, e: &Error) -> (StatusCode, u16, String) {
        let s = match e.etype() {
            ErrorType::HTTPStatus(s) => *s,
            _ => 500,
        };
        (
            StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            errors::INTERNAL,
            "The edge could not handle the request.".to_string(),
        )
    }
}

/// Why a TLS handshake failed, in a few words: the error's context (rustls says e.g.
/// "invalid peer certificate: UnknownIssuer") and its cause, if any.
fn tls_reason(e: &Error) -> String {
    let parts: Vec<String> = [
        e.context.as_ref().map(|c| c.as_str().to_string()),
        e.cause.as_ref().map(|c| c.to_string()),
    ]
    .into_iter()
    .flatten()
    .filter(|p| !p.trim().is_empty())
    .collect();
    if parts.is_empty() {
        e.etype().as_str().to_string()
    } else {
        parts.join(": ")
    }
}
