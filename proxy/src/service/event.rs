//! Metrics and the `http_request_complete.v0` event of a finished request.

use pingora::proxy::Session;

use super::headers::host_of;
use super::{Ctx, EdgeService};

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
        // `on_tcp_connect` logs go with the connection's own event (tcp_connection_closed.v0).
        let mut logs: Vec<serde_json::Value> = Vec::new();
        let endpoint = ctx
            .endpoint
            .as_ref()
            .map(|e| serde_json::json!({ "id": e.info.id, "url": e.info.url }));
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
        let fired: Vec<serde_json::Value>;
        if let Some(ex) = ctx.exchange() {
            logs.extend(ex.logs.iter().map(|l| l.metadata.clone()));
            fired = ex
                .fired
                .iter()
                .map(|f| serde_json::json!({ "phase": f.phase.key(), "index": f.index, "name": f.name }))
                .collect();
        } else {
            fired = Vec::new();
        }
        let timestamp = crate::events::now_ms();
        sink.emit(serde_json::json!({
            "event_type": "http_request_complete.v0",
            "timestamp_ms": timestamp,
            "object": {
                "endpoint": endpoint,
                "conn": {
                    "client_ip": client.map(|c| c.ip().to_string()),
                    "client_port": client.map(|c| c.port()),
                },
                "http": {
                    "request": {
                        "method": req.method.as_str(),
                        "host": host_of(req),
                        "path": req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                    },
                    "response": { "status_code": status, "bytes_out": bytes_out },
                    "duration_ms": duration_ms,
                },
                "error_code": error_code,
                "policy": { "fired": fired, "logs": logs },
            }
        }));
    }
}
