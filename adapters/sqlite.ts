/** Embedded SQLite store (better-sqlite3). Used for the demo and for small legacy apps that really ran on SQLite. */
import type BetterSqlite3 from 'better-sqlite3';
import { loginIndexName, SqlUserStore, valuesList, type Dialect, type MappingConfig, type Row, type SqlDriver } from './sql.js';
import { loadDriver } from './driver.js';
import { StoreError } from './types.js';

export const sqliteDialect: Dialect = {
  quoteIdent: (p) => `"${p.replaceAll('"', '""')}"`,
  param: () => '?',
  // `+?` for the login keys and the user id: SQLite's unary plus is a no-op on every value (text, number, blob, NULL)
  // and adds no affinity, but it keeps the bound value out of the query planner's STAT4 estimates. Once ANALYZE has
  // filled sqlite_stat4 (as a DBA may run it on any legacy database), a statement comparing an indexed column or
  // expression with a bare `?` is re-compiled on the first step after every new binding: a lookup then re-parsed and
  // re-planned its SQL every time, about three times the cost of the search itself (docs/performance.md). The
  // lookup's plan is the same. Everywhere else (configured filters, which a partial index's WHERE may match only with
  // a bare `?`; the user's own store.queries) values are bound as `?`.
  keyParam: () => '+?',
  // SQLite's lower() folds ASCII only; lg_lower is registered below with JavaScript's Unicode toLowerCase().
  lower: (e) => `lg_lower(${e})`,
  loginKey: (ref) => `lg_lower(${ref})`,
  // SQLite names the schema on the index, not on its table: CREATE INDEX "main"."i" ON "users" (...).
  loginIndex: (t, c, col) => [
    `CREATE INDEX ${col.table.includes('.') ? `"${col.table.slice(0, col.table.indexOf('.'))}".` : ''}"${loginIndexName(col)}" ON "${col.table.slice(col.table.indexOf('.') + 1)}" (lg_lower(${c}));`,
    '-- lg_lower is the gateway\'s Unicode lower() (JavaScript toLowerCase), registered as deterministic on its own connections.',
    `-- With this index, any other connection that INSERTs, UPDATEs or DELETEs in ${t} (the legacy application, the sqlite3 shell)`,
    '-- fails with "unknown function: lg_lower()" unless it registers the same function: create it only when that is acceptable.',
    '-- Without it, lookups scan the table.',
  ],
  idAsText: (e) => `CAST(${e} AS TEXT)`,
  insertIfAbsent: (t, cols, vals, key) => `INSERT INTO ${t} (${cols.join(', ')}) VALUES ${valuesList(vals)} ON CONFLICT(${key}) DO NOTHING`,
  // Times are text (or numbers) in SQLite: strftime and julianday read ISO 8601 with or without a zone, as UTC.
  day: (e) => `strftime('%Y-%m-%d', ${e})`,
  instant: (e) => `julianday(${e})`,
  // better-sqlite3 reports SQLITE_ERROR for it: only the message says which error it is.
  isMissingTable: (e) => (e as { code?: unknown } | null)?.code === 'SQLITE_ERROR' && /^no such table/.test(String((e as { message?: unknown }).message)),
  limit: (s, n) => `${s} LIMIT ${n}`,
  timestamp: (d) => d.toISOString(),
};

/** "sqlite:./file.db", "file:./file.db" or a plain path. */
export function sqlitePath(url: string): string {
  return url.replace(/^(sqlite|file):(\/\/)?/, '');
}

/**
 * The settings of every SQLite connection the gateway opens (a store's, the HTTP store's migration marks): WAL, and
 * SQLite's own default page cache, 2 MB. better-sqlite3 builds SQLite with 16 MB, which lookups spread over a large
 * table fill: 15 MB more of this process's memory under load (README, "Memory under a load"), for pages the operating
 * system's file cache holds anyway. The B-tree's upper levels still fit; a lookup reads its leaf pages from the file
 * cache instead (about two more read calls per lookup; the benchmark's throughput moved within its noise).
 */
export function useSqliteSettings(db: BetterSqlite3.Database): void {
  db.pragma('journal_mode = WAL');
  db.pragma('cache_size = -2000');
}

export function openSqliteDriver(url: string): SqlDriver {
  const Database = loadDriver<typeof BetterSqlite3>('better-sqlite3', 'sqlite');
  let db: BetterSqlite3.Database;
  try {
    db = new Database(sqlitePath(url), { fileMustExist: true, timeout: 5000 });
  } catch (e) {
    throw new StoreError(`cannot open SQLite database (${(e as { code?: string }).code ?? 'error'})`, { cause: e, transient: false });
  }
  useSqliteSettings(db);
  db.function('lg_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v));
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prep = (sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  return {
    dialect: sqliteDialect,
    async all(sql, params) {
      return prep(sql).all(...params) as Row[];
    },
    async run(sql, params) {
      return prep(sql).run(...params).changes;
    },
    async close() {
      db.close();
    },
  };
}

/** `wrap` (tests): see the driver the store runs its SQL through. */
export function createSqliteStore(url: string, mapping: MappingConfig, wrap: (d: SqlDriver) => SqlDriver = (d) => d): SqlUserStore {
  return new SqlUserStore(wrap(openSqliteDriver(url)), mapping);
}
