//! The inspector web page: server-rendered HTML of recent requests, each with a replay button
//! that posts JSON with `fetch` (no frontend build step).

use axum::extract::State;
use axum::response::Html;

use super::api::InspectApi;
use super::json::status_line;
use crate::forward::file::escape;

const SCRIPT: &str = r#"<script>
async function replay(id) {
  const r = await fetch('/api/requests/http', {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({id})});
  if (r.ok) { location.reload(); } else { alert('replay failed: ' + r.status); }
}
async function clearAll() {
  await fetch('/api/requests/http', {method: 'DELETE'});
  location.reload();
}
</script>"#;

/// `GET /`: the inspector page.
pub async fn page(State(api): State<InspectApi>) -> Html<String> {
    let mut rows = String::new();
    for e in api.inspector().list(100, None) {
        let status = e
            .response
            .as_ref()
            .map_or_else(String::new, |r| status_line(r.status));
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{:.1} ms</td>\
             <td><button onclick=\"replay('{}')\">Replay</button></td></tr>\n",
            escape(&e.start.format("%H:%M:%S").to_string()),
            escape(&e.endpoint),
            escape(&e.request.method),
            escape(&e.request.uri),
            escape(&status),
            e.duration.as_secs_f64() * 1000.0,
            escape(&e.id),
        ));
    }
    let mut endpoints = String::new();
    for e in api.endpoints() {
        endpoints.push_str(&format!(
            "<li>{} <code>{}</code> → <code>{}</code></li>\n",
            escape(&e.name),
            escape(&e.url),
            escape(&e.upstream_url)
        ));
    }
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sluice inspector</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}</style>{SCRIPT}</head>\n\
         <body><h1>sluice inspector</h1>\n<ul>\n{endpoints}</ul>\n\
         <p><button onclick=\"clearAll()\">Clear</button> <a href=\"/\">Refresh</a></p>\n\
         <table><tr><th>time</th><th>endpoint</th><th>method</th><th>path</th><th>status</th>\
         <th>duration</th><th></th></tr>\n{rows}</table></body></html>\n"
    ))
}
