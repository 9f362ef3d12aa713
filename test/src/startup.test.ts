/**
 * The start-up refusal and check share one root-cause rule (schemaVerdict): a missing table is reported once (its
 * columns are not checked), a missing migration state is answered with the DDL, a wrong mapping with "fix store.users".
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { createStore } from '../../adapters/index.js';
import type { ProbeResult, UserStore } from '../../adapters/types.js';
import { parseConfig } from '../../src/config.js';
import { checkStoreAtStartup, schemaVerdict, StartupError } from '../../src/startup.js';

const config = parseConfig({
  auth: { issuer: 'https://issuer.example/', audience: 'aud' },
  store: { adapter: 'postgres', url: 'postgres://gw@db/shop', users: { table: 'users', columns: { id: 'id', email: 'email', password: 'pw' } }, migration: { table: 'lg_marks' } },
}, {});

const JOIN_MISSING: ProbeResult[] = [
  { what: 'table users', ok: true },
  { what: 'joined table profiles', ok: false, error: '42P01' },
  { what: 'columns.id (id)', ok: false, error: '42P01' },
  { what: 'columns.name (p.full_name)', ok: false, error: '42P01' },
  { what: 'metadata column p.city', ok: false, error: '42P01' },
  { what: 'migration table lg_marks', ok: true },
  { what: 'export ledger table legacy_gateway_exports', ok: true, optional: true, absent: true },
];
const MIGRATION_MISSING: ProbeResult[] = [
  { what: 'table users', ok: true },
  { what: 'columns.email (email)', ok: true },
  { what: 'migration table lg_marks', ok: false, error: '42P01' },
];

const store = (report: ProbeResult[]) => ({ probe: async () => report }) as unknown as UserStore;
const logger = { warn() {} } as never;

async function refusal(report: ProbeResult[]): Promise<string> {
  try {
    await checkStoreAtStartup(config, store(report), logger);
  } catch (e) {
    assert.ok(e instanceof StartupError);
    return e.message;
  }
  assert.fail('expected a refusal');
}

describe('schemaVerdict', () => {
  test('a missing joined table: only the table is MISSING, the columns read through it are not checked', () => {
    const v = schemaVerdict(JOIN_MISSING);
    assert.deepEqual(v.items.map((i) => i.state), ['ok', 'MISSING', 'not checked', 'not checked', 'not checked', 'ok']);
    assert.deepEqual([v.mapping, v.migration], [true, false]);
  });
  test('a missing migration table: the DDL is the fix', () => {
    const v = schemaVerdict(MIGRATION_MISSING);
    assert.deepEqual([v.mapping, v.migration], [false, true]);
  });
  test('columns that store.queries provide are not MISSING', () => {
    const v = schemaVerdict([{ what: 'table users', ok: true }, { what: 'columns.email (mail)', ok: false, error: '42703' }], new Set(['email']));
    assert.deepEqual(v.items.map((i) => i.state), ['ok', 'provided']);
    assert.equal(v.mapping, false);
  });
});

describe('the start-up refusal', () => {
  test('names the missing join table once, and says to fix store.users; no DDL', async () => {
    const m = await refusal(JOIN_MISSING);
    assert.match(m, /- joined table profiles: not found \(42P01\)/);
    assert.doesNotMatch(m, /columns\./);
    assert.match(m, /3 configured column\(s\) not checked until the missing table exists/);
    assert.match(m, /Fix store\.users/);
    assert.doesNotMatch(m, /CREATE TABLE/);
  });
  test('a missing migration table: the DDL, and not "fix store.users"', async () => {
    const m = await refusal(MIGRATION_MISSING);
    assert.match(m, /Create the migration state with this DDL[^\n]*:\n {2}CREATE TABLE "lg_marks"/);
    assert.doesNotMatch(m, /Fix store\.users/);
  });
  test('an unreachable store does not refuse the start; the warning names the database and the hint', async () => {
    // A real PostgreSQL store pointed at a port nothing listens on.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const cfg = structuredClone(config);
    cfg.store.url = `postgres://gw:never-shown@127.0.0.1:${port}/shop`;
    const real = await createStore(cfg.store);
    const warned: { error?: string }[] = [];
    try {
      await checkStoreAtStartup(cfg, real, { warn: (o: { error?: string }) => warned.push(o) } as never);
    } finally {
      await real.close();
    }
    assert.equal(warned.length, 1);
    assert.match(warned[0]!.error ?? '', new RegExp(`^postgres at 127\\.0\\.0\\.1:${port}, database shop: ECONNREFUSED .* — hint: server not listening`));
    assert.doesNotMatch(warned[0]!.error ?? '', /never-shown/);
  });
});
