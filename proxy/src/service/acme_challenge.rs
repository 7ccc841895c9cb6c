//! HTTP-01: on the http listener, `GET /.well-known/acme-challenge/TOKEN` for a token of an
//! order the edge has open is answered with its key authorization before any routing, so it
//! works for every name (bound or not, http or https endpoint). Other tokens route as usual.

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use pingora::Result;
use pingora::proxy::Session;

use super::response::write_response;
use super::{Ctx, EdgeService, internal};
use crate::acme::HTTP01_PREFIX;
use crate::config::Scheme;

impl EdgeService {
    /// Answers an HTTP-01 challenge of an open order; `true` when answered.
    pub(super) async fn answer_acme_challenge(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
    ) -> Result<bool> {
        if self.scheme != Scheme::Http {
            return Ok(false);
        }
        let req = session.req_header();
        if req.method != http::Method::GET && req.method != http::Method::HEAD {
            return Ok(false);
        }
        let Some(token) = req.uri.path().strip_prefix(HTTP01_PREFIX) else {
            return Ok(false);
        };
        let Some(key_authorization) = self.shared.acme.challenges.http01(token) else {
            return Ok(false);
        };
        let (parts, ()) = http::Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(())
            .map_err(|e| internal(e.to_string()))?
            .into_parts();
        write_response(session, &parts, Bytes::from(key_authorization), ctx).await?;
        Ok(true)
    }
}
