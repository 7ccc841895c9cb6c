// Helpers of the web inspector's browser tests: a Node upstream that records what it gets, a
// real `sluice edge` with a tunnel listener and an authtoken, a real `sluice http` agent bound
// to it with a Traffic Policy, and requests sent to the public URL.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { freePort, scratchDir, startEdge, startSluice, waitFor } from './harness.js';

const TOKEN = 'e2e-inspector-token';

/**
 * An upstream that records every request (method, url, headers, trailers, body) in `received`;
 * it answers JSON: `/missing*` with 404, anything else with an echo.
 */
export async function startUpstream() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method, url: req.url, headers: req.headers, trailers: req.trailers, body });
      if (req.url.startsWith('/missing')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"not found"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'node' });
      res.end(JSON.stringify({ ok: true, method: req.method, url: req.url, body }));
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, received, stop: () => new Promise((resolve) => server.close(resolve)) };
}

const EDGE_CONFIG = `version: 1
listeners:
  http: 127.0.0.1:{HTTP}
  https: 127.0.0.1:{HTTPS}
  tunnel: 127.0.0.1:{TUNNEL}
  admin: 127.0.0.1:{ADMIN}
state_dir: {DIR}/state
base_domains: [localhost]
authtokens:
  - token: ${TOKEN}
    account: e2e
    allow: ["*"]
`;

/** A policy that adds a request header, so a replay through the edge shows the policy ran. */
export const POLICY = `on_http_request:
  - name: tag requests
    actions:
      - type: add-headers
        config:
          headers:
            x-via-policy: "yes"
`;

/** A TCP upstream that echoes what it gets. */
export async function startTcpEcho() {
  const server = net.createServer((socket) => socket.pipe(socket));
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, stop: () => new Promise((resolve) => server.close(resolve)) };
}

/**
 * A real edge and `sluice http <upstream>` (or, with `kind: 'tcp'`, `sluice tcp <upstream>` on
 * the edge's one TCP port) connected to it with `policy` and any `args` more (e.g. `--url`);
 * resolves once the agent's API lists the endpoint. Returns the web interface's base URL and the public URL.
 */
export async function startAgent(upstreamPort, { policy = POLICY, kind = 'http', args: extra = [] } = {}) {
  const scratch = scratchDir();
  const tunnel = await freePort();
  let config = EDGE_CONFIG.replaceAll('{TUNNEL}', tunnel);
  if (kind === 'tcp') config += `tcp:\n  bind: 127.0.0.1\n  host: localhost\n  ports: ${await freePort()}\n`;
  const edge = await startEdge(config, { dir: scratch.dir });
  const web = await freePort();
  const args = [
    kind, String(upstreamPort),
    '--connect-url', `localhost:${tunnel}`,
    '--connect-ca', path.join(scratch.dir, 'state', 'ca.pem'),
    '--authtoken', TOKEN,
    '--web-addr', `127.0.0.1:${web}`,
    ...extra,
  ];
  if (kind === 'http') {
    const policyFile = path.join(scratch.dir, 'policy.yml');
    writeFileSync(policyFile, policy);
    args.push('--traffic-policy-file', policyFile);
  }
  const agent = startSluice(args, { dir: scratch.dir, name: 'agent' });
  const webUrl = `http://127.0.0.1:${web}`;
  const publicUrl = await waitFor('the agent to list its endpoint', async () => {
    const resp = await fetch(`${webUrl}/api/tunnels`);
    const body = await resp.json();
    return body.tunnels?.[0]?.public_url;
  }, 30000);
  return {
    web: webUrl,
    publicUrl,
    edge,
    stop: async () => {
      await agent.stop();
      await edge.stop();
      scratch.remove();
    },
  };
}

/** Opens a TCP connection to `publicUrl` (`tcp://host:port`), sends `text`, reads it back. */
export function tcpRoundTrip(publicUrl, text) {
  const url = new URL(publicUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('utf8');
      if (got.length >= text.length) socket.end();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

/**
 * Sends a request to `publicUrl` + `pathAndQuery` through the edge's plain HTTP listener
 * (`*.localhost` names are sent to loopback with their Host header); resolves to
 * `{status, body}`.
 */
export function sendPublic(publicUrl, pathAndQuery, { method = 'GET', headers = {}, body } = {}) {
  const url = new URL(publicUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: url.port || 80,
      method,
      path: pathAndQuery,
      headers: { host: url.host, ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Like {@link sendPublic}, over TLS to the edge's https listener: the public URL's host as SNI
 * and Host, the edge's development CA (`<edge dir>/state/ca.pem`) trusted; resolves to
 * `{status, headers, body}`.
 */
export function sendPublicTls(publicUrl, edge, pathAndQuery, { method = 'GET', headers = {} } = {}) {
  const url = new URL(publicUrl);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: Number(url.port) || edge.https,
      servername: url.hostname,
      ca: readFileSync(path.join(edge.dir, 'state', 'ca.pem')),
      method,
      path: pathAndQuery,
      headers: { host: url.hostname, ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The ids of the list's rows, top (newest) first. */
export function rowIds(page) {
  return page.$$eval('#list tbody tr', (rows) => rows.map((r) => r.dataset.id));
}

/** The list row whose path cell contains `text`, waiting for it (bounded). */
export async function rowWithPath(page, text) {
  const row = page.locator('#list tbody tr', { has: page.locator('td.path', { hasText: text }) }).first();
  await row.waitFor({ timeout: 15000 });
  return row;
}

/** Clicks `row` and waits until the detail pane shows its request. */
export async function openRow(page, row) {
  const id = await row.getAttribute('data-id');
  await row.click();
  await page.locator(`#detail[data-id="${id}"]`).waitFor({ timeout: 15000 });
  return id;
}
