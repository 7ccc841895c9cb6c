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
};

/**
 * Starts the provider. `redirectUris` are the app's callback URLs
 * (`<endpoint URL>/ngrok/oauth2/callback`); `port` is picked when not given. Returns `{ issuer, clientId, clientSecret, stop }`.
 */
export async function startIdp({ redirectUris, port: givenPort, clientId = 'sluice-test', clientSecret = 'test-secret-0123456789' }) {
  const port = givenPort || await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
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
  const server = http.createServer(provider.callback());
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    clientId,
    clientSecret,
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
