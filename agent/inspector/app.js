// The web inspector's page: the live request list (server-sent events), filters kept in the
// URL hash, the detail pane, replays (one click, with changes, through the edge), HAR export,
// copy as curl, the TCP/TLS connection list and keyboard navigation. Plain modules, no build.
import { el, formatSize, pairTable, bodyView, traceView, bytesOf } from './views.js';

const FILTERS = ['path', 'method', 'status', 'min_size', 'max_size', 'min_ms', 'max_ms', 'header', 'q'];
const MAX_ROWS = 1000;
const state = { rows: [], selected: null, source: null, endpoints: [], detail: null };
const $ = (id) => document.getElementById(id);

// ---- URL state ----
function hashParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ''));
}
function filterQuery() {
  const p = new URLSearchParams();
  for (const f of FILTERS) {
    const v = $(`f-${f}`).value.trim();
    if (v) p.set(f, v);
  }
  return p;
}
function writeHash() {
  const p = filterQuery();
  if (state.selected) p.set('sel', state.selected);
  const hash = p.toString();
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname);
  $('btn-har').href = `/api/requests/http/har?${filterQuery()}`;
}
function readHash() {
  const p = hashParams();
  for (const f of FILTERS) $(`f-${f}`).value = p.get(f) || '';
  state.selected = p.get('sel');
}

// ---- helpers ----
function toast(text, kind = '') {
  const t = $('toast');
  t.textContent = text;
  t.className = `toast ${kind}`;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}
async function api(path, options = {}) {
  const resp = await fetch(path, options);
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { msg: text }; }
  if (!resp.ok) throw new Error((body && body.msg) || `${resp.status}`);
  return body;
}
function post(path, body) {
  return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}
function clock(iso) {
  const d = new Date(iso);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
function ms(v) { return v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`; }
function statusClass(s) { return s ? `s${Math.floor(s / 100)}xx` : 'snone'; }

// ---- the list ----
function rowFor(r) {
  const tr = el('tr', { 'data-id': r.id, class: r.replay ? 'replay' : '', tabindex: '-1', onclick: () => select(r.id) },
    el('td', { class: 'time', title: r.start, text: clock(r.start) }),
    el('td', { class: 'endpoint', title: r.tunnel_name, text: r.tunnel_name }),
    el('td', { class: 'method', text: r.method }),
    el('td', { class: 'path', title: r.uri }, r.replay ? el('span', { class: 'badge replay-badge', title: `replay of ${r.replay.of} via ${r.replay.via}`, text: r.replay.via === 'edge' ? 'replay ⟲ edge' : 'replay' }) : null, r.uri),
    el('td', {}, el('span', { class: `status ${statusClass(r.status)}`, text: r.status ?? '—' })),
    el('td', { class: 'num', text: ms(r.duration_ms) }),
    el('td', { class: 'num', text: formatSize(r.size) }),
    el('td', { class: 'client', text: r.remote_addr }));
  if (r.id === state.selected) tr.setAttribute('aria-selected', 'true');
  return tr;
}
function renderList() {
  const body = $('list').tBodies[0];
  body.replaceChildren(...state.rows.map(rowFor));
  $('empty').hidden = state.rows.length > 0;
  $('count').textContent = `${state.rows.length} request${state.rows.length === 1 ? '' : 's'}`;
}
function addRow(r) {
  if (state.rows.some((x) => x.id === r.id)) return;
  state.rows.unshift(r);
  const body = $('list').tBodies[0];
  body.prepend(rowFor(r));
  if (state.rows.length > MAX_ROWS) { state.rows.pop(); body.lastElementChild?.remove(); }
  $('empty').hidden = true;
  $('count').textContent = `${state.rows.length} request${state.rows.length === 1 ? '' : 's'}`;
}

async function reload() {
  $('filter-error').textContent = '';
  writeHash();
  state.rows = [];
  renderList();
  try {
    // Listen first, then list: a request recorded in between is in one or both (deduplicated).
    connect();
    const list = await api(`/api/requests/http/summaries?${filterQuery()}`);
    const seen = new Set(list.requests.map((r) => r.id));
    state.rows = [...state.rows.filter((r) => !seen.has(r.id)), ...list.requests];
    renderList();
    if (state.selected) await showDetail(state.selected, false);
  } catch (err) {
    $('filter-error').textContent = err.message;
  }
}

function connect() {
  if (state.source) state.source.close();
  const live = $('live');
  live.dataset.state = 'connecting';
  live.textContent = 'connecting…';
  const src = new EventSource(`/api/requests/http/stream?${filterQuery()}`);
  state.source = src;
  src.onopen = () => { live.dataset.state = 'open'; live.textContent = '● live'; };
  src.onerror = () => { live.dataset.state = 'closed'; live.textContent = 'reconnecting…'; };
  src.addEventListener('request', (ev) => addRow(JSON.parse(ev.data)));
  src.addEventListener('clear', () => { state.rows = []; renderList(); });
  src.addEventListener('lagged', () => reload());
  src.addEventListener('connection', (ev) => addConnection(JSON.parse(ev.data)));
}

// ---- selection and detail ----
async function select(id) {
  state.selected = id;
  for (const tr of $('list').tBodies[0].rows) {
    if (tr.dataset.id === id) { tr.setAttribute('aria-selected', 'true'); tr.scrollIntoView({ block: 'nearest' }); }
    else tr.removeAttribute('aria-selected');
  }
  writeHash();
  await showDetail(id, true);
}

function section(title, ...content) {
  return el('section', { class: 'card' }, el('h3', { text: title }), ...content);
}

/** The summary's TLS line: what the edge negotiated with the client, when it reported it. */
function tlsText(tls) {
  if (!tls.terminated_at) return 'none (plain http)';
  const facts = [
    tls.version && tls.version.replace(/^TLSv?(\d)[._](\d)$/, 'TLS $1.$2'),
    tls.cipher_suite,
    tls.sni && `SNI ${tls.sni}`,
    tls.alpn && `ALPN ${tls.alpn}`,
  ].filter(Boolean);
  const where = `ended at the ${tls.terminated_at}`;
  return facts.length ? `${facts.join(' · ')} (${where})` : `${where} (not reported yet)`;
}

async function showDetail(id) {
  const pane = $('detail');
  let d;
  let ngrok;
  try {
    [d, ngrok] = await Promise.all([api(`/api/requests/http/${id}/detail`), api(`/api/requests/http/${id}`)]);
  } catch (err) {
    pane.replaceChildren(el('p', { class: 'muted', text: `Request ${id}: ${err.message}` }));
    return;
  }
  if (state.selected !== id) return;
  state.detail = d;
  const resp = d.response;
  const summary = el('dl', { class: 'summary' },
    el('dt', { text: 'time' }), el('dd', { id: 'd-time', text: d.start }),
    el('dt', { text: 'duration' }), el('dd', { text: ms(d.duration_ms) }),
    el('dt', { text: 'client' }), el('dd', { text: d.remote_socket }),
    el('dt', { text: 'endpoint' }), el('dd', { text: d.public_url ? `${d.tunnel_name} (${d.public_url})` : d.tunnel_name }),
    el('dt', { text: 'TLS' }), el('dd', { id: 'd-tls', text: tlsText(d.tls) }),
    d.replay ? [el('dt', { text: 'replay of' }), el('dd', {}, el('a', { href: '#', onclick: (e) => { e.preventDefault(); select(d.replay.of); }, text: d.replay.of }), ` via ${d.replay.via}`)] : null);
  const actions = el('div', { class: 'actions-bar' },
    el('button', { id: 'btn-replay', class: 'primary', title: 'replay to the upstream (r)', onclick: () => replay(id, { target: 'upstream' }), text: 'Replay' }),
    el('button', { id: 'btn-replay-edge', title: 'send to the public URL again: the policy runs', onclick: () => replay(id, { target: 'edge' }), text: 'Replay through edge' }),
    el('button', { id: 'btn-edit', onclick: () => openEditor(d), text: 'Edit & replay…' }),
    el('button', { id: 'btn-curl', onclick: () => copyCurl(d.curl), text: 'Copy as curl' }),
    el('a', { id: 'btn-har-one', class: 'button', href: `/api/requests/http/har?id=${encodeURIComponent(id)}`, download: `sluice-${id}.har`, text: 'HAR' }));
  const head = el('h2', { class: 'detail-title' },
    el('span', { class: 'method', text: d.request.method }), ' ', el('span', { class: 'path', text: d.request.uri }), ' ',
    el('span', { class: `status ${statusClass(resp?.status)}`, text: resp ? resp.status_line : 'no response' }));
  const req = section('Request',
    el('h4', { text: 'Headers' }), pairTable(d.request.headers, 'no headers', 'req-headers'),
    el('h4', { text: 'Query' }), pairTable(d.request.query, 'no query parameters', 'req-query'),
    el('h4', { text: 'Body' }), bodyView(d.request.body, 'req-body'));
  const res = resp
    ? section(`Response ${resp.status_line}`,
      el('h4', { text: 'Headers' }), pairTable(resp.headers, 'no headers', 'resp-headers'),
      el('h4', { text: 'Body' }), bodyView(resp.body, 'resp-body'))
    : section('Response', el('p', { class: 'muted', text: 'no response was recorded' }));
  const rawText = (b64) => new TextDecoder().decode(bytesOf(b64));
  const raw = section('Raw (as sent, bodies as captured)',
    el('pre', { class: 'code raw', id: 'raw-request', text: rawText(ngrok.request.raw) }),
    ngrok.response ? el('pre', { class: 'code raw', id: 'raw-response', text: rawText(ngrok.response.raw) }) : null);
  const trace = section('Policy trace', traceView(ngrok.trace));
  pane.replaceChildren(head, summary, actions, req, res, trace, raw);
  pane.dataset.id = id;
  if (!ngrok.trace) lateTrace(id, trace);
}

/**
 * The edge reports a forwarded request's trace (and TLS) once the response is sent, so it can
 * come just after the request is listed: while the same request stays shown, asks again a
 * few times (bounded, about 3 s), then redraws the detail when it came.
 */
async function lateTrace(id, shown) {
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 300));
    if (state.selected !== id || !shown.isConnected) return;
    let ngrok;
    try { ngrok = await api(`/api/requests/http/${id}`); } catch { return; }
    if (ngrok.trace) {
      if (state.selected === id && shown.isConnected) showDetail(id);
      return;
    }
  }
}

// ---- replays ----
async function replay(id, edit) {
  try {
    const out = await post(`/api/requests/http/${encodeURIComponent(id)}/replay`, edit);
    const where = out.target === 'edge' ? 'through the edge' : 'to the upstream';
    const answered = out.target === 'edge' && !out.id ? ' (answered at the edge; the agent never saw it)' : '';
    toast(`Replayed ${where}: ${out.status_code}${answered}${out.body_truncated ? ' — the recorded body was truncated' : ''}`, 'ok');
    return out;
  } catch (err) {
    toast(`Replay failed: ${err.message}`, 'bad');
    return null;
  }
}

function pairRow(container, k = '', v = '') {
  const row = el('div', { class: 'pair' },
    el('input', { class: 'k', value: k, 'aria-label': 'name' }),
    el('input', { class: 'v', value: v, 'aria-label': 'value' }),
    el('button', { type: 'button', class: 'small', 'aria-label': 'remove', text: '×', onclick: () => row.remove() }));
  container.append(row);
}
function pairsOf(container) {
  return Array.from(container.querySelectorAll('.pair'))
    .map((r) => [r.querySelector('.k').value.trim(), r.querySelector('.v').value])
    .filter(([k]) => k);
}

const SET_BY_REPLAY = ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade'];

function openEditor(d) {
  const dlg = $('editor');
  $('e-method').value = d.request.method;
  $('e-path').value = d.request.path;
  $('e-error').textContent = '';
  const q = $('e-query'); q.replaceChildren();
  for (const [k, v] of d.request.query) pairRow(q, k, v);
  $('e-trailers').replaceChildren();
  const h = $('e-headers'); h.replaceChildren();
  const body = d.request.body;
  const textual = body.kind !== 'binary' && body.kind !== 'image' && body.text !== null && body.text !== undefined;
  for (const [k, v] of d.request.headers) {
    const lower = k.toLowerCase();
    if (SET_BY_REPLAY.includes(lower)) continue;
    if (lower === 'content-encoding' && body.decoded && textual) continue;
    pairRow(h, k, v);
  }
  const sel = $('e-endpoint'); sel.replaceChildren();
  for (const e of state.endpoints.filter((e) => /^https?:/.test(e.url))) {
    sel.append(el('option', { value: e.name, selected: e.name === d.tunnel_name, text: `${e.name} (${e.url})` }));
  }
  const ta = $('e-body');
  const note = $('e-body-note');
  ta.disabled = !textual && body.kind !== 'empty';
  ta.value = textual ? body.text : '';
  ta.dataset.original = ta.value;
  const notes = [];
  if (body.decoded && textual) notes.push(`Content-Encoding ${body.content_encoding} was undone: the body is sent decoded, without that header.`);
  if (!textual && body.kind !== 'empty') notes.push(`Binary body (${formatSize(body.captured_size)}) sent as recorded.`);
  if (body.truncated) notes.push(`The recorded body was cut at ${formatSize(body.captured_size)} of ${formatSize(body.size)}.`);
  note.textContent = notes.join(' ');
  dlg.dataset.id = d.id;
  dlg.dataset.textual = String(textual);
  dlg.showModal();
  $('e-path').focus();
}

async function sendEdited() {
  const dlg = $('editor');
  const edit = {
    target: $('e-target').value,
    tunnel_name: $('e-endpoint').value || undefined,
    method: $('e-method').value.trim(),
    path: $('e-path').value.trim(),
    query: pairsOf($('e-query')),
    headers: pairsOf($('e-headers')),
  };
  const trailers = pairsOf($('e-trailers'));
  if (trailers.length) edit.trailers = trailers;
  const ta = $('e-body');
  if (dlg.dataset.textual === 'true' || !ta.disabled) edit.body = ta.value;
  try {
    const out = await post(`/api/requests/http/${encodeURIComponent(dlg.dataset.id)}/replay`, edit);
    dlg.close();
    toast(`Replayed with changes: ${out.status_code}`, 'ok');
    if (out.id) select(out.id);
  } catch (err) {
    $('e-error').textContent = err.message;
  }
}

async function copyCurl(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('curl command copied', 'ok');
  } catch {
    $('curl-text').value = text;
    $('curl-dialog').showModal();
  }
}

// ---- TCP/TLS connections ----
function connRow(c) {
  return el('tr', { 'data-id': c.id },
    el('td', { title: c.start, text: clock(c.start) }), el('td', { text: c.tunnel_name }), el('td', { text: c.proto }),
    el('td', { text: c.remote_addr }), el('td', { class: 'num', text: ms(c.duration) }),
    el('td', { class: 'num', text: formatSize(c.bytes_in) }), el('td', { class: 'num', text: formatSize(c.bytes_out) }),
    el('td', { text: c.close_reason }));
}
function addConnection(c) {
  const body = $('conns').tBodies[0];
  if ([...body.rows].some((tr) => tr.dataset.id === String(c.id))) return;
  body.prepend(connRow(c));
  $('conns-empty').hidden = true;
}
// The list fetched on opening the tab can answer after a live event added a newer row: such
// rows are kept on top instead of being replaced away.
async function loadConnections() {
  const list = await api('/api/connections');
  const known = new Set(list.connections.map((c) => String(c.id)));
  const body = $('conns').tBodies[0];
  const newer = [...body.rows].filter((tr) => !known.has(tr.dataset.id));
  body.replaceChildren(...newer, ...list.connections.map(connRow));
  $('conns-empty').hidden = newer.length + list.connections.length > 0;
}
function showTab(which) {
  const http = which === 'http';
  $('http-view').hidden = !http;
  $('conns-view').hidden = http;
  $('tab-http').setAttribute('aria-selected', String(http));
  $('tab-conns').setAttribute('aria-selected', String(!http));
  if (!http) loadConnections().catch((e) => toast(e.message, 'bad'));
}

// ---- keyboard ----
function typing(target) {
  return target.closest('input, textarea, select, dialog[open]') !== null;
}
document.addEventListener('keydown', (ev) => {
  if (ev.altKey || ev.ctrlKey || ev.metaKey || typing(ev.target) || $('editor').open) return;
  const i = state.rows.findIndex((r) => r.id === state.selected);
  if (ev.key === 'ArrowDown' || ev.key === 'j') {
    const next = state.rows[Math.min(state.rows.length - 1, i + 1)];
    if (next) { ev.preventDefault(); select(next.id); }
  } else if (ev.key === 'ArrowUp' || ev.key === 'k') {
    const prev = state.rows[Math.max(0, i - 1)];
    if (prev) { ev.preventDefault(); select(prev.id); }
  } else if (ev.key === 'r' && state.selected) {
    ev.preventDefault();
    replay(state.selected, { target: 'upstream' });
  }
});

// ---- start ----
async function loadEndpoints() {
  try {
    const list = await api('/api/endpoints');
    state.endpoints = list.endpoints;
    $('endpoints').replaceChildren(...list.endpoints.map((e) =>
      el('li', { title: `→ ${e.upstream.url}` }, el('b', { text: e.name }), ' ', el('code', { text: e.url }))));
  } catch { /* the list shows without them */ }
}

let debounce;
$('filters').addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(reload, 250); });
$('filters').addEventListener('submit', (e) => { e.preventDefault(); reload(); });
$('f-reset').addEventListener('click', () => { for (const f of FILTERS) $(`f-${f}`).value = ''; reload(); });
$('btn-clear').addEventListener('click', async () => {
  await fetch('/api/requests/http', { method: 'DELETE' });
  state.selected = null;
  $('detail').replaceChildren(el('p', { class: 'muted', text: 'Cleared.' }));
  writeHash();
});
$('e-send').addEventListener('click', sendEdited);
$('e-cancel').addEventListener('click', () => $('editor').close());
for (const b of document.querySelectorAll('[data-add]')) b.addEventListener('click', () => pairRow($(b.dataset.add)));
$('tab-http').addEventListener('click', () => showTab('http'));
$('tab-conns').addEventListener('click', () => showTab('conns'));
window.addEventListener('hashchange', () => { readHash(); reload(); });

readHash();
loadEndpoints();
reload();
