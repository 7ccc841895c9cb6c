// Views of the detail pane that do not depend on the page's state: bodies (pretty-printed JSON,
// XML and forms with highlighting, syntax errors at their line and column, images, hex), header
// and query tables, and the policy trace. Everything is built with DOM nodes and textContent:
// recorded traffic never becomes markup.

/** `el('div', {class: 'x'}, child, 'text')`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** `1234` → `1.2 KB`. */
export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Base64 → bytes. */
export function bytesOf(b64) {
  const bin = atob(b64 || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A two-column table of name/value pairs (headers, query, form fields). */
export function pairTable(pairs, empty, id) {
  if (!pairs || pairs.length === 0) return el('p', { class: 'muted', id, text: empty });
  return el('table', { class: 'pairs-table', id },
    el('tbody', {}, pairs.map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: v })))));
}

/** A hex/ASCII dump of `bytes`, 16 per line. */
export function hexView(bytes) {
  const lines = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.slice(off, off + 16);
    const hex = Array.from(chunk, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(chunk, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return el('pre', { class: 'hex' }, lines.join('\n') || '(no bytes)');
}

const JSON_TOKEN = /\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[{}[\]:,])/y;

/** Pretty-prints valid JSON `text` with highlighting, keeping its keys' order and literals. */
export function prettyJson(text) {
  const pre = el('pre', { class: 'code json' });
  let depth = 0;
  let line = '';
  const pad = () => '  '.repeat(depth);
  const push = (cls, s) => pre.append(cls ? el('span', { class: cls, text: s }) : document.createTextNode(s));
  JSON_TOKEN.lastIndex = 0;
  let m;
  let prev = '';
  const tokens = [];
  while ((m = JSON_TOKEN.exec(text)) !== null) tokens.push(m[1]);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (t === '{' || t === '[') {
      push('j-punc', t);
      if (next === '}' || next === ']') { push('j-punc', next); i++; prev = next; continue; }
      depth++;
      push(null, `\n${pad()}`);
    } else if (t === '}' || t === ']') {
      depth--;
      push(null, `\n${pad()}`);
      push('j-punc', t);
    } else if (t === ',') {
      push('j-punc', ',');
      push(null, `\n${pad()}`);
    } else if (t === ':') {
      push('j-punc', ': ');
    } else if (t[0] === '"') {
      push(next === ':' ? 'j-key' : 'j-str', t);
    } else if (t === 'true' || t === 'false') {
      push('j-bool', t);
    } else if (t === 'null') {
      push('j-null', t);
    } else {
      push('j-num', t);
    }
    prev = t;
  }
  void line; void prev;
  return pre;
}

/** The text with line numbers, the line `line` marked and a caret under `column`. */
export function errorView(text, line, column, message) {
  const box = el('div', { class: 'syntax-error' });
  box.append(el('p', { class: 'error json-error', text: `Syntax error at line ${line}, column ${column}: ${message}` }));
  const pre = el('pre', { class: 'code numbered' });
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    const n = i + 1;
    const row = el('span', { class: n === line ? 'line bad' : 'line', 'data-line': n },
      el('span', { class: 'ln', text: String(n).padStart(4) + ' ' }), l);
    pre.append(row, '\n');
    if (n === line) {
      pre.append(el('span', { class: 'caret', text: `${' '.repeat(4 + column)}^ ${message}` }), '\n');
    }
  });
  box.append(pre);
  return box;
}

const XML_TOKEN = /(<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<![^>]*>|<\/?[^>]+>|[^<]+)/g;

/** Pretty-prints XML/HTML `text` with highlighting (indentation by nesting). */
export function prettyXml(text) {
  const pre = el('pre', { class: 'code xml' });
  let depth = 0;
  let first = true;
  for (const [tok] of text.matchAll(XML_TOKEN)) {
    const t = tok.trim();
    if (!t) continue;
    const closing = t.startsWith('</');
    const selfClosing = t.endsWith('/>') || t.startsWith('<?') || t.startsWith('<!');
    if (closing) depth = Math.max(0, depth - 1);
    if (!first) pre.append('\n');
    first = false;
    pre.append('  '.repeat(depth));
    if (t.startsWith('<!--')) {
      pre.append(el('span', { class: 'x-comment', text: t }));
    } else if (t.startsWith('<')) {
      const m = /^(<\/?[^\s/>]+)([\s\S]*?)(\/?>)$/.exec(t);
      if (m) {
        pre.append(el('span', { class: 'x-tag', text: m[1] }));
        for (const part of m[2].split(/(\s+[^\s=]+="[^"]*"|\s+[^\s=]+='[^']*')/)) {
          const a = /^(\s+)([^\s=]+)=(.*)$/s.exec(part);
          if (a) pre.append(a[1], el('span', { class: 'x-attr', text: a[2] }), '=', el('span', { class: 'x-val', text: a[3] }));
          else if (part) pre.append(part);
        }
        pre.append(el('span', { class: 'x-tag', text: m[3] }));
      } else {
        pre.append(el('span', { class: 'x-tag', text: t }));
      }
      if (!closing && !selfClosing) depth++;
    } else {
      pre.append(el('span', { class: 'x-text', text: t }));
    }
  }
  return pre;
}

/** Where the browser's XML parser stops, if it does. */
function xmlError(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  const err = doc.getElementsByTagName('parsererror')[0];
  if (!err) return null;
  const msg = err.textContent || 'not well-formed';
  const m = /line\s+(\d+)(?:\s+at)?\s+column\s+(\d+)/i.exec(msg) || /line number\s+(\d+),\s*column\s+(\d+)/i.exec(msg);
  return { message: msg.replace(/\s+/g, ' ').trim(), line: m ? Number(m[1]) : 0, column: m ? Number(m[2]) : 0 };
}

function facts(view) {
  const parts = [view.kind];
  if (view.content_type) parts.push(view.content_type);
  if (view.decoded) parts.push(`Content-Encoding ${view.content_encoding} undone: ${formatSize(view.captured_size)} → ${formatSize(view.decoded_size)}`);
  else parts.push(formatSize(view.size));
  const notes = [el('span', { text: parts.join(' · ') })];
  if (view.truncated) notes.push(el('span', { class: 'warn truncated', text: `truncated: ${formatSize(view.captured_size)} of ${formatSize(view.size)} captured` }));
  if (view.decoded_truncated) notes.push(el('span', { class: 'warn', text: 'decoded view cut at 4 MB' }));
  if (view.decode_error) notes.push(el('span', { class: 'warn', text: `could not undo ${view.content_encoding}: ${view.decode_error}; shown as sent` }));
  return el('p', { class: 'body-facts muted' }, notes);
}

function pretty(view) {
  const text = view.text ?? '';
  switch (view.kind) {
    case 'empty':
      return el('p', { class: 'muted', text: 'no body' });
    case 'json':
      if (view.json_error) return errorView(text, view.json_error.line, view.json_error.column, view.json_error.message);
      if (view.truncated || view.decoded_truncated) return el('pre', { class: 'code', text });
      return prettyJson(text);
    case 'xml': {
      const err = view.content_type && /html/i.test(view.content_type) ? null : xmlError(text);
      const out = el('div', {});
      if (err && !view.truncated) {
        if (err.line) out.append(errorView(text, err.line, err.column, err.message));
        else out.append(el('p', { class: 'error', text: err.message }), el('pre', { class: 'code', text }));
        return out;
      }
      out.append(prettyXml(text));
      return out;
    }
    case 'form':
      return el('div', {}, pairTable(view.form, 'no fields'), el('pre', { class: 'code', text }));
    case 'image':
      return el('img', { class: 'body-image', alt: 'image body', src: `data:${(view.content_type || 'image/*').split(';')[0]};base64,${view.base64}` });
    case 'binary':
      return hexView(bytesOf(view.base64));
    default:
      return el('pre', { class: 'code', text });
  }
}

/** A body viewer: facts, then Pretty / As sent / Hex views of it. */
export function bodyView(view, id) {
  const box = el('div', { class: 'body-view', id });
  box.append(facts(view));
  if (view.kind === 'empty') {
    box.append(el('p', { class: 'muted', text: 'no body' }));
    return box;
  }
  const modes = {
    pretty: () => pretty(view),
    sent: () => {
      const raw = bytesOf(view.raw_base64);
      const text = new TextDecoder('utf-8', { fatal: false }).decode(raw);
      return el('pre', { class: 'code', text });
    },
    hex: () => hexView(bytesOf(view.raw_base64)),
  };
  const area = el('div', { class: 'body-area' });
  const buttons = el('div', { class: 'seg', role: 'group' });
  const show = (mode) => {
    area.replaceChildren(modes[mode]());
    for (const b of buttons.children) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
  };
  for (const [mode, label] of [['pretty', 'Pretty'], ['sent', 'As sent'], ['hex', 'Hex']]) {
    buttons.append(el('button', { type: 'button', 'data-mode': mode, text: label, onclick: () => show(mode) }));
  }
  box.append(buttons, area);
  show('pretty');
  return box;
}

/** One change an action made, in words (`request header x-foo: 1`). */
function changeText(c) {
  switch (c.kind) {
    case 'header-added': return `added ${c.side} header ${c.name}: ${c.value}`;
    case 'header-removed': return `removed ${c.side} header ${c.name}`;
    case 'header-changed': return `${c.side} header ${c.name}: ${c.from} → ${c.to}`;
    case 'method-changed': return `method ${c.from} → ${c.to}`;
    case 'url-rewritten': return `url ${c.from} → ${c.to}`;
    case 'responded': return `responded ${c.status}`;
    case 'status-changed': return `status ${c.from} → ${c.to}`;
    case 'var-set': return `vars.${c.name} = ${c.value}`;
    case 'closed': return 'closed the connection';
    case 'handed-off': return `forwarded to ${c.to}`;
    case 'failed': return `failed: ${c.message}`;
    case 'budget-exhausted': return `stopped: ${c.message}`;
    default: return c.kind;
  }
}

/** An expression's result: `true`/`false`, or the message of the error it gave (counts as false). */
function exprItem(x) {
  if (typeof x.result === 'boolean') {
    return el('li', { class: x.result ? 'ok' : 'no' }, el('code', { text: x.expr }), ' → ', el('b', { text: String(x.result) }));
  }
  return el('li', { class: 'no err' }, el('code', { text: x.expr }), ' → ', el('b', { text: 'error' }), ` ${x.result}`);
}

/** The policy trace of a request (phases, rules, expressions, actions), or a note. */
export function traceView(trace) {
  if (!trace || !Array.isArray(trace.phases) || trace.phases.length === 0) {
    return el('p', { class: 'muted', id: 'trace', text: 'no policy trace recorded' });
  }
  const box = el('div', { id: 'trace', class: 'trace' });
  for (const phase of trace.phases) {
    const list = el('ol', { class: 'rules' });
    for (const rule of phase.rules || []) {
      const exprs = el('ul', { class: 'exprs' }, (rule.expressions || []).map(exprItem));
      const actions = el('ul', { class: 'actions' }, (rule.actions || []).map((a) =>
        el('li', { class: 'action' }, el('code', { class: 'action-type', text: a.type }), a.effect ? ` ${a.effect}` : '',
          a.terminated ? el('span', { class: 'badge warn', text: 'ended the phase' }) : null,
          (a.changes || []).length
            ? el('ul', { class: 'changes' }, a.changes.map((c) => el('li', { class: `change ${c.kind}`, text: changeText(c) })))
            : null)));
      list.append(el('li', { class: rule.matched ? 'rule matched' : 'rule' },
        el('div', {}, el('b', { text: rule.name || '(unnamed rule)' }), ' ',
          el('span', { class: rule.matched ? 'badge ok' : 'badge', text: rule.matched ? 'matched' : 'not matched' })),
        exprs, rule.matched && (rule.actions || []).length ? actions : null));
    }
    if (!phase.rules || phase.rules.length === 0) list.append(el('li', { class: 'muted', text: 'no rules' }));
    box.append(el('h4', { text: phase.phase }), list);
  }
  if (trace.truncated) box.append(el('p', { class: 'warn', text: 'trace truncated: some entries were left out' }));
  return box;
}
