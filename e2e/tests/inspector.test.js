// The web inspector in a real browser against a real `sluice http` agent bound to a real
// `sluice edge`: requests appear live, the detail view reads them (headers, query, pretty JSON,
// syntax errors at line:column), filters narrow the list and live in the URL, replays (plain,
// edited, through the edge) reach the upstream, HAR export is HAR 1.2, the keyboard works.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, waitFor } from '../lib/harness.js';
import {
  openRow, rowIds, rowWithPath, sendPublic, startAgent, startTcpEcho, startUpstream, tcpRoundTrip,
} from '../lib/inspector.js';

describe('web inspector', () => {
  let upstream;
  let agent;
  let browser;
  let page;

  before(async () => {
    upstream = await startUpstream();
    agent = await startAgent(upstream.port);
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

  test('a request appears live, and its detail shows headers, query and pretty JSON', async () => {
    const body = JSON.stringify({ order: { id: 42, items: ['tea', 'cake'] }, paid: true });
    const r = await sendPublic(agent.publicUrl, '/hooks/order?source=shop&n=1', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-e2e': 'hello' },
      body,
    });
    assert.equal(r.status, 200);
    const row = await rowWithPath(page, '/hooks/order');
    assert.equal(await row.locator('.status').textContent(), '200');
    assert.match(await row.locator('.status').getAttribute('class'), /s2xx/);
    await openRow(page, row);
    assert.match(await page.locator('#req-headers').textContent(), /x-e2ehello/);
    assert.match(await page.locator('#req-headers').textContent(), /x-via-policyyes/);
    const query = await page.locator('#req-query').textContent();
    assert.match(query, /sourceshop/);
    assert.match(query, /n1/);
    const pretty = page.locator('#req-body pre.json');
    const text = await pretty.textContent();
    assert.ok(text.includes('{\n  "order": {\n    "id": 42,'), text);
    assert.ok(await pretty.locator('.j-key', { hasText: '"order"' }).count() >= 1);
    assert.match(await page.locator('#resp-body').textContent(), /"ok"/);
    assert.match(await page.locator('#d-time').textContent(), /T\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(await page.locator('#trace').textContent(), /policy trace|tag requests/);
    await screenshot(page, 'inspector-detail');
  });

  test('a malformed JSON body shows the error at its line and column', async () => {
    await sendPublic(agent.publicUrl, '/hooks/broken', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{\n  "a": 1,\n  "b": }\n',
    });
    const row = await rowWithPath(page, '/hooks/broken');
    await openRow(page, row);
    const err = page.locator('#req-body .json-error');
    await err.waitFor();
    assert.match(await err.textContent(), /line 3, column 8/);
    assert.equal(await page.locator('#req-body .line.bad').getAttribute('data-line'), '3');
    await screenshot(page, 'inspector-json-error');
  });

  test('filters narrow the list, combine, and survive a reload', async () => {
    await sendPublic(agent.publicUrl, '/missing/thing');
    await sendPublic(agent.publicUrl, '/health');
    await rowWithPath(page, '/missing/thing');
    await rowWithPath(page, '/health');
    await page.fill('#f-status', '4xx');
    await waitFor('the list to show only 4xx', async () => {
      const statuses = await page.$$eval('#list tbody tr .status', (s) => s.map((x) => x.textContent));
      return statuses.length === 1 && statuses[0] === '404';
    });
    await page.fill('#f-method', 'POST');
    await waitFor('no row to match 4xx AND POST', async () => (await rowIds(page)).length === 0);
    await page.fill('#f-method', 'get');
    await waitFor('the 404 to come back', async () => (await rowIds(page)).length === 1);
    assert.match(page.url(), /status=4xx/);
    await page.reload();
    await page.locator('#live[data-state="open"]').waitFor();
    assert.equal(await page.inputValue('#f-status'), '4xx');
    assert.equal(await page.inputValue('#f-method'), 'get');
    await waitFor('the filtered list after reload', async () => {
      const statuses = await page.$$eval('#list tbody tr .status', (s) => s.map((x) => x.textContent));
      return statuses.length === 1 && statuses[0] === '404';
    });
    // A new matching request still arrives live under the filter; others do not.
    await sendPublic(agent.publicUrl, '/health?again=1');
    await sendPublic(agent.publicUrl, '/missing/two');
    await rowWithPath(page, '/missing/two');
    assert.equal((await rowIds(page)).length, 2);
    await screenshot(page, 'inspector-filtered');
    await page.click('#f-reset');
    await waitFor('every row back', async () => (await rowIds(page)).length >= 5);
  });

  test('keyboard: arrows move through the list, r replays', async () => {
    const ids = await rowIds(page);
    await page.locator(`#list tbody tr[data-id="${ids[0]}"]`).click();
    await page.keyboard.press('ArrowDown');
    await waitFor('the second row selected', async () =>
      (await page.getAttribute(`#list tbody tr[data-id="${ids[1]}"]`, 'aria-selected')) === 'true');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowUp');
    await waitFor('back on the second row', async () =>
      (await page.getAttribute(`#list tbody tr[data-id="${ids[1]}"]`, 'aria-selected')) === 'true');
    assert.match(page.url(), new RegExp(`sel=${ids[1]}`));

    const order = await rowWithPath(page, '/hooks/order');
    await openRow(page, order);
    const before = upstream.received.length;
    await page.keyboard.press('r');
    await waitFor('the replay at the upstream', async () => upstream.received.length > before);
    const got = upstream.received.at(-1);
    assert.equal(got.url, '/hooks/order?source=shop&n=1');
    assert.match(got.body, /"order"/);
    await page.locator('#list tbody tr.replay').first().waitFor();
  });

  test('replay with changes reaches the upstream with the edited parts', async () => {
    const order = await rowWithPath(page, '/hooks/order');
    await openRow(page, order);
    await page.click('#btn-edit');
    await page.locator('#editor[open]').waitFor();
    await page.fill('#e-method', 'PUT');
    await page.fill('#e-path', '/hooks/edited');
    await page.locator('#e-query .pair .v').first().fill('changed');
    await page.click('[data-add="e-headers"]');
    await page.locator('#e-headers .pair .k').last().fill('x-edited');
    await page.locator('#e-headers .pair .v').last().fill('by-hand');
    await page.fill('#e-body', '{"order":{"id":43}}');
    await page.click('[data-add="e-trailers"]');
    await page.locator('#e-trailers .pair .k').fill('x-checksum');
    await page.locator('#e-trailers .pair .v').fill('abc');
    await screenshot(page, 'inspector-editor');
    const before = upstream.received.length;
    await page.click('#e-send');
    await waitFor('the edited replay at the upstream', async () => upstream.received.length > before);
    const got = upstream.received.at(-1);
    assert.equal(got.method, 'PUT');
    assert.equal(got.url, '/hooks/edited?source=changed&n=1');
    assert.equal(got.headers['x-edited'], 'by-hand');
    assert.equal(got.body, '{"order":{"id":43}}');
    assert.equal(got.trailers['x-checksum'], 'abc');
    await page.locator('#editor[open]').waitFor({ state: 'detached' }).catch(() => {});
    await rowWithPath(page, '/hooks/edited');
  });

  test('replay through the edge runs the policy again', async () => {
    // The row of the request as the client sent it (replays of it come on top).
    const id = await (await rowWithPath(page, '/health')).getAttribute('data-id');
    const row = page.locator(`#list tbody tr[data-id="${id}"]`);
    await openRow(page, row);
    let before = upstream.received.length;
    await page.click('#btn-replay-edge');
    await waitFor('the edge replay at the upstream', async () => upstream.received.length > before);
    assert.equal(upstream.received.at(-1).headers['sluice-replay'], undefined);
    await page.locator('#list tbody tr.replay .replay-badge', { hasText: 'edge' }).first().waitFor();

    // Without the header the policy added the first time, it comes back only if the policy
    // runs again.
    await openRow(page, row);
    await page.click('#btn-edit');
    await page.locator('#editor[open]').waitFor();
    await page.selectOption('#e-target', 'edge');
    const added = page.locator('#e-headers .pair').filter({ has: page.locator('input.k[value="x-via-policy"]') });
    assert.equal(await added.count(), 1);
    await added.locator('button').click();
    before = upstream.received.length;
    await page.click('#e-send');
    await waitFor('the edited edge replay at the upstream', async () => upstream.received.length > before);
    assert.equal(upstream.received.at(-1).headers['x-via-policy'], 'yes');
  });

  test('HAR export of the list and of one request is HAR 1.2', async () => {
    const href = await page.getAttribute('#btn-har', 'href');
    const har = await page.evaluate(async (u) => (await fetch(u)).json(), href);
    assert.equal(har.log.version, '1.2');
    assert.equal(typeof har.log.creator.name, 'string');
    assert.equal(typeof har.log.creator.version, 'string');
    assert.ok(har.log.entries.length >= 5, `${har.log.entries.length} entries`);
    for (const e of har.log.entries) {
      assert.ok(!Number.isNaN(Date.parse(e.startedDateTime)), e.startedDateTime);
      assert.equal(typeof e.time, 'number');
      for (const k of ['method', 'url', 'httpVersion', 'cookies', 'headers', 'queryString', 'headersSize', 'bodySize']) {
        assert.ok(k in e.request, `request.${k}`);
      }
      for (const k of ['status', 'statusText', 'httpVersion', 'cookies', 'headers', 'content', 'redirectURL', 'headersSize', 'bodySize']) {
        assert.ok(k in e.response, `response.${k}`);
      }
      assert.equal(typeof e.response.content.size, 'number');
      assert.equal(typeof e.response.content.mimeType, 'string');
      assert.ok(e.cache && typeof e.cache === 'object', 'cache');
      for (const k of ['send', 'wait', 'receive']) assert.equal(typeof e.timings[k], 'number');
      assert.ok(e.request.url.startsWith(agent.publicUrl), `${e.request.url} is not under ${agent.publicUrl}`);
    }
    const order = har.log.entries.find((e) => e.request.url.includes('/hooks/order'));
    assert.equal(order.request.postData.mimeType, 'application/json');
    assert.deepEqual(order.request.queryString.map((q) => q.name), ['source', 'n']);

    const row = await rowWithPath(page, '/hooks/broken');
    await openRow(page, row);
    const one = await page.getAttribute('#btn-har-one', 'href');
    const single = await page.evaluate(async (u) => (await fetch(u)).json(), one);
    assert.equal(single.log.entries.length, 1);
    assert.ok(single.log.entries[0].request.url.endsWith('/hooks/broken'), single.log.entries[0].request.url);
  });

  test('a policy trace in the request JSON is shown rule by rule', async () => {
    // The edge's trace arrives in `GET /api/requests/http/:id` as `trace`; here it is added
    // to that answer in the browser, to pin how the page shows the agreed shape.
    const trace = {
      phases: [{
        phase: 'on_http_request',
        rules: [
          { name: 'tag requests', expressions: [], matched: true,
            actions: [{ type: 'add-headers', effect: 'added x-via-policy', terminated: false }] },
          { name: 'block admin', expressions: [{ expr: "req.url.path.startsWith('/admin')", result: true }], matched: true,
            actions: [{ type: 'deny', effect: 'answered 403', terminated: true }] },
          { name: 'never', expressions: [{ expr: 'false', result: false }], matched: false, actions: [] },
        ],
      }],
    };
    const ngrokShape = /\/api\/requests\/http\/[0-9a-f]{16}$/;
    await page.route(ngrokShape, async (route) => {
      const resp = await route.fetch();
      const body = await resp.json();
      await route.fulfill({ response: resp, json: { ...body, trace } });
    });
    try {
      const row = await rowWithPath(page, '/hooks/order');
      await openRow(page, row);
      const shown = page.locator('#trace');
      await shown.locator('.rule').first().waitFor();
      const text = await shown.textContent();
      assert.match(text, /on_http_request/);
      assert.match(text, /tag requests/);
      assert.match(text, /add-headers added x-via-policy/);
      assert.match(text, /block admin/);
      assert.match(text, /deny answered 403/);
      assert.match(text, /ended the phase/);
      assert.equal(await shown.locator('.rule.matched').count(), 2);
      await shown.scrollIntoViewIfNeeded();
      await screenshot(page, 'inspector-trace');
    } finally {
      await page.unroute(ngrokShape);
    }
  });

  test('dark theme and a narrow window stay readable', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bg, 'rgb(255, 255, 255)');
    await screenshot(page, 'inspector-dark');
    await page.setViewportSize({ width: 480, height: 800 });
    await page.locator('#detail').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
    await screenshot(page, 'inspector-narrow');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});

describe('web inspector: TCP connections', () => {
  test('a spliced TCP connection is listed with its bytes and close reason', async () => {
    const echo = await startTcpEcho();
    const agent = await startAgent(echo.port, { kind: 'tcp' });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(agent.web);
      await page.locator('#live[data-state="open"]').waitFor({ timeout: 15000 });
      await page.click('#tab-conns');
      assert.equal(await page.locator('#conns-view').isVisible(), true);
      assert.equal(await tcpRoundTrip(agent.publicUrl, 'ping-pong'), 'ping-pong');
      const row = page.locator('#conns tbody tr').first();
      await row.waitFor({ timeout: 15000 });
      const cells = await row.locator('td').allTextContents();
      assert.equal(cells[2], 'tcp');
      assert.equal(cells[5], '9 B');
      assert.equal(cells[6], '9 B');
      assert.equal(cells[7], 'closed');
      await screenshot(page, 'inspector-tcp');
    } finally {
      await browser.close();
      await agent.stop();
      await echo.stop();
    }
  });
});
