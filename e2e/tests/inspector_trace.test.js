// The edge's policy trace and TLS facts in the web inspector, end to end: a real `sluice edge`
// runs a policy with an add-headers rule and a deny rule, a real `sluice http` agent records the
// traffic of an https:// endpoint, and the browser shows, for a request the edge denied itself
// and for one it forwarded, which rules matched, what each action did, and the TLS the client
// spoke to the edge.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, waitFor } from '../lib/harness.js';
import {
  openRow, rowWithPath, sendPublicTls, startAgent, startUpstream,
} from '../lib/inspector.js';

const POLICY = `on_http_request:
  - name: tag requests
    actions:
      - type: add-headers
        config:
          headers:
            x-via-policy: "yes"
  - name: block admin
    expressions:
      - req.url.path.startsWith('/admin')
    actions:
      - type: deny
        config:
          status_code: 403
on_http_response:
  - name: stamp responses
    actions:
      - type: add-headers
        config:
          headers:
            x-stamped: "1"
`;

/** The inspector's JSON of the newest request to `path`, once the edge's trace joined it. */
async function tracedRequest(web, path) {
  return waitFor(`the trace of ${path}`, async () => {
    const list = await (await fetch(`${web}/api/requests/http?limit=50`)).json();
    const found = list.requests.find((r) => r.request.uri.startsWith(path));
    return found?.trace?.phases?.length ? found : null;
  });
}

describe('web inspector: the policy trace and TLS facts from the edge', () => {
  let upstream;
  let agent;
  let browser;
  let page;

  before(async () => {
    upstream = await startUpstream();
    agent = await startAgent(upstream.port, { policy: POLICY, args: ['--url', 'https://trace.localhost'] });
    assert.match(agent.publicUrl, /^https:\/\/trace\.localhost:\d+$/);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(agent.web);
    await page.locator('#live[data-state="open"]').waitFor({ timeout: 15000 });
  });

  after(async () => {
    await browser?.close();
    await agent?.stop();
    await upstream?.stop();
  });

  test('a request the edge denied is listed, and its trace shows both rules', async () => {
    const r = await sendPublicTls(agent.publicUrl, agent.edge, '/admin/panel?x=1');
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-stamped'], '1', 'the response phase ran on the edge answer');
    assert.ok(!upstream.received.some((q) => q.url.startsWith('/admin')), 'the upstream never saw it');

    const json = await tracedRequest(agent.web, '/admin/panel');
    const request = json.trace.phases.find((p) => p.phase === 'on_http_request');
    assert.deepEqual(request.rules.map((x) => [x.name, x.matched]), [['tag requests', true], ['block admin', true]]);
    assert.equal(request.rules[0].actions[0].type, 'add-headers');
    assert.deepEqual(request.rules[0].actions[0].changes,
      [{ kind: 'header-added', side: 'request', name: 'x-via-policy', value: 'yes' }]);
    assert.deepEqual(request.rules[1].expressions, [{ expr: "req.url.path.startsWith('/admin')", result: true }]);
    assert.equal(request.rules[1].actions[0].type, 'deny');
    assert.equal(request.rules[1].actions[0].terminated, true);

    const row = await rowWithPath(page, '/admin/panel');
    assert.equal(await row.locator('.status').textContent(), '403');
    await openRow(page, row);
    const shown = page.locator('#trace');
    await shown.locator('.rule').first().waitFor();
    const text = await shown.textContent();
    assert.match(text, /on_http_request/);
    assert.match(text, /tag requests/);
    assert.match(text, /add-headers added x-via-policy/);
    assert.match(text, /added request header x-via-policy: yes/);
    assert.match(text, /block admin/);
    assert.match(text, /req\.url\.path\.startsWith\('\/admin'\) → true/);
    assert.match(text, /deny responded 403/);
    assert.match(text, /ended the phase/);
    assert.match(text, /on_http_response/);
    assert.match(text, /stamp responses/);
    assert.equal(await shown.locator('.rule.matched').count(), 3);
    assert.match(await page.locator('#d-tls').textContent(), /TLS 1\.[23] .*SNI trace\.localhost/,
      'the TLS of a request the edge answered itself is reported too');
    await screenshot(page, 'inspector-trace-edge-denied');
  });

  test('a forwarded request shows its trace and the TLS the client spoke', async () => {
    const r = await sendPublicTls(agent.publicUrl, agent.edge, '/hello?who=tls');
    assert.equal(r.status, 200);
    const seen = upstream.received.find((q) => q.url === '/hello?who=tls');
    assert.equal(seen?.headers['x-via-policy'], 'yes');
    assert.equal(seen?.headers['sluice-trace-id'], undefined, 'the trace id never reaches the upstream');

    const json = await tracedRequest(agent.web, '/hello');
    const request = json.trace.phases.find((p) => p.phase === 'on_http_request');
    assert.deepEqual(request.rules.map((x) => [x.name, x.matched]), [['tag requests', true], ['block admin', false]]);
    assert.deepEqual(request.rules[1].expressions, [{ expr: "req.url.path.startsWith('/admin')", result: false }]);

    const host = new URL(agent.publicUrl).hostname;
    const detail = await (await fetch(`${agent.web}/api/requests/http/${json.id}/detail`)).json();
    assert.equal(detail.tls.terminated_at, 'edge');
    assert.equal(detail.tls.sni, host);
    assert.match(detail.tls.version, /^TLSv?1[._][23]$/);
    assert.ok(detail.tls.cipher_suite, 'a cipher suite is reported');

    const row = await rowWithPath(page, '/hello');
    await openRow(page, row);
    const tls = await page.locator('#d-tls').textContent();
    assert.match(tls, /TLS 1\.[23]/);
    assert.ok(tls.includes(detail.tls.cipher_suite), tls);
    assert.ok(tls.includes(`SNI ${host}`), tls);
    const shown = page.locator('#trace');
    await shown.locator('.rule').first().waitFor();
    const text = await shown.textContent();
    assert.match(text, /block admin\s*not matched/);
    assert.match(text, /→ false/);
    assert.equal(await shown.locator('.rule.matched').count(), 2);
    await screenshot(page, 'inspector-trace-https');
  });
});
