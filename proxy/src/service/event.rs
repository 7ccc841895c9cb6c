//! Metrics and the `http_request_complete.v0` event of a finished request.

use pingora::proxy::Session;

use super::headers::host_of;
use super::{Ctx, EdgeService};
use crate::events::login::OAuthEvent;
use crate::events::{
    ClientRef, EndpointRef, Event, HttpExchange, HttpRequestComplete, PolicyTrace, RequestLine,
    ResponseSummary,
};

impl EdgeService {
    /// Counts the request and emits its event, if events are on.
    pub(super) fn emit_event(&self, session: &Session, ctx: &mut Ctx) {
        let status = session.response_written().map(|r| r.status.as_u16());
        let endpoint_id = ctx
            .endpoint
            .as_ref()
            .map(|e| e.info.id.clone())
            .unwrap_or_default();
        self.shared.metrics.request(
            &endpoint_id,
            status.unwrap_or(0),
            ctx.started.elapsed().as_secs_f64(),
        );
        let Some(sink) = &self.shared.events else {
            return;
        };
        let req = session.req_header();
        let client = session.client_addr().and_then(|a| a.as_inet()).copied();
        let endpoint = ctx.endpoint.as_ref().map(|e| EndpointRef {
            id: e.info.id.clone(),
            url: e.info.url.clone(),
        });
        // A policy stopped by its evaluation budget answered 500 in either phase.
        let aborted = ctx.exchange().is_some_and(|ex| ex.aborted.is_some());
        let error_code = (if aborted {
            Some(crate::errors::POLICY_BUDGET)
        } else {
            ctx.error_code
        })
        .map(|c| format!("ERR_SLUICE_{c}"));
        let duration_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
        let bytes_out = ctx.bytes_out;
        // `on_tcp_connect` logs go with the connection's own event (tcp_connection_closed.v0).
        let mut policy = PolicyTrace::default();
        let mut oauth = None;
        if let Some(ex) = ctx.exchange() {
            policy.extend(&ex.fired, &ex.logs, None);
            oauth = ex.login.as_ref().map(OAuthEvent::from);
        }
        sink.emit(Event::http_request_complete(HttpRequestComplete {
            endpoint,
            conn: ClientRef::new(client),
            http: HttpExchange {
                request: RequestLine {
                    method: req.method.as_str().to_string(),
                    host: host_of(req),
                    path: req
                        .uri
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_string(),
                },
                response: ResponseSummary {
                    status_code: status,
                    bytes_out,
                },
                duration_ms,
            },
            error_code,
            policy,
            oauth,
        }));
    }
}
