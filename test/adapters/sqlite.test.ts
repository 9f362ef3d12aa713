import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import type { SqlDriver } from '../../adapters/sql.js';
import { createSqliteStore, openSqliteDriver } from '../../adapters/sqlite.js';
import { contractMapping, LEDGER_TABLE, seedLastLogins, sqlRaw, userStoreContract, type MigrationMode, type SeedUser } from './contract.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

async function open(users: SeedUser[], mode: MigrationMode) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-sqlite-'));
  const file = path.join(dir, 'legacy.sqlite');
  const db = new Database(file);
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT NOT NULL,
    full_name TEXT, email_confirmed INTEGER, is_disabled INTEGER NOT NULL DEFAULT 0, plan TEXT, migrated_at TEXT, last_login TEXT)`);
  db.exec('CREATE TABLE legacy_gateway_migrations (user_id TEXT PRIMARY KEY, migrated_at TEXT NOT NULL)');
  db.exec(`CREATE TABLE ${LEDGER_TABLE} (user_id TEXT PRIMARY KEY, exported_at TEXT NOT NULL)`);
  const ins = db.prepare('INSERT INTO users (id, email, username, password_hash, full_name, email_confirmed, is_disabled, plan) VALUES (?,?,?,?,?,?,?,?)');
  for (const u of users) {
    ins.run(u.id, u.email, u.username, u.password_hash, u.full_name ?? null, u.email_confirmed == null ? null : Number(u.email_confirmed), Number(u.is_disabled ?? false), u.plan ?? null);
  }
  db.close();
  const raw = sqlRaw(openSqliteDriver(file), mode, { users: 'users', marks: 'legacy_gateway_migrations', ledger: LEDGER_TABLE });
  await seedLastLogins(raw, users);
  const store = createSqliteStore(file, contractMapping(mode));
  return {
    store,
    reopen: async (m: ReturnType<typeof contractMapping>) => createSqliteStore(file, m),
    raw,
    async cleanup() {
      await store.close();
      await raw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

userStoreContract('sqlite', open);

// Once ANALYZE has filled sqlite_stat4, SQLite re-compiles a statement that compares an indexed column or expression
// with a bare `?` on the first step after every new binding (STAT4's estimates use the value): each lookup would
// re-parse and re-plan. The dialect binds login keys and the id as `+?` (a no-op that adds no affinity). Filters keep a
// bare `?`: a partial index's WHERE matches only that.
test('sqlite: on an ANALYZEd table, login keys and the id are bound as +?, filters as ?, and a filter\'s partial index is used', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-sqlite-stat4-'));
  const file = path.join(dir, 'legacy.sqlite');
  const db = new Database(file);
  db.function('lg_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v));
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT NOT NULL, full_name TEXT,
    email_confirmed INTEGER, is_disabled INTEGER NOT NULL DEFAULT 0, plan TEXT, last_login TEXT, status TEXT);
    CREATE TABLE legacy_gateway_migrations (user_id TEXT PRIMARY KEY, migrated_at TEXT NOT NULL);
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000)
      INSERT INTO users (id, email, username, password_hash, status)
      SELECT i, 'User' || i || '@Example.com', 'user' || i, 'x', CASE WHEN i % 10 = 0 THEN 'deleted' ELSE 'active' END FROM s;
    CREATE INDEX act_email ON users (lg_lower(email)) WHERE status = 'active';
    ANALYZE;`);
  assert.ok((db.prepare('SELECT count(*) AS n FROM sqlite_stat4').get() as { n: number }).n > 0, 'STAT4 samples exist');
  const calls: { sql: string; params: unknown[] }[] = [];
  const record = (d: SqlDriver): SqlDriver => ({ ...d, all: (q, p) => (calls.push({ sql: q, params: p }), d.all(q, p)), run: (q, p) => (calls.push({ sql: q, params: p }), d.run(q, p)) });
  const base = contractMapping('table');
  // Email alone: SQLite's OR over two columns (MULTI-INDEX OR) cannot use partial indexes, with either placeholder.
  const { username: _username, ...columns } = base.users.columns;
  const mapping = { ...base, users: { ...base.users, columns, filter: [{ column: 'status', op: '=' as const, value: 'active' }] } };
  const store = createSqliteStore(file, mapping, record);
  try {
    assert.deepEqual((await store.findCandidates('  USER42@example.COM ')).map((u) => u.id), ['42']);
    assert.deepEqual((await store.findCandidates('user1999@example.com')).map((u) => u.id), ['1999']);
    assert.deepEqual(await store.findCandidates('user1990@example.com'), [], 'filtered out');
    const lookup = calls.at(-1)!;
    assert.match(lookup.sql, /WHERE \(lg_lower\(u\."email"\) = \+\?\) AND \(u\."status" = \?\)/, lookup.sql);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${lookup.sql}`).all(...lookup.params) as { detail: string }[]).map((r) => r.detail).join('\n');
    assert.match(plan, /SEARCH u USING INDEX act_email/, plan);
    // The text '7' still meets INTEGER PRIMARY KEY 7 (the column's affinity applies to +? as it did to ?).
    assert.equal((await store.findById('7'))?.email, 'User7@Example.com');
    assert.match(calls.at(-1)!.sql, /WHERE \(u\."id" = \+\?\) AND \(u\."status" = \?\)/);
    assert.equal(await store.findById('07'), null);
    assert.equal(await store.findById('10'), null, 'filtered out');
  } finally {
    await store.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// better-sqlite3 builds SQLite with a 16 MB page cache, which lookups over a large table fill (15 MB more RSS under
// the benchmark's load); the driver sets SQLite's own default, 2 MB, on every connection it opens.
test('sqlite: the driver keeps SQLite\'s own 2 MB page cache, not better-sqlite3\'s 16 MB', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-sqlite-cache-'));
  const file = path.join(dir, 'legacy.sqlite');
  const plain = new Database(file);
  assert.deepEqual(plain.pragma('cache_size'), [{ cache_size: -16000 }], 'better-sqlite3\'s build default, which the driver overrides');
  plain.close();
  const driver = openSqliteDriver(file);
  try {
    assert.deepEqual(await driver.all('PRAGMA cache_size', []), [{ cache_size: -2000 }]);
  } finally {
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
