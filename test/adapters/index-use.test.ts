/**
 * Login lookups reach an index, on real servers at 100k rows: the index DDL `legacy-gateway check` prints is applied
 * as printed, and the engine's own EXPLAIN of the exact SQL the store ran (captured from its driver, with its bound
 * values) must show that index, chosen by the planner on its own after ANALYZE (no enable_seqscan tricks), and the
 * migration side table joined on its primary key (one statement per lookup).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createMysqlStore } from '../../adapters/mysql.js';
import { createPostgresStore } from '../../adapters/postgres.js';
import type { SqlDriver, SqlUserStore } from '../../adapters/sql.js';
import { createSqliteStore } from '../../adapters/sqlite.js';
import { runCheck } from '../../src/check.js';
import { parseConfig, type Config } from '../../src/config.js';
import { migrationDdl, migrationStatements } from '../../src/dba.js';
import { findByLogin } from '../../src/matching.js';
import { availability, createMysqlDatabase, createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';

const ROWS = 100_000;
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

function configFor(adapter: 'postgres' | 'mysql' | 'sqlite', url: string, table = 'users', marks = 'legacy_gateway_migrations'): Config {
  return parseConfig(
    {
      auth: { issuer: 'https://issuer.example/', audience: 'aud' },
      store: {
        adapter,
        url,
        users: { table, columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash' } },
        migration: { table: marks },
      },
    },
    {},
  );
}

/** What `check` prints, and the index section of it: statements (comment stripped) and the whole section text. */
async function checkIndexes(config: Config): Promise<{ statements: string[]; section: string }> {
  let text = '';
  const out = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
  const code = await runCheck(config, out);
  assert.equal(code, 0, text);
  const at = text.indexOf('indexes for case-insensitive login lookups:');
  assert.ok(at >= 0, text);
  const section = text.slice(at);
  const statements = section
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('--'))
    .map((l) => l.slice(0, l.indexOf(';')));
  return { statements, section };
}

/** A driver that records every statement the store runs. */
function recorder(): { wrap: (d: SqlDriver) => SqlDriver; calls: { sql: string; params: unknown[] }[] } {
  const calls: { sql: string; params: unknown[] }[] = [];
  return {
    calls,
    wrap: (d) => ({
      get dialect() {
        return d.dialect;
      },
      set dialect(v) {
        d.dialect = v;
      },
      all: (sql, params) => {
        calls.push({ sql, params: [...params] });
        return d.all(sql, params);
      },
      run: (sql, params) => d.run(sql, params),
      close: () => d.close(),
    }),
  };
}

/** Mean milliseconds per findByLogin over n lookups of different users. */
async function perLookup(store: SqlUserStore, n = 30): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const id = 1 + ((i * 7919) % ROWS);
    const u = await findByLogin(store, `USER${id}@Example.COM`);
    assert.ok(u && 'id' in u && u.id === String(id), `user ${id}`);
  }
  return (performance.now() - t0) / n;
}

/** One lookup, and the statement it ran (exactly one). */
async function lookupSql(store: SqlUserStore, calls: { sql: string; params: unknown[] }[], login: string) {
  calls.length = 0;
  const u = await findByLogin(store, login);
  assert.equal(calls.length, 1, 'one statement per lookup');
  return { user: u, ...calls[0]! };
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------------------------

type PgPlan = { 'Node Type': string; 'Index Name'?: string; 'Relation Name'?: string; Plans?: PgPlan[] };
function pgNodes(p: PgPlan): PgPlan[] {
  return [p, ...(p.Plans ?? []).flatMap(pgNodes)];
}

const pgSkip = await availability('postgres');
describe('index use: PostgreSQL, 100k rows, check\'s printed index', { skip: pgSkip }, () => {
  let db: TestDatabase;
  let client: pg.Client;
  before(async () => {
    db = await createPostgresDatabase();
    const config = configFor('postgres', db.url);
    await db.exec([
      'CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), username varchar(255), password_hash text NOT NULL)',
      ...migrationStatements(config),
      `INSERT INTO users SELECT i, 'User' || i || '@Example.com', 'User' || i, 'x' FROM generate_series(1, ${ROWS}) i`,
      // Marks for a tenth of the users: a realistic side table for the planner.
      `INSERT INTO legacy_gateway_migrations SELECT i::text, now() FROM generate_series(1, ${ROWS}, 10) i`,
      'ANALYZE',
    ]);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await db?.drop();
  });

  test('ICU folding: the lookup uses lower(col COLLATE "und-x-icu") indexes, the side table its primary key', async (t) => {
    const config = configFor('postgres', db.url);
    const rec = recorder();
    const store = await createPostgresStore(config.store, rec.wrap);
    try {
      const before = await perLookup(store);
      const { statements, section } = await checkIndexes(config);
      assert.deepEqual(statements, [
        'CREATE INDEX "lg_lower_email" ON "users" (lower("email" COLLATE "und-x-icu"))',
        'CREATE INDEX "lg_lower_username" ON "users" (lower("username" COLLATE "und-x-icu"))',
      ], section);
      for (const s of statements) await client.query(s);
      await client.query('ANALYZE users');
      const afterMs = await perLookup(store);
      const { user, sql, params } = await lookupSql(store, rec.calls, '  USER4242@example.COM ');
      assert.ok(user && 'id' in user && user.id === '4242');
      assert.match(sql, /lower\(u\."email" COLLATE "und-x-icu"\) = \$1/);
      const plan = (await client.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows[0]['QUERY PLAN'][0].Plan as PgPlan;
      const nodes = pgNodes(plan);
      const indexes = nodes.map((n) => n['Index Name']).filter(Boolean);
      assert.ok(indexes.includes('lg_lower_email') && indexes.includes('lg_lower_username'), JSON.stringify(plan));
      assert.ok(indexes.includes('legacy_gateway_migrations_pkey'), JSON.stringify(plan));
      assert.ok(!nodes.some((n) => n['Node Type'] === 'Seq Scan'), JSON.stringify(plan));
      const text = (await client.query(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n');
      t.diagnostic(`postgres per lookup: ${before.toFixed(2)} ms without the index, ${afterMs.toFixed(2)} ms with it\n${text}`);
      assert.ok(afterMs < before, `${afterMs} < ${before}`);

      // findById: the users key and the side table's key, one statement.
      rec.calls.length = 0;
      await store.markMigrated('4242');
      const byId = rec.calls.at(-1)!;
      const plan2 = (await client.query(`EXPLAIN (FORMAT JSON) ${byId.sql}`, byId.params)).rows[0]['QUERY PLAN'][0].Plan as PgPlan;
      const idx2 = pgNodes(plan2).map((n) => n['Index Name']);
      assert.ok(idx2.includes('users_pkey') && idx2.includes('legacy_gateway_migrations_pkey'), JSON.stringify(plan2));
    } finally {
      await store.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// MariaDB
// ---------------------------------------------------------------------------------------------------------------

type MyRow = { table: string; type: string; key: string | null; possible_keys: string | null };

const mySkip = await availability('mysql');
describe('index use: MariaDB, 100k rows, check\'s printed index', { skip: mySkip }, () => {
  let db: TestDatabase;
  let conn: mysql.Connection;
  before(async () => {
    db = await createMysqlDatabase();
    const cfg = configFor('mysql', db.url);
    await db.exec([
      `CREATE TABLE users_ci (id INT PRIMARY KEY, email VARCHAR(255) COLLATE utf8mb4_unicode_ci, username VARCHAR(255) COLLATE utf8mb4_unicode_ci,
        password_hash TEXT NOT NULL) ENGINE=InnoDB`,
      `CREATE TABLE users_bin (id INT PRIMARY KEY, email VARCHAR(255) COLLATE utf8mb4_bin NULL, username VARCHAR(255) COLLATE utf8mb4_bin NULL,
        password_hash TEXT NOT NULL) ENGINE=InnoDB`,
      ...migrationStatements(cfg),
      // A side table in another character set and collation than the connection's: the join must not mix them.
      'CREATE TABLE marks_latin1 (user_id VARCHAR(255) NOT NULL PRIMARY KEY, migrated_at DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE latin1_general_cs',
      `INSERT INTO users_ci SELECT seq, CONCAT('User', seq, '@Example.com'), CONCAT('User', seq), 'x' FROM seq_1_to_${ROWS}`,
      'INSERT INTO users_bin SELECT * FROM users_ci',
      `INSERT INTO legacy_gateway_migrations SELECT seq, NOW() FROM seq_1_to_${ROWS}_step_10`,
      `INSERT INTO marks_latin1 SELECT seq, NOW() FROM seq_1_to_${ROWS}_step_10`,
      'ANALYZE TABLE users_ci, users_bin, legacy_gateway_migrations, marks_latin1',
    ]);
    conn = await mysql.createConnection({ uri: db.url, charset: 'utf8mb4' });
  });
  after(async () => {
    await conn?.end();
    await db?.drop();
  });

  const explain = async (sql: string, params: unknown[]) => (await conn.query(`EXPLAIN ${sql}`, params))[0] as MyRow[];

  test('utf8mb4_unicode_ci column: `email = ?` on the plain index check prints; the side table by PRIMARY', async (t) => {
    const config = configFor('mysql', db.url, 'users_ci');
    const rec = recorder();
    const before = await (async () => {
      const s = await createMysqlStore(config.store);
      try {
        return await perLookup(s);
      } finally {
        await s.close();
      }
    })();
    const { statements, section } = await checkIndexes(config);
    assert.deepEqual(statements, ['CREATE INDEX `lg_email` ON `users_ci` (`email`)', 'CREATE INDEX `lg_username` ON `users_ci` (`username`)'], section);
    for (const s of statements) await conn.query(s);
    await conn.query('ANALYZE TABLE users_ci');
    const store = await createMysqlStore(config.store, rec.wrap);
    try {
      const afterMs = await perLookup(store);
      const { user, sql, params } = await lookupSql(store, rec.calls, ' USER4242@example.COM');
      assert.ok(user && 'id' in user && user.id === '4242');
      assert.match(sql, /WHERE \(u\.`email` = \? OR u\.`username` = \?\)/);
      const rows = await explain(sql, params);
      const u = rows.find((r) => r.table === 'u')!;
      assert.ok(u.key && u.key.includes('lg_email') && u.key.includes('lg_username'), JSON.stringify(rows));
      const m = rows.find((r) => r.table === 'lg_mark')!;
      assert.equal(m.type, 'eq_ref', JSON.stringify(rows));
      assert.equal(m.key, 'PRIMARY');
      t.diagnostic(`mariadb utf8mb4_unicode_ci per lookup: ${before.toFixed(2)} ms without the index, ${afterMs.toFixed(2)} ms with it\n${JSON.stringify(rows)}`);
      assert.ok(afterMs < before, `${afterMs} < ${before}`);
      // The mark comes with the row, through a side table created by check's DDL.
      const at = await store.markMigrated('4242');
      assert.ok(at);
      assert.equal((await store.findById('4242'))?.migratedAt, at);
      assert.equal((await store.findById('4243'))?.migratedAt, null);
    } finally {
      await store.close();
    }
  });

  test('utf8mb4_bin column: check says lookups scan and prints a remedy; after the remedy the index is used', async (t) => {
    const config = configFor('mysql', db.url, 'users_bin');
    const rec = recorder();
    const { statements, section } = await checkIndexes(config);
    assert.deepEqual(statements, [], section);
    assert.match(section, /`email` is utf8mb4_bin \(case-sensitive\): the gateway compares LOWER\(`email`\), which no index serves on MariaDB; lookups on it SCAN the table/);
    let store = await createMysqlStore(config.store, rec.wrap);
    let scanMs: number;
    try {
      scanMs = await perLookup(store, 10);
      const { sql, params } = await lookupSql(store, rec.calls, 'user77@example.com');
      assert.match(sql, /LOWER\(u\.`email`\) = \?/);
      const u = (await explain(sql, params)).find((r) => r.table === 'u')!;
      assert.equal(u.type, 'ALL', 'a full scan, as check says');
    } finally {
      await store.close();
    }
    // The printed remedy, as printed.
    const remedy = section
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^-- {3}(ALTER|CREATE)/.test(l))
      .map((l) => l.replace(/^-- {3}/, '').slice(0, l.replace(/^-- {3}/, '').indexOf(';')));
    assert.equal(remedy.length, 4, section);
    for (const s of remedy) await conn.query(s);
    await conn.query('ANALYZE TABLE users_bin');
    const again = await checkIndexes(config);
    assert.equal(again.statements.length, 2, again.section);
    store = await createMysqlStore(config.store, rec.wrap);
    try {
      const afterMs = await perLookup(store);
      const { sql, params } = await lookupSql(store, rec.calls, 'user77@example.com');
      const u = (await explain(sql, params)).find((r) => r.table === 'u')!;
      assert.ok(u.key && u.key.includes('lg_email'), JSON.stringify(u));
      t.diagnostic(`mariadb utf8mb4_bin per lookup: ${scanMs.toFixed(2)} ms (LOWER, scan); after the remedy ${afterMs.toFixed(2)} ms`);
    } finally {
      await store.close();
    }
  });

  test('utf8mb4_general_ci column: the plain index, and a row spelled with the Kelvin sign is still found', async (t) => {
    await db.exec([
      `CREATE TABLE users_gen (id INT PRIMARY KEY, email VARCHAR(255) COLLATE utf8mb4_general_ci, username VARCHAR(255) COLLATE utf8mb4_general_ci,
        password_hash TEXT NOT NULL) ENGINE=InnoDB`,
      'INSERT INTO users_gen SELECT * FROM users_ci',
      // MAR<KELVIN SIGN>US: JavaScript lower-cases it to "markus"; utf8mb4_general_ci ranks the sign apart from k.
      `INSERT INTO users_gen VALUES (${ROWS + 1}, 'MAR\u212AUS@example.com', 'x\u2126', 'x')`,
    ]);
    const config = configFor('mysql', db.url, 'users_gen');
    const { statements, section } = await checkIndexes(config);
    assert.deepEqual(statements, ['CREATE INDEX `lg_email` ON `users_gen` (`email`)', 'CREATE INDEX `lg_username` ON `users_gen` (`username`)'], section);
    assert.match(section, /Kelvin, Ohm and Angstrom sign/);
    for (const s of statements) await conn.query(s);
    await conn.query('ANALYZE TABLE users_gen');
    const rec = recorder();
    const store = await createMysqlStore(config.store, rec.wrap);
    try {
      const ms = await perLookup(store);
      const { user, sql, params } = await lookupSql(store, rec.calls, 'Markus@Example.com');
      assert.ok(user && 'id' in user && user.id === String(ROWS + 1), 'found through the sign spelling');
      assert.match(sql, /u\.`email` IN \(\?, \?\)/);
      assert.deepEqual(params.slice(0, 2), ['markus@example.com', 'mar\u212Aus@example.com']);
      assert.equal(((await findByLogin(store, 'X\u03A9')) as { id: string } | null)?.id, String(ROWS + 1), 'Ω (ohm sign) row by its Greek lower case');
      const u = (await explain(sql, params)).find((r) => r.table === 'u')!;
      assert.ok(u.key && u.key.includes('lg_email') && u.key.includes('lg_username'), JSON.stringify(u));
      t.diagnostic(`mariadb utf8mb4_general_ci per lookup: ${ms.toFixed(2)} ms; ${JSON.stringify(u)}`);
    } finally {
      await store.close();
    }
  });

  test('a side table in latin1_general_cs: joined on its primary key without a collation mix', async () => {
    const config = configFor('mysql', db.url, 'users_ci', 'marks_latin1');
    const rec = recorder();
    const store = await createMysqlStore(config.store, rec.wrap);
    try {
      assert.equal((await store.findById('11'))?.migratedAt?.length, 24, 'seeded mark read through the join');
      assert.equal((await store.findById('12'))?.migratedAt, null);
      const at = await store.markMigrated('12');
      assert.ok(at);
      assert.equal(await store.markMigrated('12'), at, 'the first timestamp stays');
      const { sql, params } = await lookupSql(store, rec.calls, 'user12@example.com');
      assert.match(sql, /CAST\(u\.`id` AS CHAR CHARACTER SET latin1\) COLLATE latin1_general_cs/);
      const m = (await explain(sql, params)).find((r) => r.table === 'lg_mark')!;
      assert.equal(m.type, 'eq_ref');
      assert.equal(m.key, 'PRIMARY');
      await store.unmarkMigrated('12');
    } finally {
      await store.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------------------------

describe('index use: SQLite, 100k rows, check\'s printed index', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lg-idx-'));
    file = path.join(dir, 'legacy.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT NOT NULL)');
    db.exec(migrationDdl(configFor('sqlite', file)));
    db.exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${ROWS})
      INSERT INTO users SELECT i, 'User' || i || '@Example.com', 'User' || i, 'x' FROM s`);
    db.exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 10 FROM s WHERE i + 10 <= ${ROWS})
      INSERT INTO legacy_gateway_migrations SELECT CAST(i AS TEXT), '2024-01-01T00:00:00.000Z' FROM s`);
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('lg_lower(col) index (created through a connection that registers lg_lower) is used; side table by its key', async (t) => {
    const config = configFor('sqlite', file);
    const rec = recorder();
    let store = createSqliteStore(file, config.store, rec.wrap);
    const before = await perLookup(store, 10);
    await store.close();
    const { statements, section } = await checkIndexes(config);
    assert.deepEqual(statements, ['CREATE INDEX "lg_lower_email" ON "users" (lg_lower("email"))', 'CREATE INDEX "lg_lower_username" ON "users" (lg_lower("username"))'], section);
    assert.match(section, /unknown function: lg_lower\(\)/);
    const db = new Database(file);
    db.function('lg_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v));
    for (const s of statements) db.exec(s);
    db.exec('ANALYZE');
    store = createSqliteStore(file, config.store, rec.wrap);
    try {
      const afterMs = await perLookup(store);
      const { sql, params } = await lookupSql(store, rec.calls, 'USER4242@example.com');
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);
      t.diagnostic(`sqlite per lookup: ${before.toFixed(2)} ms without the index, ${afterMs.toFixed(2)} ms with it\n${plan.join('\n')}`);
      assert.ok(plan.some((d) => /USING INDEX lg_lower_email/.test(d)), plan.join('\n'));
      assert.ok(plan.some((d) => /USING INDEX lg_lower_username/.test(d)), plan.join('\n'));
      assert.ok(plan.some((d) => /lg_mark USING INDEX sqlite_autoindex_legacy_gateway_migrations_1 \(user_id=\?\)/.test(d)), plan.join('\n'));
      assert.ok(!plan.some((d) => /^SCAN u\b/.test(d)), plan.join('\n'));
      assert.ok(afterMs < before, `${afterMs} < ${before}`);
    } finally {
      await store.close();
      db.close();
    }
  });
});
