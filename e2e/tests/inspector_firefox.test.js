// The web inspector in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by
// puppeteer-core, since playwright-core only drives its own patched Firefox builds): a request
// appears live, its detail pretty-prints a JSON body, and a filter narrows the list. Skipped,
// saying so, on a machine without firefox-esr (`.ci/run` installs it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { SCREENSHOTS, waitFor } from '../lib/harness.js';
import { sendPublic, startAgent, startUpstream } from '../lib/inspector.js';

const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';

/** Headless Debian Firefox ESR (no browser download). */
function launchFirefox() {
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true });
}

/** The text of each list row's path cell, top first. */
function listedPaths(page) {
  return page.$$eval('#list tbody tr td.path', (cells) => cells.map((c) => c.textContent));
}

describe('web inspector in Firefox', { skip: !existsSync(FIREFOX) && `no ${FIREFOX}` }, () => {
  let upstream;
  let agent;
  let browser;
  let page;

  before(async () => {
    upstream = await startUpstream();
    agent = await startAgent(upstream.port);
    browser = await launchFirefox();
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(agent.web);
    await page.waitForSelector('#live[data-state="open"]', { timeout: 15000 });
  });

  after(async () => {
    await browser?.close();
    await agent?.stop();
    await upstream?.stop();
  });

  test('a request appears live and its detail pretty-prints the JSON body', async () => {
    assert.match(await browser.version(), /firefox/i);
    const body = JSON.stringify({ order: { id: 7, items: ['tea'] } });
    const r = await sendPublic(agent.publicUrl, '/ff/order?via=firefox', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(r.status, 200);
    await waitFor('the request to be listed', async () => (await listedPaths(page)).some((p) => p.includes('/ff/order')));
    await page.click('#list tbody tr:first-child');
    await page.waitForSelector('#req-body pre.json', { timeout: 15000 });
    const pretty = await page.$eval('#req-body pre.json', (pre) => pre.textContent);
    assert.ok(pretty.includes('{\n  "order": {\n    "id": 7,'), pretty);
    const keys = await page.$$eval('#req-body pre.json .j-key', (k) => k.map((x) => x.textContent));
    assert.ok(keys.includes('"order"'), keys.join(','));
    assert.match(await page.$eval('#req-query', (t) => t.textContent), /viafirefox/);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'inspector-firefox-detail.png'), fullPage: true });
  });

  test('a filter narrows the list', async () => {
    await sendPublic(agent.publicUrl, '/ff/other');
    await waitFor('both requests listed', async () => {
      const paths = await listedPaths(page);
      return paths.some((p) => p.includes('/ff/other')) && paths.some((p) => p.includes('/ff/order'));
    });
    await page.type('#f-path', '/ff/other');
    await waitFor('only /ff/other listed', async () => {
      const paths = await listedPaths(page);
      return paths.length === 1 && paths[0].includes('/ff/other');
    });
    assert.match(await page.evaluate(() => location.hash), /path=/);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'inspector-firefox-filtered.png'), fullPage: true });
  });
});
