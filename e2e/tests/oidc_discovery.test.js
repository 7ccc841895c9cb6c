// `openid-connect` discovery where ngrok does it, when a policy is taken in: an issuer that
// does not answer, or serves a discovery document naming another issuer, stops `sluice edge`
// from starting (ERR_SLUICE_2227 at the action's line) and makes an agent's bind fail; a good
// document is fetched then and served from the cache afterwards, even while the issuer is down;
// a reload to a config whose issuer does not answer is refused and the running config serves on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, rawRequest, scratchDir, startEcho, startEdge, startSluice, waitFor } from '../lib/harness.js';
import { startRogueIssuer } from '../lib/fake_idp.js';

const TOKEN = 'e2e-discovery-token';
let echo, scratch;

before(async () => {
  echo = await startEcho();
  scratch = scratchDir();
});

after(async () => {
  await echo?.stop();
  scratch?.remove();
});

const oidcPolicy = (issuer, indent = '') => `on_http_request:
  - actions:
      - type: openid-connect
        config:
          issuer_url: ${issuer}
          client_id: rogue-client
          client_secret: rogue-secret
`.split('\n').map((l) => (l ? indent + l : l)).join('\n');

const edgeConfig = (port, issuer) => `version: 1
listeners:
  http: 127.0.0.1:${port}
state_dir: ${scratch.dir}/state
endpoints:
  - url: http://app.localhost:${port}
    upstream:
      url: http://127.0.0.1:${echo.port}
    traffic_policy:
${oidcPolicy(issuer, '      ')}`;

/** Runs `sluice` with `args` until it exits (at most `ms`); resolves `{ code, log }`. */
async function runToExit(args, name, ms = 30000) {
  const proc = startSluice(args, { dir: scratch.dir, name });
  let timer;
  const code = await Promise.race([
    new Promise((resolve) => proc.child.once('exit', (c) => resolve(c))),
    new Promise((resolve) => { timer = setTimeout(() => resolve('still running'), ms); }),
  ]);
  clearTimeout(timer);
  await proc.stop();
  return { code, log: readFileSync(proc.log, 'utf8') };
}

/** A loopback port with nothing listening on it. */
const deadIssuer = async () => `http://127.0.0.1:${await freePort()}`;

test('sluice edge refuses to start when an issuer does not answer (2227 at the action)', async () => {
  const file = path.join(scratch.dir, 'dead.yml');
  writeFileSync(file, edgeConfig(await freePort(), await deadIssuer()));
  const { code, log } = await runToExit(['edge', '--config', file], 'edge-dead');
  assert.notEqual(code, 0, log);
  assert.notEqual(code, 'still running', log);
  assert.match(log, /dead\.yml:12:15: on_http_request\[0\]\.actions\[0\]\.config\.issuer_url: openid-connect: bad OpenID Connect discovery document/, log);
  assert.match(log, /\[ERR_SLUICE_2227\]/, log);
  assert.match(log, /nothing was started/, log);
});

test('sluice edge refuses to start when the discovery document names another issuer', async () => {
  const liar = await startRogueIssuer({ discoveryIssuer: 'http://127.0.0.1:1/someone-else' });
  try {
    const file = path.join(scratch.dir, 'liar.yml');
    writeFileSync(file, edgeConfig(await freePort(), liar.issuer));
    const { code, log } = await runToExit(['edge', '--config', file], 'edge-liar');
    assert.notEqual(code, 0, log);
    assert.match(log, /is not the configured/, log);
    assert.match(log, /\[ERR_SLUICE_2227\]/, log);
  } finally {
    await liar.stop();
  }
});

test('an agent binding a policy whose issuer does not answer is refused at bind', async () => {
  const tunnel = await freePort();
  const edge = await startEdge(`version: 1
listeners:
  http: 127.0.0.1:{HTTP}
  tunnel: 127.0.0.1:${tunnel}
state_dir: {DIR}/state
base_domains: [localhost]
authtokens:
  - token: ${TOKEN}
    account: e2e
    allow: ["*"]
`);
  try {
    const policyFile = path.join(scratch.dir, 'agent-policy.yml');
    writeFileSync(policyFile, oidcPolicy(await deadIssuer()));
    const { code, log } = await runToExit([
      'http', String(echo.port),
      '--connect-url', `localhost:${tunnel}`,
      '--connect-ca', path.join(edge.dir, 'state', 'ca.pem'),
      '--authtoken', TOKEN,
      '--web-addr', `127.0.0.1:${await freePort()}`,
      '--traffic-policy-file', policyFile,
    ], 'agent-dead');
    assert.notEqual(code, 0, log);
    assert.notEqual(code, 'still running', log);
    assert.match(log, /bad OpenID Connect discovery document/, log);
    assert.match(log, /ERR_SLUICE_2227/, log);
  } finally {
    await edge.stop();
  }
});

test('the document fetched at start is cached: logins start while the issuer is down', async () => {
  const issuer = await startRogueIssuer();
  const edge = await startEdge(edgeConfig('{HTTP}', issuer.issuer).replace(`state_dir: ${scratch.dir}/state`, 'state_dir: {DIR}/state'));
  try {
    await issuer.stop();
    const res = await rawRequest(edge.http, { host: `app.localhost:${edge.http}`, path: '/private' });
    assert.equal(res.status, 302, res.body);
    assert.ok(res.headers.location.startsWith(`${issuer.issuer}/authorize?`), res.headers.location);
  } finally {
    await edge.stop();
  }
});

test('a reload to a config whose issuer does not answer is refused; the running one serves on', async () => {
  const issuer = await startRogueIssuer();
  const config = (iss) => edgeConfig('{HTTP}', iss).replace(`state_dir: ${scratch.dir}/state`, 'state_dir: {DIR}/state');
  const edge = await startEdge(config(issuer.issuer));
  try {
    const file = path.join(edge.dir, 'edge.yml');
    const dead = await deadIssuer();
    writeFileSync(file, readFileSync(file, 'utf8').replace(issuer.issuer, dead));
    const log = await waitFor('the reload to be refused', () => {
      const text = readFileSync(edge.proc.log, 'utf8');
      return text.includes('config reload refused') && text;
    }, 30000);
    assert.match(log, /ERR_SLUICE_2227/, log);
    const res = await rawRequest(edge.http, { host: `app.localhost:${edge.http}`, path: '/' });
    assert.equal(res.status, 302, res.body);
    assert.ok(res.headers.location.startsWith(`${issuer.issuer}/authorize?`), res.headers.location);
  } finally {
    await edge.stop();
    await issuer.stop();
  }
});
