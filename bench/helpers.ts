/** Shared by bench/lookup.ts and bench/child.ts: opening the stores' drivers and replaying a captured lookup. */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type * as MySQL from 'mysql2/promise';
import type PG from 'pg';
import { createMysqlStore, openMysqlDriver } from '../adapters/mysql.js';
import { createPostgresStore, openPostgresDriver } from '../adapters/postgres.js';
import type { Row, SqlDriver, SqlUserStore } from '../adapters/sql.js';
import { createSqliteStore, openSqliteDriver, sqlitePath } from '../adapters/sqlite.js';
import type { Config } from '../src/config.js';
import { normaliseLogin } from '../src/matching.js';

const require = createRequire(import.meta.url);

export type BenchAdapter = 'postgres' | 'mysql' | 'sqlite';

export interface BenchStore {
  adapter: BenchAdapter;
  url: string;
  poolMax: number;
  queryTimeoutMs: number;
}

/** The driver and pool the gateway's store uses (adapters/*.ts), with the same pool size and timeouts. */
export async function openBenchDriver(s: BenchStore): Promise<SqlDriver> {
  if (s.adapter === 'postgres') return openPostgresDriver(s.url, { max: s.poolMax, queryTimeoutMs: s.queryTimeoutMs });
  if (s.adapter === 'mysql') return openMysqlDriver(s.url, { max: s.poolMax, queryTimeoutMs: s.queryTimeoutMs });
  return openSqliteDriver(s.url);
}

/**
 * The gateway's own store for this configuration, opened exactly as the gateway opens it (MySQL reads its column
 * collations, PostgreSQL looks for ICU), with `wrap` around its driver to see the SQL it runs.
 */
export async function openGatewayStore(store: Config['store'], wrap: (d: SqlDriver) => SqlDriver = (d) => d): Promise<SqlUserStore> {
  if (store.adapter === 'postgres') return createPostgresStore(store, wrap);
  if (store.adapter === 'mysql') return createMysqlStore(store, wrap);
  if (store.adapter === 'sqlite') return createSqliteStore(store.url, store, wrap);
  throw new Error(`bench: adapter ${store.adapter} is not benchmarked`);
}

export type AllFn = (sql: string, params: unknown[]) => Promise<Row[]>;

/** "Template style": one new connection, opened for one request and closed after it. */
export async function openOneShot(s: BenchStore): Promise<{ all: AllFn; close: () => Promise<void> }> {
  if (s.adapter === 'postgres') {
    const pg = require('pg') as typeof PG;
    const c = new pg.Client({ connectionString: s.url, query_timeout: s.queryTimeoutMs, statement_timeout: s.queryTimeoutMs });
    c.on('error', () => {});
    await c.connect();
    return { all: async (sql, p) => (await c.query(sql, p)).rows as Row[], close: () => c.end() };
  }
  if (s.adapter === 'mysql') {
    const mysql = require('mysql2/promise') as typeof MySQL;
    const c = await mysql.createConnection({ uri: s.url, connectTimeout: s.queryTimeoutMs, timezone: 'Z', charset: 'utf8mb4', supportBigNumbers: true, bigNumberStrings: true });
    c.on('error', () => {});
    return { all: async (sql, p) => (await c.execute(sql, p as never[]))[0] as Row[], close: () => c.end() };
  }
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const db = new Database(sqlitePath(s.url), { fileMustExist: true, timeout: 5000 });
  db.function('lg_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v));
  return { all: async (sql, p) => db.prepare(sql).all(...p) as Row[], close: async () => void db.close() };
}

/**
 * The statements the gateway's store ran for one POST /v1/users/lookup, captured by wrapping its SqlDriver:
 * `needle` is the normalised login it was captured with, `ids` the ids the first statement returned.
 */
export interface Replay {
  needle: string;
  ids: string[];
  calls: { sql: string; params: unknown[] }[];
}

/**
 * Run the captured statements for another login: the captured login is replaced by the new one (normalised as the
 * gateway does) and the captured ids by the ids the first statement now returns. Returns the first row or null.
 */
export async function replayLookup(all: AllFn, replay: Replay, login: string): Promise<Row | null> {
  const needle = normaliseLogin(login);
  const [first, ...rest] = replay.calls;
  if (!first) return null;
  const rows = await all(first.sql, first.params.map((p) => (p === replay.needle ? needle : p)));
  const ids = rows.map((r) => String(r.f_id));
  for (const c of rest) {
    const usesIds = c.params.some((p) => replay.ids.includes(String(p)));
    if (usesIds && ids.length === 0) continue; // as the store does: no users, no marks query
    if (usesIds && ids.length !== replay.ids.length) throw new Error('replay: a different number of rows than captured');
    await all(
      c.sql,
      c.params.map((p) => {
        if (p === replay.needle) return needle;
        const i = replay.ids.indexOf(String(p));
        return i >= 0 ? ids[i] : p;
      }),
    );
  }
  return rows[0] ?? null;
}
