// Shared pieces of the end-to-end tests: the debug `sluice` binary started on loopback ports,
// the system Chromium driven by playwright-core, and bounded polling. Tests import what they use.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, openSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** The repository's root folder. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The sluice binary under test (scripts/e2e sets it to the debug build). */
export const SLUICE = process.env.SLUICE_BIN || path.join(ROOT, 'target', 'debug', 'sluice');

/** Where tests write screenshots, kept by CI for a person to look at. */
export const SCREENSHOTS = process.env.E2E_SCREENSHOTS || path.join(ROOT, 'target', 'e2e-screenshots');

const given = new Set();

/**
 * A loopback port nothing listens on, from 12000–20000: below Linux's ephemeral range (so no
 * client socket takes it between the pick and the bind) and apart from the Rust tests' range.
 * Never the same port twice in one test process.
 */
export async function freePort() {
  for (let i = 0; i < 1000; i++) {
    const port = 12000 + Math.floor(Math.random() * 8000);
    if (given.has(port)) continue;
    const free = await new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      given.add(port);
      return port;
    }
  }
  throw new Error('no free port in 12000-20000');
}

/** Polls `check` every 50 ms until it returns a truthy value or `ms` pass (then throws `what`). */
export async function waitFor(what, check, ms = 15000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** Resolves once a TCP connect to 127.0.0.1:`port` succeeds. */
export function waitForPort(port, ms = 15000) {
  return waitFor(`port ${port}`, () => new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  }), ms);
}

/** A fresh scratch folder, removed by the returned cleanup. */
export function scratchDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts `sluice` with `args` in `dir` (stdout and stderr go to `<dir>/<name>.log`); the returned
 * handle's `stop()` kills it. `env` adds to the environment.
 */
export function startSluice(args, { dir, name = 'sluice', env = {} } = {}) {
  const log = openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(SLUICE, args, {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
  });
  return {
    child,
    log: path.join(dir, `${name}.log`),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

/**
 * Starts `sluice edge` on a config whose `{HTTP}`, `{HTTPS}`, `{ADMIN}` and `{DIR}` are filled
 * in, returning once its HTTP listener accepts connections. `env` adds to its environment;
 * `ports` gives some of `{ http, https, admin }` picked beforehand (e.g. with `freePort`, when
 * something started earlier must know the edge's URL).
 */
export async function startEdge(config, { dir, env = {}, ports: given = {} } = {}) {
  const scratch = dir ? { dir, remove: () => {} } : scratchDir();
  const ports = {
    http: given.http || await freePort(),
    https: given.https || await freePort(),
    admin: given.admin || await freePort(),
  };
  const text = config
    .replaceAll('{HTTP}', ports.http)
    .replaceAll('{HTTPS}', ports.https)
    .replaceAll('{ADMIN}', ports.admin)
    .replaceAll('{DIR}', scratch.dir);
  const file = path.join(scratch.dir, 'edge.yml');
  writeFileSync(file, text);
  const proc = startSluice(['edge', '--config', file], { dir: scratch.dir, name: 'edge', env });
  await waitForPort(ports.http);
  return {
    ...ports,
    dir: scratch.dir,
    proc,
    stop: async () => { await proc.stop(); scratch.remove(); },
  };
}

/**
 * Starts a loopback HTTP server that answers every request with JSON
 * `{ method, url, headers }` of what it received; returns `{ port, requests, stop }`.
 */
export async function startEcho() {
  const port = await freePort();
  const requests = [];
  const server = http.createServer((req, res) => {
    const seen = { method: req.method, url: req.url, headers: req.headers };
    requests.push(seen);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(seen));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    requests,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/**
 * One plain HTTP request to 127.0.0.1:`port` with the given `Host`, never following redirects
 * (unlike fetch, it may set `Host`). Resolves `{ status, headers, cookies, body }` where
 * `cookies` are the `set-cookie` values.
 */
export function rawRequest(port, { host, path = '/', method = 'GET', headers = {} }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode,
        headers: res.headers,
        cookies: res.headers['set-cookie'] || [],
        body: Buffer.concat(chunks).toString(),
      }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Headless Debian Chromium (no browser download), for `playwright-core`. */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
}

/** Saves a full-page screenshot of `page` as `<SCREENSHOTS>/<name>.png`. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
