//! The response phase: the upstream's response header through `on_http_response`, its body
//! through the response transforms (or replaced whole), and responses the edge writes itself.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{StatusCode, Version};
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use sluice_policy::{ERROR_CODE_HEADER, ResponseVerdict, SyntheticResponse};

use super::headers::{replace_response_headers, strip_hop_by_hop};
use super::{Ctx, EdgeService, body_error, closed_by_policy, internal, run_transforms};
use crate::config::Target;
use crate::errors;

/// Writes a whole response made at the edge (by an action or an error page).
pub(super) async fn write_response(
    session: &mut Session,
    parts: &http::response::Parts,
    body: Bytes,
    ctx: &mut Ctx,
) -> Result<()> {
    let mut h = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (k, v) in &parts.headers {
        h.append_header(k.clone(), v.clone())?;
    }
    h.remove_header(&TRANSFER_ENCODING);
    h.insert_header(CONTENT_LENGTH, body.len().to_string())?;
    if ctx.ngrok_error_code
        && let Some(code) = errors::ngrok_code(&parts.headers)
    {
        h.insert_header(errors::NGROK_ERROR_CODE_HEADER, code)?;
    }
    let empty = body.is_empty();
    session.write_response_header(Box::new(h), empty).await?;
    if !empty {
        ctx.bytes_out += body.len() as u64;
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Writes a response the engine or the edge made (an error page).
pub(super) async fn write_synthetic(
    session: &mut Session,
    resp: SyntheticResponse,
    ctx: &mut Ctx,
) -> Result<()> {
    let mut builder = http::Response::builder().status(resp.status);
    if let Some(h) = builder.headers_mut() {
        *h = resp.headers;
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|e| internal(e.to_string()))?
        .into_parts();
    write_response(session, &parts, resp.body, ctx).await
}

impl EdgeService {
    /// Runs the response phase on the upstream's response header.
    pub(super) async fn response_phase(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // A plain upstream can never set the edge's error header. An agent can: it removes its
        // local service's own and answers 8012 itself when that service is unreachable.
        let from_agent = ctx
            .upstream_endpoint()
            .is_some_and(|ep| matches!(ep.upstream.target, Target::Tunnel(_) | Target::Peer(_)));
        if !from_agent {
            upstream_response.remove_header(ERROR_CODE_HEADER);
        }
        if upstream_response.status.is_informational()
            && upstream_response.status != StatusCode::SWITCHING_PROTOCOLS
        {
            return Ok(());
        }
        let Some(ep) = ctx.endpoint.clone() else {
            return Ok(());
        };
        let now = self.clock.now();
        let downstream_h11 = session.req_header().version == Version::HTTP_11;
        let switching = upstream_response.status == StatusCode::SWITCHING_PROTOCOLS;
        let mut upstream_parts = upstream_response.as_owned_parts();
        let te = upstream_parts.headers.get(TRANSFER_ENCODING).cloned();
        strip_hop_by_hop(&mut upstream_parts.headers, switching);
        if let Some(te) = te {
            upstream_parts.headers.insert(TRANSFER_ENCODING, te);
        }
        let Some(forwarded) = ctx.forwarded_exchange() else {
            return Ok(());
        };
        forwarded.upstream_responded(upstream_parts, now);
        // Each endpoint's response phase, from the one the upstream answered out to the first.
        if self.respond_through(ctx).await.map_err(body_error)? == ResponseVerdict::Close {
            ctx.close = true;
            self.shared
                .metrics
                .policy_closed(&ep.info.id, "on_http_response");
            return Err(closed_by_policy());
        }
        let Some(ex) = ctx.exchange() else {
            return Ok(());
        };
        let Some(parts) = ex.response.as_ref() else {
            return Ok(());
        };
        upstream_response.set_status(parts.status)?;
        replace_response_headers(upstream_response, &parts.headers)?;
        if ex.synthetic {
            self.shared
                .metrics
                .policy_response(&ep.info.id, parts.status.as_u16());
            // The response phase replaced the upstream's response: its body goes instead.
            let raw = ex.response_body.take().unwrap_or_default();
            let body =
                run_transforms(&mut ex.response_transforms, raw, true).map_err(body_error)?;
            upstream_response.remove_header(&TRANSFER_ENCODING);
            upstream_response.insert_header(CONTENT_LENGTH, body.len().to_string())?;
            ctx.replacement = Some(body);
            ctx.replacing = true;
        } else if !ex.response_transforms.is_empty() {
            upstream_response.remove_header(&CONTENT_LENGTH);
            if downstream_h11 {
                upstream_response.insert_header(TRANSFER_ENCODING, "chunked")?;
            }
        }
        Ok(())
    }

    /// Passes the upstream's body through the response transforms, or swaps in the replacement.
    pub(super) fn response_body(
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        if ctx.replacing {
            *body = ctx.replacement.take();
        } else if let Some(ex) = ctx.exchange()
            && !ex.response_transforms.is_empty()
        {
            let chunk = body.take().unwrap_or_default();
            let out = run_transforms(&mut ex.response_transforms, chunk, end_of_stream)
                .map_err(body_error)?;
            // Response side: an empty chunk would be written as the chunked terminator; `None`
            // writes nothing.
            *body = if out.is_empty() { None } else { Some(out) };
        }
        if let Some(b) = body {
            ctx.bytes_out += b.len() as u64;
        }
        Ok(None)
    }
}
