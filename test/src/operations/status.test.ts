/**
 * The status report (one builder for the CLI and the API), its human form, and `legacy-gateway status` itself
 * against a real SQLite store and, with drain on, against a store that is not even reachable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MigrationStatus } from '../../../adapters/types.js';
import { createDemoDatabase, DEMO_USERS } from '../../../src/demo.js';
import { UsageError } from '../../../src/operations/cli.js';
import { buildStatus, formatStatus, run } from '../../../src/operations/status.js';
import { captureIO } from '../../helpers/cli-io.js';

const NOW = new Date('2025-03-10T12:00:00.000Z');

function fakeStore(s: MigrationStatus) {
  const calls: string[] = [];
  return {
    calls,
    async migrationStatus() {
      calls.push('migrationStatus');
      return s;
    },
  };
}

const SAMPLE: MigrationStatus = {
  total: 1000,
  migrated: 600,
  exported: 250,
  remaining: 150,
  perDay: [
    { day: '2025-03-01', count: 100 },
    { day: '2025-03-02', count: 300 },
    { day: '2025-03-05', count: 200 },
  ],
  activeRemaining: { days30: 40, days90: 90 },
};

describe('buildStatus', () => {
  test('counts, percentages, per day and the running total, recent activity, as_of', async () => {
    const store = fakeStore(SAMPLE);
    const r = await buildStatus(store, { drain: false }, NOW);
    assert.deepEqual(store.calls, ['migrationStatus']);
    assert.equal(r.total, 1000);
    assert.equal(r.migrated, 600);
    assert.equal(r.exported, 250);
    assert.equal(r.remaining, 150);
    assert.deepEqual(r.percent, { migrated: 60, exported: 25, remaining: 15 });
    assert.equal(r.percent_migrated, 60);
    assert.deepEqual(r.per_day, SAMPLE.perDay);
    assert.deepEqual(r.cumulative, [
      { day: '2025-03-01', migrated: 100 },
      { day: '2025-03-02', migrated: 400 },
      { day: '2025-03-05', migrated: 600 },
    ]);
    assert.deepEqual(r.active_remaining, { days_30: 40, days_90: 90 });
    assert.equal(r.as_of, NOW.toISOString());
    assert.equal(r.drain, false);
  });

  test('percentages round to two decimals; an empty store is 0%, not NaN', async () => {
    const r = await buildStatus(fakeStore({ total: 3, migrated: 1, exported: 1, remaining: 1, perDay: [], activeRemaining: null }), { drain: false }, NOW);
    assert.deepEqual(r.percent, { migrated: 33.33, exported: 33.33, remaining: 33.33 });
    const empty = await buildStatus(fakeStore({ total: 0, migrated: 0, exported: 0, remaining: 0, perDay: [], activeRemaining: null }), { drain: false }, NOW);
    assert.deepEqual(empty.percent, { migrated: 0, exported: 0, remaining: 0 });
  });

  test('the checklist: not ready while users remain; the steps in order, the manual ones never claimed done', async () => {
    const r = await buildStatus(fakeStore(SAMPLE), { drain: false }, NOW);
    assert.equal(r.decommission.ready, false);
    assert.deepEqual(
      r.decommission.steps.map((s) => [s.step, s.done]),
      [
        ['all_users_moved', false],
        ['idp_scripts_noop', null],
        ['drain', false],
        ['legacy_database_disconnected', null],
      ],
    );
    const first = r.decommission.steps[0]!.detail;
    assert.match(first, /150 users still depend on the legacy store/);
    assert.match(first, /40 active in the last 30 days, 90 in the last 90/);
    assert.match(r.decommission.steps[1]!.detail, /Import Users to Auth0/);
  });

  test('ready once every user is migrated or exported', async () => {
    const r = await buildStatus(fakeStore({ ...SAMPLE, migrated: 700, exported: 300, remaining: 0 }), { drain: false }, NOW);
    assert.equal(r.decommission.ready, true);
    assert.equal(r.decommission.steps[0]!.done, true);
    assert.match(r.decommission.steps[0]!.detail, /All 1,000 users are migrated \(700\) or exported \(300\)/);
  });

  test('no export ledger: exported and its percentage are null, and the checklist says exported users count as remaining', async () => {
    const r = await buildStatus(fakeStore({ ...SAMPLE, exported: null, remaining: 400, activeRemaining: null }), { drain: false }, NOW);
    assert.equal(r.exported, null);
    assert.equal(r.percent.exported, null);
    assert.equal(r.active_remaining, null);
    assert.match(r.decommission.steps[0]!.detail, /keeps no export ledger/);
  });

  test('a store answering the first version of the interface (three numbers) still gives a full report', async () => {
    const old = { total: 4, migrated: 1, remaining: 3 } as unknown as MigrationStatus;
    const r = await buildStatus(fakeStore(old), { drain: false }, NOW);
    assert.equal(r.exported, null);
    assert.deepEqual(r.per_day, []);
    assert.deepEqual(r.cumulative, []);
    assert.equal(r.active_remaining, null);
  });

  test('drain: the store is never called; an empty store is reported, with drain true', async () => {
    const store = fakeStore(SAMPLE);
    const r = await buildStatus(store, { drain: true }, NOW);
    assert.deepEqual(store.calls, []);
    assert.deepEqual(
      { total: r.total, migrated: r.migrated, exported: r.exported, remaining: r.remaining, per_day: r.per_day, active: r.active_remaining, drain: r.drain },
      { total: 0, migrated: 0, exported: 0, remaining: 0, per_day: [], active: null, drain: true },
    );
    assert.deepEqual(
      r.decommission.steps.map((s) => s.done),
      [true, null, true, null],
    );
  });
});

describe('formatStatus', () => {
  test('key numbers, the last days, and the checklist with its marks', async () => {
    const text = formatStatus(await buildStatus(fakeStore(SAMPLE), { drain: false }, NOW));
    assert.match(text, /^Migration status as of 2025-03-10T12:00:00\.000Z$/m);
    assert.match(text, /^ {2}total +1,000$/m);
    assert.match(text, /^ {2}migrated +600 +60\.00%$/m);
    assert.match(text, /^ {2}exported +250 +25\.00%$/m);
    assert.match(text, /^ {2}remaining +150 +15\.00%$/m);
    assert.match(text, /active in the legacy app: 40 in the last 30 days, 90 in the last 90/);
    assert.match(text, /^ {2}2025-03-02 {2}300$/m);
    assert.match(text, /^ {2}\[ \] 1\. Every legacy user is migrated or exported$/m);
    assert.match(text, /^ {2}\[\?\] 2\. /m);
    assert.match(text, /^Not ready to decommission yet/m);
  });

  test('no ledger shows n/a; a ready store says so', async () => {
    const text = formatStatus(await buildStatus(fakeStore({ ...SAMPLE, exported: null, migrated: 1000, remaining: 0 }), { drain: false }, NOW));
    assert.match(text, /exported +n\/a {2}\(no export ledger\)/);
    assert.match(text, /^ {2}\[x\] 1\./m);
    assert.match(text, /^Ready to decommission/m);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The command


function sqliteConfig(dbFile: string, extra: Record<string, unknown> = {}) {
  return {
    auth: { issuer: 'https://issuer.test/', audience: 'https://legacy-gateway.test' },
    store: {
      adapter: 'sqlite',
      url: dbFile,
      users: { table: 'users', columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', blocked: 'is_disabled' } },
      migration: { table: 'legacy_gateway_migrations' },
    },
    ...extra,
  };
}

describe('legacy-gateway status', () => {
  let dir: string;
  let dbFile: string;
  let configFile: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lg-status-'));
    dbFile = path.join(dir, 'legacy.sqlite');
    createDemoDatabase(dbFile, DEMO_USERS);
    configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(sqliteConfig(dbFile)));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--json: the report of the real store, stable keys', async () => {
    const io = captureIO();
    assert.equal(await run(['--json', '--config', configFile], io), 0);
    const r = JSON.parse(io.out());
    assert.deepEqual(Object.keys(r), ['total', 'migrated', 'exported', 'remaining', 'percent_migrated', 'percent', 'per_day', 'cumulative', 'active_remaining', 'decommission', 'drain', 'as_of']);
    assert.equal(r.total, DEMO_USERS.length);
    assert.equal(r.migrated, 0);
    assert.equal(r.remaining + (r.exported ?? 0), DEMO_USERS.length);
    assert.equal(r.decommission.ready, false);
    assert.equal(r.drain, false);
  });

  test('human output by default; --html FILE writes the page too', async () => {
    const io = captureIO();
    const page = path.join(dir, 'status.html');
    assert.equal(await run(['--config', configFile, '--html', page], io), 0);
    assert.match(io.out(), new RegExp(`^ {2}total +${DEMO_USERS.length}$`, 'm'));
    assert.match(io.err(), /wrote .*status\.html/);
    const html = readFileSync(page, 'utf8');
    assert.match(html, new RegExp(`data-key="total" data-value="${DEMO_USERS.length}"`));
  });

  test('an unwritable --html path is a clear error (exit 1), an empty one or an unknown flag a usage error', async () => {
    const io = captureIO();
    assert.equal(await run(['--config', configFile, '--html', path.join(dir, 'no', 'such', 'dir', 'x.html')], io), 1);
    assert.match(io.err(), /cannot write .*x\.html \(ENOENT\)/);
    await assert.rejects(run(['--config', configFile, '--html', ''], captureIO()), UsageError);
    await assert.rejects(run(['--config', configFile, '--verbose'], captureIO()), UsageError);
    await assert.rejects(run(['--json'], captureIO()), (e: Error) => e instanceof UsageError && /--config/.test(e.message));
  });

  test('drain: the store is not opened: a store nobody listens on still reports, at once, an empty store', async () => {
    const file = path.join(dir, 'drain.json');
    writeFileSync(
      file,
      JSON.stringify({ ...sqliteConfig(dbFile), store: { adapter: 'postgres', url: 'postgres://nobody@127.0.0.1:1/none', users: { table: 'users', columns: { id: 'id', email: 'email', password: 'pw' } } }, drain: true }),
    );
    const io = captureIO();
    const t0 = Date.now();
    assert.equal(await run(['--json', '--config', file], io), 0);
    assert.ok(Date.now() - t0 < 2000, 'no connection attempt');
    const r = JSON.parse(io.out());
    assert.deepEqual([r.total, r.migrated, r.remaining, r.drain], [0, 0, 0, true]);
  });
});
