// Small hand-made identity providers for the login tests, on loopback ports:
//  - `startGitHubShaped`: an OAuth 2.0 provider shaped like GitHub (an authorize page with a
//    login form, `/login/oauth/access_token`, `/user` whose email is hidden, `/user/emails`),
//    which the `oauth` action reaches through its `endpoints:` overrides;
//  - `startRogueIssuer`: an OpenID Connect issuer whose ID tokens can be made wrong on purpose
//    (nonce, signing key, expiry, issuer), for the negative cases a real provider never produces.
// Codes are single-use and PKCE (S256) is checked, like a real provider.
import crypto from 'node:crypto';
import http from 'node:http';
import { freePort } from './harness.js';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json', ...headers });
  res.end(text);
}

function pkceOk(verifier, challenge) {
  return typeof verifier === 'string' && b64u(crypto.createHash('sha256').update(verifier).digest()) === challenge;
}

async function listen(handler) {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    handler(req, res, `http://127.0.0.1:${port}`).catch((err) => send(res, 500, { error: String(err) }));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/**
 * A GitHub-shaped OAuth 2.0 provider. `users` maps login names to `{ id, name, email }`; the
 * profile (`/user`) hides the email, which only `/user/emails` gives, as GitHub does for users
 * with a private address. With `tokenTtl` (seconds), access tokens expire, come with a refresh
 * token, and stop working after that long, as a GitHub App's expiring user tokens do.
 * Returns `{ base, clientId, clientSecret, stats: { codesRedeemed, refreshGrants }, stop }`.
 */
export async function startGitHubShaped({ users, clientId = 'gh-client', clientSecret = 'gh-secret', tokenTtl }) {
  const codes = new Map();
  const tokens = new Map();
  const refreshTokens = new Map();
  const state = { codesRedeemed: 0, refreshGrants: 0 };
  /** A new access token for `user` (with a refresh token when tokens expire). */
  const issue = (user) => {
    const token = `gho_${crypto.randomBytes(16).toString('hex')}`;
    tokens.set(token, { user, until: tokenTtl ? Date.now() + tokenTtl * 1000 : Infinity });
    const answer = { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' };
    if (tokenTtl) {
      const refresh = `ghr_${crypto.randomBytes(16).toString('hex')}`;
      refreshTokens.set(refresh, user);
      Object.assign(answer, { expires_in: tokenTtl, refresh_token: refresh });
    }
    return answer;
  };
  const server = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/login/oauth/authorize' && req.method === 'GET') {
      const p = url.searchParams;
      if (p.get('client_id') !== clientId || p.get('code_challenge_method') !== 'S256') {
        return send(res, 400, '<p>bad authorization request</p>');
      }
      const hidden = ['redirect_uri', 'state', 'code_challenge'].map((k) => `<input type=hidden name=${k} value="${p.get(k)}">`).join('');
      return send(res, 200, `<!doctype html><title>Sign in to GitHub-shaped</title><form method=post action="/session">${hidden}<input name=login placeholder=login><input type=password name=password><button type=submit>Sign in</button></form>`);
    }
    if (url.pathname === '/session' && req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const user = users[form.get('login')];
      if (!user) return send(res, 401, '<p>unknown user</p>');
      const code = crypto.randomBytes(12).toString('hex');
      codes.set(code, { user, challenge: form.get('code_challenge'), redirect: form.get('redirect_uri') });
      const back = new URL(form.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', form.get('state'));
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
        return send(res, 200, { error: 'incorrect_client_credentials' });
      }
      if (form.get('grant_type') === 'refresh_token') {
        // Refresh tokens are single-use: each grant hands out a new one.
        const user = refreshTokens.get(form.get('refresh_token'));
        refreshTokens.delete(form.get('refresh_token'));
        if (!user) return send(res, 200, { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' });
        state.refreshGrants += 1;
        return send(res, 200, issue(user));
      }
      const grant = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      if (!grant || grant.redirect !== form.get('redirect_uri') || !pkceOk(form.get('code_verifier'), grant.challenge)) {
        // GitHub answers 200 with an error field.
        return send(res, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
      }
      state.codesRedeemed += 1;
      return send(res, 200, issue(grant.user));
    }
    const auth = (req.headers.authorization || '').replace(/^Bearer /, '');
    const held = tokens.get(auth);
    const user = held && Date.now() < held.until ? held.user : undefined;
    if (url.pathname === '/user') {
      if (!user) return send(res, 401, { message: 'Bad credentials' });
      return send(res, 200, { id: user.id, login: user.login, name: user.name, email: null });
    }
    if (url.pathname === '/user/emails') {
      if (!user) return send(res, 401, { message: 'Bad credentials' });
      return send(res, 200, [
        { email: `${user.login}@users.noreply.example`, primary: false, verified: true },
        { email: user.email, primary: true, verified: true },
      ]);
    }
    return send(res, 404, { message: 'Not Found' });
  });
  return { ...server, clientId, clientSecret, stats: state };
}

/**
 * An OpenID Connect issuer answering the authorization request at once (no login form) and
 * signing ID tokens as `mode` says: `ok`, `wrong-nonce`, `other-key`, `expired`,
 * `wrong-issuer`. Set `issuer.mode` between logins. `discoveryIssuer` overrides the issuer the
 * discovery document names (for an issuer-mismatch case at discovery).
 */
export async function startRogueIssuer({ clientId = 'rogue-client', clientSecret = 'rogue-secret', discoveryIssuer } = {}) {
  const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...key.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map();
  const issuer = { mode: 'ok', clientId, clientSecret };
  const sign = (payload, privateKey) => {
    const head = b64u(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' }));
    const body = b64u(JSON.stringify(payload));
    const sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`), privateKey);
    return `${head}.${body}.${b64u(sig)}`;
  };
  const server = await listen(async (req, res, base) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer: discoveryIssuer || base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        userinfo_endpoint: `${base}/userinfo`,
        jwks_uri: `${base}/jwks`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    if (url.pathname === '/jwks') return send(res, 200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const p = url.searchParams;
      const code = crypto.randomBytes(12).toString('hex');
      codes.set(code, { nonce: p.get('nonce'), challenge: p.get('code_challenge'), redirect: p.get('redirect_uri') });
      const back = new URL(p.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state'));
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const basic = Buffer.from((req.headers.authorization || '').replace(/^Basic /, ''), 'base64').toString();
      if (basic !== `${clientId}:${clientSecret}`) return send(res, 401, { error: 'invalid_client' });
      const form = new URLSearchParams(await readBody(req));
      const grant = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      if (!grant || grant.redirect !== form.get('redirect_uri') || !pkceOk(form.get('code_verifier'), grant.challenge)) {
        return send(res, 400, { error: 'invalid_grant', error_description: 'code invalid, expired or already used' });
      }
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: issuer.mode === 'wrong-issuer' ? 'http://127.0.0.1:1/not-the-issuer' : base,
        sub: 'rogue-user-1',
        aud: clientId,
        iat: now - (issuer.mode === 'expired' ? 7200 : 0),
        exp: issuer.mode === 'expired' ? now - 3600 : now + 300,
        nonce: issuer.mode === 'wrong-nonce' ? 'not-the-nonce' : grant.nonce,
        email: 'rogue@example.com',
        name: 'Rogue User',
      };
      const id_token = sign(claims, issuer.mode === 'other-key' ? otherKey.privateKey : key.privateKey);
      return send(res, 200, { access_token: 'at-rogue', token_type: 'Bearer', expires_in: 300, id_token });
    }
    if (url.pathname === '/userinfo') {
      return send(res, 200, { sub: 'rogue-user-1', email: 'rogue@example.com', name: 'Rogue User' });
    }
    return send(res, 404, { error: 'not found' });
  });
  return Object.assign(issuer, server, { issuer: server.base });
}
