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
// with a bare `?` on the first step after every new binding (the STAT4 plan guarantee): each lookup would re-parse and
// re-plan. The dialect binds `+?` (a no-op that adds no affinity) so that prepared statements stay prepared.
test('sqlite: on an ANALYZEd table every statement binds +?, never a bare ?, and matches as before', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-sqlite-stat4-'));
  const file = path.join(dir, 'legacy.sqlite');
  const db = new Database(file);
  db.function('lg_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v));
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT NOT NULL, full_name TEXT,
    email_confirmed INTEGER, is_disabled INTEGER NOT NULL DEFAULT 0, plan TEXT, last_login TEXT);
    CREATE TABLE legacy_gateway_migrations (user_id TEXT PRIMARY KEY, migrated_at TEXT NOT NULL);
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000)
      INSERT INTO users (id, email, username, password_hash) SELECT i, 'User' || i || '@Example.com', 'user' || i, 'x' FROM s;
    CREATE INDEX lg_lower_email ON users (lg_lower(email));
    CREATE INDEX lg_lower_username ON users (lg_lower(username));
    ANALYZE;`);
  assert.ok((db.prepare('SELECT count(*) AS n FROM sqlite_stat4').get() as { n: number }).n > 0, 'STAT4 samples exist');
  db.close();
  const sql: string[] = [];
  const record = (d: SqlDriver): SqlDriver => ({ ...d, all: (q, p) => (sql.push(q), d.all(q, p)), run: (q, p) => (sql.push(q), d.run(q, p)) });
  const store = createSqliteStore(file, contractMapping('table'), record);
  try {
    assert.deepEqual((await store.findCandidates('  USER42@example.COM ')).map((u) => u.id), ['42']);
    assert.deepEqual((await store.findCandidates('User1999')).map((u) => u.id), ['1999']);
    assert.deepEqual(await store.findCandidates('user2001'), []);
    // The text '7' still meets INTEGER PRIMARY KEY 7 (the column's affinity applies to +? as it did to ?).
    assert.equal((await store.findById('7'))?.email, 'User7@Example.com');
    assert.equal(await store.findById('07'), null);
    assert.ok(await store.markMigrated('7'));
    assert.ok((await store.findCandidates('user7'))[0]?.migratedAt, 'the mark comes back with the row');
    assert.ok(sql.length >= 6);
    for (const q of sql) assert.doesNotMatch(q, /(?<!\+)\?/, q);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
