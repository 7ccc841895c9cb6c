// The login flow's refusals, with a plain HTTP client against a real `sluice edge`: a tampered
// state, a replayed code, a wrong nonce, an ID token signed by another key, an expired ID
// token, an issuer mismatch in the token, and tampered cookies. Each is refused with its
// status and `sluice-error-code`, and the upstream never sees the request. The edge's event
// stream records each decision with the user, never a token or cookie. (A discovery document
// naming another issuer stops the edge from starting: see oidc_discovery.test.js.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { rawRequest, startEcho, startEdge, waitFor } from '../lib/harness.js';
import { startRogueIssuer } from '../lib/fake_idp.js';

let echo, rogue, edge;

const policy = (issuer, clientId, secret) => `
    traffic_policy:
      on_http_request:
        - actions:
            - type: oidc
              config:
                issuer_url: ${issuer}
                client_id: ${clientId}
                client_secret: ${secret}`;

before(async () => {
  echo = await startEcho();
  rogue = await startRogueIssuer();
  edge = await startEdge(`version: 1
listeners:
  http: 127.0.0.1:{HTTP}
state_dir: {DIR}/state
events:
  output: {DIR}/events.jsonl
endpoints:
  - url: http://app.localhost:{HTTP}
    upstream:
      url: http://127.0.0.1:${echo.port}
${policy(rogue.issuer, rogue.clientId, rogue.clientSecret)}
`);
});

after(async () => {
  await edge?.stop();
  await rogue?.stop();
  await echo?.stop();
});

const HOST = () => `app.localhost:${edge.http}`;
const get = (path, headers = {}, host = HOST()) => rawRequest(edge.http, { host, path, headers });
const cookiePair = (setCookie) => setCookie.split(';')[0];

/** Starts a login at `path`: the pending-login cookie and the provider's answer (the callback). */
async function begin(path = '/secret?q=1') {
  const first = await get(path);
  assert.equal(first.status, 302);
  const authorize = new URL(first.headers.location);
  assert.equal(authorize.origin, rogue.issuer);
  for (const k of ['state', 'nonce', 'code_challenge']) assert.ok(authorize.searchParams.get(k), k);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authorize.searchParams.get('redirect_uri'), `http://${HOST()}/ngrok/oauth2/callback`);
  const nonce = cookiePair(first.cookies.find((c) => c.startsWith('sluice_nonce=')));
  const idpAnswer = await fetch(authorize, { redirect: 'manual' });
  const callback = new URL(idpAnswer.headers.get('location'));
  return { nonce, callback: `${callback.pathname}${callback.search}`, callbackUrl: callback };
}

function refused(res, status, code) {
  assert.equal(res.status, status, res.body);
  assert.equal(res.headers['sluice-error-code'], `ERR_SLUICE_${code}`, res.body);
}

test('a complete login, then the session admits requests (and client-sent identity headers are replaced)', async () => {
  rogue.mode = 'ok';
  const before = echo.requests.length;
  const { nonce, callback } = await begin('/secret?q=1');
  const done = await get(callback, { cookie: nonce });
  assert.equal(done.status, 302, done.body);
  assert.equal(done.headers.location, '/secret?q=1');
  const session = cookiePair(done.cookies.find((c) => c.startsWith('sluice_session=')));
  assert.ok(done.cookies.some((c) => c.startsWith('sluice_nonce=;')), 'the pending login is cleared');
  assert.equal(echo.requests.length, before, 'the upstream saw nothing during the login');
  const ok = await get('/secret?q=1', { cookie: `${session}; app=1`, 'ngrok-auth-user-email': 'ceo@example.com' });
  assert.equal(ok.status, 200);
  const seen = JSON.parse(ok.body);
  assert.equal(seen.headers['ngrok-auth-user-email'], 'rogue@example.com');
  assert.equal(seen.headers.cookie, 'app=1');

  // The event stream has each decision, with the app's client id and the user, and never
  // the tokens or the session cookie.
  const file = path.join(edge.dir, 'events.jsonl');
  const events = await waitFor('the login, then the admitted request, on the event stream', () => {
    if (!existsSync(file)) return false;
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const found = lines.map((l) => JSON.parse(l)).filter((e) => e.object.oauth);
    return found.some((e) => e.object.oauth.decision === 'allow') && { lines, found };
  });
  const decisions = events.found.map((e) => e.object.oauth.decision);
  for (const d of ['redirect', 'login', 'allow']) assert.ok(decisions.includes(d), `${d} in ${decisions}`);
  const allowed = events.found.find((e) => e.object.oauth.decision === 'allow').object.oauth;
  assert.deepEqual(allowed, { app_client_id: rogue.clientId, decision: 'allow', user: { id: 'rogue-user-1', name: 'Rogue User' } });
  const sessionValue = session.split('=')[1];
  for (const line of events.lines) {
    assert.ok(!line.includes('at-rogue'), 'no access token in events');
    assert.ok(!line.includes(sessionValue), 'no session cookie in events');
    assert.ok(!line.includes('eyJ'), 'no ID token in events');
  }
});

test('a tampered state is refused (400, 3100)', async () => {
  rogue.mode = 'ok';
  const { nonce, callbackUrl } = await begin();
  callbackUrl.searchParams.set('state', `${callbackUrl.searchParams.get('state')}x`);
  refused(await get(`${callbackUrl.pathname}${callbackUrl.search}`, { cookie: nonce }), 400, 3100);
});

test('a callback without the browser\'s pending-login cookie is refused (400, 3100)', async () => {
  const { callback } = await begin();
  refused(await get(callback), 400, 3100);
});

test('a tampered pending-login cookie is refused (400, 3101)', async () => {
  const { nonce, callback } = await begin();
  const [name, value] = nonce.split('=');
  const flipped = `${name}=${value.slice(0, 10)}${value[10] === 'A' ? 'B' : 'A'}${value.slice(11)}`;
  refused(await get(callback, { cookie: flipped }), 400, 3101);
});

test('a replayed code is refused by the provider (401, 3104)', async () => {
  rogue.mode = 'ok';
  const { nonce, callback } = await begin();
  assert.equal((await get(callback, { cookie: nonce })).status, 302);
  refused(await get(callback, { cookie: nonce }), 401, 3104);
});

test('an ID token with the wrong nonce is refused (401, 3106)', async () => {
  rogue.mode = 'wrong-nonce';
  const { nonce, callback } = await begin();
  refused(await get(callback, { cookie: nonce }), 401, 3106);
});

test('an ID token signed by another key is refused (401, 3105)', async () => {
  rogue.mode = 'other-key';
  const { nonce, callback } = await begin();
  const res = await get(callback, { cookie: nonce });
  refused(res, 401, 3105);
  assert.match(res.body, /signature/);
});

test('an expired ID token is refused (401, 3105)', async () => {
  rogue.mode = 'expired';
  const { nonce, callback } = await begin();
  const res = await get(callback, { cookie: nonce });
  refused(res, 401, 3105);
  assert.match(res.body, /expired/);
});

test('an ID token from another issuer is refused (401, 3105)', async () => {
  rogue.mode = 'wrong-issuer';
  const { nonce, callback } = await begin();
  const res = await get(callback, { cookie: nonce });
  refused(res, 401, 3105);
  assert.match(res.body, /issuer/);
});


test('a tampered session cookie is no session: back to the provider, never upstream', async () => {
  rogue.mode = 'ok';
  const { nonce, callback } = await begin('/');
  const done = await get(callback, { cookie: nonce });
  const session = cookiePair(done.cookies.find((c) => c.startsWith('sluice_session=')));
  const [name, value] = session.split('=');
  const flipped = `${name}=${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`;
  const before = echo.requests.length;
  const res = await get('/', { cookie: flipped });
  assert.equal(res.status, 302);
  assert.ok(res.headers.location.startsWith(rogue.issuer));
  assert.equal(echo.requests.length, before);
});
