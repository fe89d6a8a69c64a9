// Integration: the admin listener's live status page in a real browser (Debian's chromium,
// headless, driven by puppeteer-core; no browser download). It renders the live workers with a
// req/s chart each, refreshes itself, and logs no console error. RAAS_SCREENSHOT=PATH also
// writes the screenshot the README shows (docs/status-page.png).
// Runs in: the test runner process; drives a real master, its workers and a browser.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { adminUrl } from '../helpers/admin.js';
import { LineLoad, targetOf } from '../helpers/clients.js';
import { reapAll, startRaas, tmpDir } from '../helpers/raas.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
let browser: Browser | null = null;

after(async () => {
  await browser?.close();
  await reapAll();
});

describe('status page', () => {
  it('renders the live workers in a real browser, refreshes itself, no console errors', async () => {
    const dir = tmpDir();
    const raas = await startRaas({
      args: ['-w', '2', '-l', '127.0.0.1:0', '-l', `http://127.0.0.1:0`, '--admin', 'http://127.0.0.1:0', '--pid', path.join(dir, 'raas.pid')],
    });
    const [tcp] = await raas.ready();
    const admin = await adminUrl(raas);
    const load = new LineLoad(targetOf(tcp!), 8);

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${path.join(dir, 'chromium')}`],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 560 });
    const problems: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warn') problems.push(`console.${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${String(err)}`));
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));

    await page.goto(`${admin}/`, { waitUntil: 'load' });
    const pids = [...raas.readyWorkers().values()].sort((a, b) => a - b);
    // Rendered from /status: one row per live worker, each with its pid and a chart.
    await page.waitForFunction(
      (want: number[]) => {
        const rows = [...document.querySelectorAll('tr.worker')];
        const shown = rows.map((r) => Number(r.children[2]?.textContent)).sort((a, b) => a - b);
        return JSON.stringify(shown) === JSON.stringify(want) && rows.every((r) => r.querySelector('svg.chart polyline'));
      },
      { timeout: 20_000 },
      pids,
    );
    const states = await page.$$eval('tr.worker td:nth-child(2)', (cells) => cells.map((c) => c.textContent));
    assert.deepEqual(states, ['ready', 'ready']);
    const listeners = await page.$$eval('tr.listener td:first-child', (cells) => cells.map((c) => c.textContent));
    assert.ok(listeners.includes(tcp!), `listeners shown: ${listeners.join(', ')}`);

    // It refreshes by itself: the request count it shows grows while the load runs, and the
    // chart gets points.
    const requestsShown = (): Promise<number> =>
      page.$$eval('tr.worker td:nth-child(6)', (cells) => cells.reduce((n, c) => n + Number(c.textContent), 0));
    const first = await requestsShown();
    await page.waitForFunction(
      (before: number) =>
        [...document.querySelectorAll('tr.worker td:nth-child(6)')].reduce((n, c) => n + Number(c.textContent), 0) > before &&
        [...document.querySelectorAll('svg.chart polyline')].some((p) => (p.getAttribute('points') ?? '').split(' ').length >= 3),
      { timeout: 20_000 },
      first,
    );
    await load.stop();
    assert.equal(load.report.failed, 0, JSON.stringify(load.report.failures));

    const shot = process.env.RAAS_SCREENSHOT ?? path.join(dir, 'status-page.png');
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000, 'a real screenshot');
    assert.deepEqual(problems, []);
  });
});
