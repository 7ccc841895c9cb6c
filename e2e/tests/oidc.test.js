// `openid-connect` and `oauth` in front of a static edge endpoint, proven with a real OpenID
// provider (oidc-provider), a GitHub-shaped OAuth 2.0 provider reached through the `endpoints:`
// overrides, and headless Chromium: login, session reuse, logout, a short session that logs in
// again, an email outside the allowed domain refused by a later rule, and a session whose
// access token is renewed with the refresh token while its user info is read again.
// The provider runs before the edge starts: the edge fetches its discovery document then.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, launchBrowser, screenshot, scratchDir, startEcho, startEdge, waitFor } from '../lib/harness.js';
import { startIdp, signIn, USERS } from '../lib/idp.js';
import { startGitHubShaped } from '../lib/fake_idp.js';

let echo, idp, gh, ghFresh, edge, browser, scratch;
/** The users of the provider whose tokens expire (renamed by the refresh test). */
const freshUsers = { octo: { id: 77, login: 'octo', name: 'Octo Fresh', email: 'octo@example.com' } };
let HTTP;

const url = (host, p = '/') => `http://${host}.localhost:${HTTP}${p}`;

before(async () => {
  scratch = scratchDir();
  echo = await startEcho();
  gh = await startGitHubShaped({
    users: { octo: { id: 4242, login: 'octo', name: 'Octo Cat', email: 'octo@example.com' } },
  });
  // Its access tokens stop working after 8 s and come with refresh tokens.
  ghFresh = await startGitHubShaped({ users: freshUsers, tokenTtl: 8 });
  HTTP = await freePort();
  // Access tokens live 8 s: the `fresh` endpoint renews them with the refresh token.
  idp = await startIdp({
    redirectUris: ['app', 'short', 'fresh'].map((h) => url(h, '/ngrok/oauth2/callback')),
    accessTokenTtl: 8,
  });
  const { issuer } = idp;
  writeFileSync(path.join(scratch.dir, 'gh-secret'), `${gh.clientSecret}\n`);
  const oidc = (extra = '') => `
      on_http_request:
        - actions:
            - type: openid-connect
              config:
                issuer_url: ${issuer}
                client_id: sluice-test
                client_secret_env: E2E_OIDC_SECRET${extra}
        - expressions: ["!actions.ngrok.oidc.identity.email.endsWith('@example.com')"]
          actions:
            - type: custom-response
              config:
                status_code: 403
                body: "Sorry \${actions.ngrok.oidc.identity.name}, this app is for staff only."`;
  const config = `version: 1
listeners:
  http: 127.0.0.1:{HTTP}
state_dir: {DIR}/state
endpoints:
  - url: http://app.localhost:{HTTP}
    upstream:
      url: http://127.0.0.1:${echo.port}
    traffic_policy:${oidc()}
  - url: http://short.localhost:{HTTP}
    upstream:
      url: http://127.0.0.1:${echo.port}
    traffic_policy:${oidc('\n                max_session_duration: 3s')}
  - url: http://fresh.localhost:{HTTP}
    upstream:
      url: http://127.0.0.1:${echo.port}
    traffic_policy:
      on_http_request:
        - actions:
            - type: openid-connect
              config:
                issuer_url: ${issuer}
                client_id: sluice-test
                client_secret_env: E2E_OIDC_SECRET
                scopes: [openid, profile, email, offline_access]
                authz_url_params: {prompt: consent}
                userinfo_refresh_interval: 2s
            - type: add-headers
              config:
                headers:
                  x-token-expires-at: "\${actions.ngrok.oidc.expires_at}"
                  x-user-info-refreshed: "\${actions.ngrok.oidc.user_info_refreshed}"
  - url: http://gh-fresh.localhost:{HTTP}
    upstream:
      url: http://127.0.0.1:${echo.port}
    traffic_policy:
      on_http_request:
        - actions:
            - type: oauth
              config:
                provider: github
                client_id: ${ghFresh.clientId}
                client_secret: ${ghFresh.clientSecret}
                userinfo_refresh_interval: 2s
                endpoints:
                  authorization_url: ${ghFresh.base}/login/oauth/authorize
                  token_url: ${ghFresh.base}/login/oauth/access_token
                  userinfo_url: ${ghFresh.base}/user
                  emails_url: ${ghFresh.base}/user/emails
            - type: add-headers
              config:
                headers:
                  x-userinfo-refreshed: "\${actions.ngrok.oauth.userinfo_refreshed}"
  - url: http://gh.localhost:{HTTP}
    upstream:
      url: http://127.0.0.1:${echo.port}
    traffic_policy:
      on_http_request:
        - actions:
            - type: oauth
              config:
                provider: github
                client_id: ${gh.clientId}
                client_secret_file: ${path.join(scratch.dir, 'gh-secret')}
                endpoints:
                  authorization_url: ${gh.base}/login/oauth/authorize
                  token_url: ${gh.base}/login/oauth/access_token
                  userinfo_url: ${gh.base}/user
                  emails_url: ${gh.base}/user/emails
        - expressions: ["!actions.ngrok.oauth.identity.email.endsWith('@example.com')"]
          actions:
            - type: custom-response
              config: {status_code: 403, body: "staff only"}
`;
  edge = await startEdge(config, { env: { E2E_OIDC_SECRET: 'test-secret-0123456789' }, ports: { http: HTTP } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await edge?.stop();
  await idp?.stop();
  await gh?.stop();
  await ghFresh?.stop();
  await echo?.stop();
  scratch?.remove();
});

/** A fresh browser profile that only reaches loopback, recording the URLs it requests. */
async function newProfile() {
  const context = await browser.newContext();
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === '127.0.0.1' || host.endsWith('localhost') ? route.continue() : route.abort();
  });
  const page = await context.newPage();
  const seen = [];
  page.on('request', (r) => seen.push(r.url()));
  return { context, page, seen };
}

/** What the echo upstream says it received, from the page's JSON body. */
async function upstreamSaw(page) {
  return JSON.parse(await page.textContent('body'));
}

test('openid-connect: login with the real provider, session reuse, logout', async () => {
  const { context, page, seen } = await newProfile();
  try {
    await page.goto(url('app', '/private/page?x=1'));
    assert.ok(page.url().startsWith(idp.issuer), `expected the IdP's login page, got ${page.url()}`);
    await screenshot(page, 'oidc-idp-login');
    await signIn(page, idp.issuer, 'alice');
    assert.equal(page.url(), url('app', '/private/page?x=1'));
    let got = await upstreamSaw(page);
    assert.equal(got.url, '/private/page?x=1');
    assert.equal(got.headers['ngrok-auth-user-email'], 'alice@example.com');
    assert.equal(got.headers['ngrok-auth-user-name'], 'Alice Example');
    assert.equal(got.headers['ngrok-auth-user-id'], 'alice');
    assert.ok(!(got.headers.cookie || '').includes('sluice_'), 'the gate\'s cookies never reach the upstream');
    await screenshot(page, 'oidc-app-after-login');

    // A second visit uses the session: the browser never goes to the provider.
    seen.length = 0;
    const second = await page.goto(url('app', '/again'));
    assert.equal(second.status(), 200);
    assert.ok(seen.every((u) => !u.startsWith(idp.issuer)), `went to the IdP: ${seen.join(' ')}`);
    got = await upstreamSaw(page);
    assert.equal(got.headers['ngrok-auth-user-email'], 'alice@example.com');

    // Logout ends it: the next visit goes through the provider again.
    const out = await page.goto(url('app', '/ngrok/logout'));
    assert.equal(out.status(), 200);
    assert.match(await page.textContent('body'), /logged out/);
    seen.length = 0;
    await page.goto(url('app', '/after-logout'));
    await signIn(page, idp.issuer, 'alice');
    assert.ok(seen.some((u) => u.startsWith(`${idp.issuer}/auth`)), 'logged out: the provider was asked again');
    assert.equal(page.url(), url('app', '/after-logout'));
  } finally {
    await context.close();
  }
});

test('openid-connect: an email outside the allowed domain gets the policy\'s 403', async () => {
  const { context, page } = await newProfile();
  try {
    await page.goto(url('app', '/'));
    await signIn(page, idp.issuer, 'mallory');
    const reload = await page.reload();
    assert.equal(reload.status(), 403);
    assert.match(await page.textContent('body'), /Sorry Mallory Outsider, this app is for staff only/);
    await screenshot(page, 'oidc-outsider-403');
  } finally {
    await context.close();
  }
});

test('openid-connect: a session past max_session_duration logs in again', async () => {
  const { context, page, seen } = await newProfile();
  try {
    await page.goto(url('short', '/one'));
    await signIn(page, idp.issuer, 'alice');
    assert.equal(page.url(), url('short', '/one'));
    seen.length = 0;
    await page.goto(url('short', '/two'));
    assert.ok(seen.every((u) => !u.startsWith(idp.issuer)), 'fresh session used');
    // The session lasts 3 s: poll until a visit goes through the provider again.
    await waitFor('the short session to end', async () => {
      seen.length = 0;
      await page.goto(url('short', '/poll'));
      await signIn(page, idp.issuer, 'alice');
      return seen.some((u) => u.startsWith(`${idp.issuer}/auth`));
    }, 20000);
    assert.equal(page.url(), url('short', '/poll'));
    const got = await upstreamSaw(page);
    assert.equal(got.headers['ngrok-auth-user-email'], 'alice@example.com');
  } finally {
    await context.close();
  }
});

test('oauth: a GitHub-shaped provider through endpoint overrides', async () => {
  const { context, page, seen } = await newProfile();
  try {
    await page.goto(url('gh', '/repo'));
    assert.ok(page.url().startsWith(`${gh.base}/login/oauth/authorize`), page.url());
    await page.fill('input[name=login]', 'octo');
    await page.fill('input[name=password]', 'whatever');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(page.url(), url('gh', '/repo'));
    const got = await upstreamSaw(page);
    assert.equal(got.headers['ngrok-auth-user-email'], 'octo@example.com', 'primary address from /user/emails');
    assert.equal(got.headers['ngrok-auth-user-id'], '4242');
    assert.equal(got.headers['ngrok-auth-user-name'], 'Octo Cat');
    await screenshot(page, 'oauth-github-shaped');
    seen.length = 0;
    await page.goto(url('gh', '/again'));
    assert.ok(seen.every((u) => !u.startsWith(gh.base)), 'session reused');
    assert.equal(gh.stats.codesRedeemed, 1);
  } finally {
    await context.close();
  }
});

test('openid-connect: an expired access token is renewed with the refresh token, and the user info is read again', async () => {
  const { context, page } = await newProfile();
  try {
    await page.goto(url('fresh', '/start'));
    await signIn(page, idp.issuer, 'carol');
    assert.equal(page.url(), url('fresh', '/start'));
    const first = await upstreamSaw(page);
    assert.equal(first.headers['ngrok-auth-user-name'], 'Carol Example');
    const firstExpiry = first.headers['x-token-expires-at'];
    assert.ok(firstExpiry && !firstExpiry.startsWith('1970'), `an expiry: ${firstExpiry}`);
    const grants = idp.stats.refreshGrants;
    USERS.carol.name = 'Carol Renamed';
    // The token is renewed 5 s before it expires (so after about 3 s) and the user info is
    // read every 2 s; the browser stays on the app all along.
    const renewed = await waitFor('a renewed token and the new name upstream', async () => {
      await page.goto(url('fresh', '/poll'));
      assert.equal(new URL(page.url()).hostname, `fresh.localhost`, 'never sent back to the provider');
      const seen = await upstreamSaw(page);
      return seen.headers['x-token-expires-at'] !== firstExpiry
        && seen.headers['ngrok-auth-user-name'] === 'Carol Renamed' && seen;
    }, 20000);
    assert.ok(idp.stats.refreshGrants > grants, 'the provider granted a refresh_token grant');
    assert.ok(new Date(renewed.headers['x-token-expires-at']) > new Date(firstExpiry));
    // The renewed session lives in the browser's cookie: a later request keeps the new name.
    await page.goto(url('fresh', '/later'));
    assert.equal((await upstreamSaw(page)).headers['ngrok-auth-user-name'], 'Carol Renamed');
  } finally {
    USERS.carol.name = 'Carol Example';
    await context.close();
  }
});

test('oauth: an expiring token is renewed with the refresh token, and the user info is read again', async () => {
  const { context, page, seen } = await newProfile();
  try {
    await page.goto(url('gh-fresh', '/start'));
    await page.fill('input[name=login]', 'octo');
    await page.fill('input[name=password]', 'whatever');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(page.url(), url('gh-fresh', '/start'));
    assert.equal((await upstreamSaw(page)).headers['ngrok-auth-user-name'], 'Octo Fresh');
    freshUsers.octo.name = 'Octo Renamed';
    seen.length = 0;
    // The token stops working after 8 s; without the renewal the user info read every 2 s
    // would fail and send the browser back to the provider.
    const renewed = await waitFor('the renewed session to show the new name', async () => {
      await page.goto(url('gh-fresh', '/poll'));
      const got = await upstreamSaw(page);
      return ghFresh.stats.refreshGrants > 0 && got.headers['ngrok-auth-user-name'] === 'Octo Renamed' && got;
    }, 20000);
    assert.equal(renewed.headers['ngrok-auth-user-id'], '77');
    await page.waitForTimeout(9000);
    await page.goto(url('gh-fresh', '/after-first-token'));
    assert.equal((await upstreamSaw(page)).headers['ngrok-auth-user-name'], 'Octo Renamed');
    assert.ok(seen.every((u) => !u.startsWith(ghFresh.base)), `sent back to the provider: ${seen.join(' ')}`);
    assert.equal(ghFresh.stats.codesRedeemed, 1, 'one login all along');
  } finally {
    await context.close();
  }
});
