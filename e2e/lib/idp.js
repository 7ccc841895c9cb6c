// A real OpenID provider for the login tests: the npm package `oidc-provider` on a loopback
// port, with one confidential test client and a few test users. Its development login form
// (devInteractions) accepts any password; the login name picks the user.
import http from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from './harness.js';

/** The test users, by login name: what the provider says about each. */
export const USERS = {
  alice: { email: 'alice@example.com', name: 'Alice Example' },
  mallory: { email: 'mallory@elsewhere.test', name: 'Mallory Outsider' },
  // Only the refresh test logs in as carol, and renames her to see the user info read again.
  carol: { email: 'carol@example.com', name: 'Carol Example' },
};

/**
 * Starts the provider. `redirectUris` are the app's callback URLs
 * (`<endpoint URL>/ngrok/oauth2/callback`); `port` is picked when not given. The client may
 * use refresh tokens (issued when the app asks for `offline_access` with `prompt=consent`);
 * `accessTokenTtl` (seconds) shortens access tokens for the refresh tests. Returns
 * `{ issuer, clientId, clientSecret, stats, stop }`, where `stats.refreshGrants` counts the
 * refresh_token grants the provider granted.
 */
export async function startIdp({ redirectUris, port: givenPort, clientId = 'sluice-test', clientSecret = 'test-secret-0123456789', accessTokenTtl }) {
  const port = givenPort || await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const stats = { refreshGrants: 0 };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    ...(accessTokenTtl ? { ttl: { AccessToken: accessTokenTtl } } : {}),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    cookies: { keys: ['sluice-e2e-idp-cookie-key'] },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, sub) {
      const user = USERS[sub];
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: user.email, email_verified: true, name: user.name };
        },
      };
    },
  });
  // The provider only talks to the test: keep its warnings about development defaults quiet.
  provider.on('server_error', (_ctx, err) => console.error('idp server_error', err));
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params.grant_type === 'refresh_token') stats.refreshGrants += 1;
  });
  const server = http.createServer(provider.callback());
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    clientId,
    clientSecret,
    stats,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/**
 * Drives the provider's development forms in `page` until the browser leaves the provider:
 * the login form (login name `user`, any password), then any consent "Continue".
 */
export async function signIn(page, issuer, user) {
  for (let step = 0; step < 6; step++) {
    await page.waitForLoadState('domcontentloaded');
    if (!page.url().startsWith(issuer)) return;
    const login = await page.$('input[name=login]');
    if (login) {
      await login.fill(user);
      await page.fill('input[name=password]', 'any-password');
    }
    await Promise.all([
      page.waitForNavigation({ timeout: 15000 }),
      page.click('button[type=submit]'),
    ]);
  }
  throw new Error(`still on the identity provider at ${page.url()}`);
}
