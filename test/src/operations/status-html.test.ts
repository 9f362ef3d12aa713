/**
 * `status --html FILE` in a real browser: the page is written by the command from a seeded SQLite store, opened in
 * Debian's headless Chromium (playwright-core), and checked: the numbers shown are the report's, the chart drew
 * (uPlot's canvas has the line's pixels), the checklist is there, no request left the page, no script error or CSP
 * violation. A screenshot is saved to a temporary directory (its path is printed).
 *
 * Without /usr/bin/chromium the browser tests are skipped, except where the environment requires the full suite
 * (CI, TEST_REQUIRE_DB=1): there they fail.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { MigrationStatus } from '../../../adapters/types.js';
import { testEnvironment } from '../../../src/config.js';
import { createDemoDatabase, type DemoUser } from '../../../src/demo.js';

import { renderStatusHtml } from '../../../src/operations/status-html.js';
import { buildStatus, run, type StatusReport } from '../../../src/operations/status.js';
import { captureIO } from '../../helpers/cli-io.js';
import { testStore } from '../../helpers/store-config.js';

const CHROMIUM = '/usr/bin/chromium';
const env = testEnvironment();

function browserSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (env.requireDatabases) throw new Error(`${CHROMIUM} is missing, and this environment requires every suite to run (install Debian's chromium package)`);
  return `${CHROMIUM} not installed`;
}

const fmt = (n: number) => n.toLocaleString('en-US');


/** 30 users; 14 of them migrated over five days (3, 1, 4, 2, 4), one of them at 23:59:59 UTC. */
const USERS: DemoUser[] = Array.from({ length: 30 }, (_, i) => ({
  id: i + 1,
  email: `user${i + 1}@example.com`,
  username: `user${i + 1}`,
  password: `password-${i + 1}`,
  scheme: 'bcrypt' as const,
}));
const MARKS: [number, string][] = [
  [1, '2025-03-01T08:00:00.000Z'], [2, '2025-03-01T09:00:00.000Z'], [3, '2025-03-01T23:59:59.000Z'],
  [4, '2025-03-02T10:00:00.000Z'],
  [5, '2025-03-04T00:00:00.000Z'], [6, '2025-03-04T11:00:00.000Z'], [7, '2025-03-04T12:00:00.000Z'], [8, '2025-03-04T13:00:00.000Z'],
  [9, '2025-03-07T10:00:00.000Z'], [10, '2025-03-07T11:00:00.000Z'],
  [11, '2025-03-09T10:00:00.000Z'], [12, '2025-03-09T11:00:00.000Z'], [13, '2025-03-09T12:00:00.000Z'], [14, '2025-03-09T13:00:00.000Z'],
];

interface Opened {
  page: Page;
  /** Every request the page made, the document itself included. */
  requests: string[];
  /** Console errors (a CSP violation is one) and uncaught exceptions. */
  errors: string[];
  dialogs: string[];
}

async function open(browser: Browser, file: string): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const o: Opened = { page, requests: [], errors: [], dialogs: [] };
  page.on('request', (r) => o.requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') o.errors.push(m.text());
  });
  page.on('pageerror', (e) => o.errors.push(e.message));
  page.on('dialog', (d) => {
    o.dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return o;
}

describe('status --html in headless Chromium', () => {
  const skip = browserSkip();
  let dir: string;
  let browser: Browser | undefined;
  let report: StatusReport;
  let pageFile: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lg-status-html-'));
    const dbFile = path.join(dir, 'legacy.sqlite');
    createDemoDatabase(dbFile, USERS);
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    const db = new Database(dbFile);
    const insert = db.prepare('INSERT INTO legacy_gateway_migrations (user_id, migrated_at) VALUES (?, ?)');
    for (const [id, at] of MARKS) insert.run(String(id), at);
    db.close();
    const config = path.join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        auth: { issuer: 'https://issuer.test/', audience: 'https://legacy-gateway.test' },
        store: testStore('sqlite', dbFile),
      }),
    );
    pageFile = path.join(dir, 'status.html');
    const io = captureIO();
    assert.equal(await run(['--json', '--html', pageFile, '--config', config], io), 0);
    report = JSON.parse(io.out()) as StatusReport;
    if (!skip) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the report of the seeded store: 30 users, 14 migrated over five UTC days', () => {
    assert.equal(report.total, USERS.length);
    assert.equal(report.migrated, MARKS.length);
    assert.deepEqual(report.per_day, [
      { day: '2025-03-01', count: 3 },
      { day: '2025-03-02', count: 1 },
      { day: '2025-03-04', count: 4 },
      { day: '2025-03-07', count: 2 },
      { day: '2025-03-09', count: 4 },
    ]);
    assert.deepEqual(report.cumulative.map((c) => c.migrated), [3, 4, 8, 10, 14]);
  });

  test('the page shows the report, draws the chart, and requests nothing', { skip }, async (t) => {
    const o = await open(browser!, pageFile);
    const { page } = o;
    try {
      // The numbers: text and raw value of each card.
      const cards = await page.$$eval('.card .value', (els) => els.map((e) => ({ key: e.getAttribute('data-key'), value: e.getAttribute('data-value'), text: e.textContent })));
      const expected = [
        { key: 'total', value: String(report.total), text: fmt(report.total) },
        { key: 'migrated', value: String(report.migrated), text: fmt(report.migrated) },
        { key: 'exported', value: report.exported === null ? '' : String(report.exported), text: report.exported === null ? 'n/a' : fmt(report.exported) },
        { key: 'remaining', value: String(report.remaining), text: fmt(report.remaining) },
      ];
      assert.deepEqual(cards.slice(0, 4), expected);
      const pcts = await page.$$eval('.card .pct', (els) => els.map((e) => e.textContent));
      assert.equal(pcts[0], `${report.percent.migrated.toFixed(2)}%`);
      assert.equal(await page.textContent('#as-of'), report.as_of);

      // The chart: rendered by uPlot, from the embedded data, with the line's pixels on its canvas.
      assert.equal(await page.getAttribute('body', 'data-chart'), 'rendered');
      const chart = await page.evaluate(() => {
        const u = (window as unknown as { statusChart: { data: number[][] } }).statusChart;
        const canvas = document.querySelector('#chart canvas') as HTMLCanvasElement;
        const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        let line = 0;
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 3]! === 0) continue;
          painted++;
          // The series' stroke, #1d4ed8 (29, 78, 216), drawn opaque.
          if (px[i + 3]! > 200 && Math.abs(px[i]! - 29) < 40 && Math.abs(px[i + 1]! - 78) < 40 && Math.abs(px[i + 2]! - 216) < 40) line++;
        }
        return { ys: u.data[1], width: canvas.width, height: canvas.height, painted, line };
      });
      assert.deepEqual(chart.ys, [0, ...report.cumulative.map((c) => c.migrated)]);
      assert.ok(chart.width > 300 && chart.height > 200, `canvas ${chart.width}x${chart.height}`);
      assert.ok(chart.line > 100, `line pixels: ${chart.line}`);
      assert.ok(chart.painted > chart.line, 'axes, fill and the total line are drawn too');

      // The checklist, step by step.
      const steps = await page.$$eval('ol.steps li', (els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-done')]));
      assert.deepEqual(steps, report.decommission.steps.map((s) => [s.step, String(s.done)]));
      assert.equal(await page.getAttribute('#ready', 'data-ready'), 'false');

      // Nothing but the document itself was requested, and nothing failed.
      assert.deepEqual(o.requests, [pathToFileURL(pageFile).href]);
      assert.deepEqual(o.errors, []);

      const shots = mkdtempSync(path.join(tmpdir(), 'lg-status-shot-'));
      const shot = path.join(shots, 'status.png');
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`screenshot: ${shot}`);
      console.log(`status page screenshot: ${shot}`);
      assert.ok(existsSync(shot));
    } finally {
      await page.close();
    }
  });

  test('hostile text from a store is shown as text: no markup, no script, no dialog', { skip }, async () => {
    const evil = '</script><script>alert(1)</script><img src=x onerror=alert(2)>';
    const store = {
      async migrationStatus(): Promise<MigrationStatus> {
        return { total: 2, migrated: 1, exported: 0, remaining: 1, perDay: [{ day: evil, count: 1 }], activeRemaining: null };
      },
    };
    const html = renderStatusHtml(await buildStatus(store, { drain: false }));
    assert.ok(!html.includes('<script>alert'), 'no raw script element from the data');
    assert.ok(!html.includes('<img src=x'), 'no raw element from the data');
    const file = path.join(dir, 'evil.html');
    writeFileSync(file, html);
    const o = await open(browser!, file);
    try {
      assert.deepEqual(o.dialogs, []);
      assert.equal(await o.page.evaluate(() => document.querySelectorAll('img').length), 0);
      assert.equal(await o.page.evaluate(() => document.querySelector('#per-day tbody td')?.textContent), evil);
      assert.deepEqual(o.requests, [pathToFileURL(file).href]);
    } finally {
      await o.page.close();
    }
  });

  test('no marks yet: no chart, a sentence instead; drain: the banner', { skip }, async () => {
    const store = {
      async migrationStatus(): Promise<MigrationStatus> {
        return { total: 5, migrated: 0, exported: null, remaining: 5, perDay: [], activeRemaining: { days30: 1, days90: 2 } };
      },
    };
    const file = path.join(dir, 'empty.html');
    writeFileSync(file, renderStatusHtml(await buildStatus(store, { drain: false })));
    const o = await open(browser!, file);
    try {
      assert.equal(await o.page.$('#chart'), null);
      assert.match((await o.page.textContent('#no-chart')) ?? '', /No migrations recorded yet/);
      assert.equal(await o.page.textContent('[data-key="exported"]'), 'n/a');
      assert.equal(await o.page.textContent('[data-key="active_90"]'), '2');
      assert.deepEqual(o.errors, []);
    } finally {
      await o.page.close();
    }
    const drained = path.join(dir, 'drain.html');
    writeFileSync(drained, renderStatusHtml(await buildStatus(store, { drain: true })));
    const d = await open(browser!, drained);
    try {
      assert.match((await d.page.textContent('#drain')) ?? '', /Drain is on/);
      assert.equal(await d.page.getAttribute('#ready', 'data-ready'), 'true');
    } finally {
      await d.page.close();
    }
  });
});
