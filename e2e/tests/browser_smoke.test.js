// The plumbing every browser test relies on: the system Chromium loads a page the real edge
// answers from its policy, runs its script, and sees the policy's response header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startEdge } from '../lib/harness.js';

const CONFIG = `version: 1
listeners:
  http: 127.0.0.1:{HTTP}
endpoints:
  - url: http://smoke.localhost:{HTTP}
    traffic_policy:
      on_http_request:
        - actions:
            - type: custom-response
              config:
                status_code: 200
                headers:
                  content-type: text/html
                  x-from: policy
                body: "<title>smoke</title><p id=out>static</p><script>document.getElementById('out').textContent = 'scripted ' + location.pathname</script>"
`;

test('chromium renders a page the edge answers from its policy', async () => {
  const edge = await startEdge(CONFIG);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const response = await page.goto(`http://smoke.localhost:${edge.http}/hello`);
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['x-from'], 'policy');
    assert.equal(await page.textContent('#out'), 'scripted /hello');
    await screenshot(page, 'browser-smoke');
  } finally {
    await browser.close();
    await edge.stop();
  }
});
