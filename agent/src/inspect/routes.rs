//! sluice's own request routes of the local API, beside ngrok's: the filtered summary list,
//! the live event stream (server-sent events), the detail view, HAR export, replay with
//! modification (straight to the upstream or through the edge) and the TCP/TLS connections.
//! They sit behind the same guard as every API route (see [`super::api`]).

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use super::api::InspectApi;
use super::detail::{RequestSummary, detail, summary};
use super::edge_replay;
use super::filter::{Filter, FilterError, Matcher};
use super::har::har;
use super::live::{ConnectionRecord, LiveEvent, ReplayMark, ReplayTag, ReplayVia};
use super::replay::{ReplayEdit, ReplayOutcome};

/// Results when a filter gives no `limit`.
const DEFAULT_LIMIT: usize = 500;
/// How long an edge replay's answer waits for this agent to record the request it forwarded.
const RECORD_WAIT: Duration = Duration::from_millis(500);

/// The routes, merged into [`InspectApi::router`].
pub fn routes() -> Router<InspectApi> {
    Router::new()
        .route("/api/requests/http/summaries", get(summaries))
        .route("/api/requests/http/stream", get(stream))
        .route("/api/requests/http/har", get(har_export))
        .route("/api/requests/http/{id}/detail", get(one_detail))
        .route("/api/requests/http/{id}/replay", post(replay))
        .route("/api/connections", get(connections))
}

/// An error in the API's shape (`{"error_code", "msg"}`), naming the field at fault.
#[derive(Debug, Serialize)]
struct ApiError {
    error_code: u16,
    msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

fn error(status: StatusCode, msg: impl Into<String>, field: Option<&'static str>) -> Response {
    let body = ApiError {
        error_code: status.as_u16(),
        msg: msg.into(),
        field,
    };
    (status, axum::Json(body)).into_response()
}

fn filter_error(e: FilterError) -> Response {
    error(StatusCode::BAD_REQUEST, e.to_string(), Some(e.field))
}

/// `GET /api/requests/http/summaries`.
#[derive(Debug, Serialize)]
struct SummaryList {
    /// Matching exchanges, newest first.
    requests: Vec<RequestSummary>,
    /// Exchanges in the store, matching or not.
    total: usize,
}

async fn summaries(State(api): State<InspectApi>, Query(filter): Query<Filter>) -> Response {
    let m = match filter.matcher() {
        Ok(m) => m,
        Err(e) => return filter_error(e),
    };
    let all = api.inspector().list(usize::MAX, None);
    let requests = all
        .iter()
        .filter(|e| m.matches(e))
        .take(filter.limit.unwrap_or(DEFAULT_LIMIT))
        .map(|e| summary(e))
        .collect();
    axum::Json(SummaryList {
        requests,
        total: all.len(),
    })
    .into_response()
}

/// `data` of the stream's `clear` and `lagged` events.
#[derive(Debug, Serialize)]
struct Empty {}

fn event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

/// `GET /api/requests/http/stream`: `request` (a summary matching the filter), `clear`,
/// `connection` (a finished TCP/TLS connection) and `lagged` (events were lost: reload).
async fn stream(State(api): State<InspectApi>, Query(filter): Query<Filter>) -> Response {
    let m = match filter.matcher() {
        Ok(m) => m,
        Err(e) => return filter_error(e),
    };
    let rx = api.inspector().live().subscribe();
    // A comment first, so the response head and a first chunk go out at once: browsers (Firefox
    // among them) only report the stream open when bytes arrive, which would otherwise wait for
    // the first request or keep-alive.
    let hello = futures::stream::once(async { Ok(Event::default().comment("live")) });
    Sse::new(hello.chain(live_events(rx, m)))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn live_events(
    rx: tokio::sync::broadcast::Receiver<LiveEvent>,
    m: Matcher,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((rx, m), |(mut rx, m)| async move {
        loop {
            let ev = match rx.recv().await {
                Ok(LiveEvent::Recorded(e)) if m.matches(&e) => event("request", &summary(&e)),
                Ok(LiveEvent::Recorded(_)) => continue,
                Ok(LiveEvent::Cleared) => event("clear", &Empty {}),
                Ok(LiveEvent::Connection(c)) => event("connection", &*c),
                Err(RecvError::Lagged(_)) => event("lagged", &Empty {}),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(ev), (rx, m)));
        }
    })
}

async fn har_export(State(api): State<InspectApi>, Query(filter): Query<Filter>) -> Response {
    let m = match filter.matcher() {
        Ok(m) => m,
        Err(e) => return filter_error(e),
    };
    let chosen: Vec<_> = api
        .inspector()
        .list(usize::MAX, None)
        .into_iter()
        .filter(|e| m.matches(e))
        .take(filter.limit.unwrap_or(DEFAULT_LIMIT))
        .collect();
    let doc = har(
        chosen.iter().map(|e| &**e),
        |e| api.public_url(&e.endpoint),
        api.agent_version(),
    );
    let name = match chosen.as_slice() {
        [one] => format!("sluice-{}.har", one.id),
        _ => "sluice-requests.har".to_string(),
    };
    (
        [(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )],
        axum::Json(doc),
    )
        .into_response()
}

async fn one_detail(State(api): State<InspectApi>, Path(id): Path<String>) -> Response {
    match api.inspector().get(&id) {
        Some(e) => axum::Json(detail(&e, api.public_url(&e.endpoint).as_deref())).into_response(),
        None => error(StatusCode::NOT_FOUND, "not found", None),
    }
}

async fn replay(
    State(api): State<InspectApi>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let edit: ReplayEdit = if body.is_empty() {
        ReplayEdit::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(e) => e,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string(), None),
        }
    };
    let Some(original) = api.inspector().get(&id) else {
        return error(StatusCode::NOT_FOUND, "not found", None);
    };
    let name = edit
        .tunnel_name
        .clone()
        .unwrap_or_else(|| original.endpoint.clone());
    let prepared = match edit.prepare(&original.request) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string(), Some(e.field)),
    };
    let new_id = api.inspector().next_id();
    let tag = ReplayTag {
        id: new_id.clone(),
        mark: ReplayMark {
            of: id.clone(),
            via: edit.target,
        },
    };
    let mut outcome = ReplayOutcome {
        id: None,
        replay_of: id,
        target: edit.target,
        tunnel_name: name.clone(),
        status_code: 0,
        body_truncated: prepared.body_truncated,
        edge_response: None,
    };
    match edit.target {
        ReplayVia::Upstream => {
            let Some(forwarder) = api.replayer(&name) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("no running HTTP endpoint `{name}`"),
                    Some("tunnel_name"),
                );
            };
            let req = match prepared.request(None) {
                Ok(r) => r,
                Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string(), None),
            };
            let status = forwarder
                .replay_tagged(req, original.remote_addr, Some(tag))
                .await;
            outcome.status_code = status.as_u16();
        }
        ReplayVia::Edge => {
            let Some(url) = api.public_url(&name) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("no running endpoint `{name}`"),
                    Some("tunnel_name"),
                );
            };
            let nonce = edge_replay::nonce();
            let live = api.inspector().live();
            live.add_ticket(&nonce, tag);
            let sent = edge_replay::send(&url, &prepared, &nonce).await;
            let unused = live.take_ticket(&nonce).is_some();
            match sent {
                Ok(resp) => {
                    outcome.status_code = resp.status;
                    outcome.edge_response = Some(resp);
                }
                Err(e) => return error(StatusCode::BAD_GATEWAY, e.to_string(), None),
            }
            if !unused {
                // This agent got it: its record lands when the upstream's body ended.
                let deadline = tokio::time::Instant::now() + RECORD_WAIT;
                while api.inspector().get(&new_id).is_none()
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    outcome.id = api.inspector().get(&new_id).map(|_| new_id);
    axum::Json(outcome).into_response()
}

/// Query of `GET /api/connections`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionsQuery {
    limit: Option<usize>,
}

/// `GET /api/connections`.
#[derive(Debug, Serialize)]
struct ConnectionList {
    /// Newest first.
    connections: Vec<ConnectionRecord>,
}

async fn connections(
    State(api): State<InspectApi>,
    Query(q): Query<ConnectionsQuery>,
) -> axum::Json<ConnectionList> {
    let connections = api
        .inspector()
        .live()
        .connections(q.limit.unwrap_or(DEFAULT_LIMIT))
        .iter()
        .map(|c| (**c).clone())
        .collect();
    axum::Json(ConnectionList { connections })
}
