/** PostgreSQL store (pg). */
import type PG from 'pg';
import type { Config } from '../src/config.js';
import { loginIndexName, SqlUserStore, valuesList, type Dialect, type LearnDialect, type MappingConfig, type Row, type SqlDriver } from './sql.js';
import { loadDriver } from './driver.js';

/**
 * A bound text value the database encoding can't hold: 22P05 untranslatable_character (what PostgreSQL raises when
 * a Cyrillic, CJK or emoji parameter is converted from the client's UTF8 to a LATIN1 database), 22021
 * character_not_in_repertoire (a byte sequence invalid in the encoding).
 */
const UNREPRESENTABLE = ['22P05', '22021'];

/** ICU's root collation: lower() under it folds Unicode as JavaScript's toLowerCase() does (its Unicode version allowing). */
const ICU_FOLD = 'und-x-icu';

export function postgresDialect(foldCollation: string | null): Dialect {
  // lower() folds with the column's collation; under "C" that is ASCII only. ICU's root collation folds Unicode.
  const lower = (e: string) => (foldCollation ? `lower(${e} COLLATE "${foldCollation}")` : `lower(${e})`);
  return {
    quoteIdent: (p) => `"${p.replaceAll('"', '""')}"`,
    param: (n) => `$${n}`,
    lower,
    // The expression index must match the query's expression exactly, COLLATE included: both come from here.
    loginKey: (ref) => lower(ref),
    loginIndex: (t, c, col) => [
      `CREATE INDEX "${loginIndexName(col)}" ON ${t} (${lower(c)});  -- the expression the gateway compares${
        foldCollation ? ` (it folds with the ICU collation "${foldCollation}", found on this server)` : ' (no ICU collation this database can use: plain lower())'
      }`,
    ],
    // In the default collation, as the gateway's tables' text keys have it: a users key of another collation ("C", or
    // a nondeterministic ICU one) would otherwise make the join compare in that collation, which their primary key
    // index can't serve (a scan of the side table per lookup).
    idAsText: (e) => `(CAST(${e} AS text) COLLATE "default")`,
    // The id as that same text: a char(n) key comes from the driver blank-padded, but its cast to text (the joins
    // above) drops the padding, so a mark written with the padded id would never be read back.
    idValue: (e) => `CAST(${e} AS text)`,
    insertIfAbsent: (t, cols, vals, key) => `INSERT INTO ${t} (${cols.join(', ')}) VALUES ${valuesList(vals)} ON CONFLICT (${key}) DO NOTHING`,
    insertArraysIfAbsent: (t, cols, types, key) =>
      `INSERT INTO ${t} (${cols.join(', ')}) SELECT * FROM unnest(${types.map((ty, i) => `$${i + 1}::${ty}[]`).join(', ')}) ON CONFLICT (${key}) DO NOTHING`,
    // Through timestamptz, so that a timestamp column without a time zone is read in the session's zone, like the rest.
    day: (e) => `to_char(CAST(${e} AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
    // 42P01 undefined_table
    isMissingTable: (e) => (e as { code?: unknown } | null)?.code === '42P01',
    limit: (s, n) => `${s} LIMIT ${n}`,
    timestamp: (d) => d.toISOString(),
    // 22P02 invalid_text_representation, 22003 numeric_value_out_of_range, and the unrepresentable text below
    isInvalidInput: (e) => ['22P02', '22003', ...UNREPRESENTABLE].includes(String((e as { code?: unknown }).code)),
    isUnrepresentable: (e) => UNREPRESENTABLE.includes(String((e as { code?: unknown }).code)),
  };
}

/**
 * The dialect for this server: ICU folding where the database can use ICU's root collation. It is used, not only
 * looked up: ICU collations exist in pg_collation for every encoding, but a database in SQL_ASCII, MULE_INTERNAL or
 * EUC_JIS_2004 can't use them (42704 there), and every lookup would fail. Throws when the server can't be asked.
 */
async function learnPostgresDialect(pool: PG.Pool): Promise<Dialect> {
  try {
    await pool.query(`SELECT lower('A' COLLATE "${ICU_FOLD}") AS folded`);
    return postgresDialect(ICU_FOLD);
  } catch (e) {
    // The server rejected the statement itself (42704 undefined_object, 0A000 feature_not_supported): no ICU to use.
    // Anything else (refused, reset, timed out, 57P03 starting up) means the server could not be asked.
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^(42|0A)[0-9A-Z]{3}$/.test(code)) return postgresDialect(null);
    throw e;
  }
}

export interface PoolOptions {
  max: number;
  queryTimeoutMs: number;
}

export async function openPostgresDriver(url: string, opts: PoolOptions): Promise<SqlDriver & { learn?: LearnDialect | undefined }> {
  const pg = loadDriver<typeof PG>('pg', 'postgres');
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max,
    connectionTimeoutMillis: opts.queryTimeoutMs,
    query_timeout: opts.queryTimeoutMs,
    statement_timeout: opts.queryTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'legacy-gateway',
  });
  // An idle client's connection dropping must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  let dialect: Dialect;
  let learn: LearnDialect | undefined;
  try {
    dialect = await learnPostgresDialect(pool);
  } catch {
    // Not askable at start-up: plain lower() until the store's first operation that finds the server up (SqlUserStore).
    dialect = postgresDialect(null);
    learn = () => learnPostgresDialect(pool);
  }
  return {
    learn,
    dialect,
    async all(sql, params) {
      return (await pool.query(sql, params)).rows as Row[];
    },
    async run(sql, params) {
      return (await pool.query(sql, params)).rowCount ?? 0;
    },
    poolStats: () => ({ open: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: opts.max }),
    async close() {
      await pool.end();
    },
  };
}

/** `wrap` (tests): see the driver the store runs its SQL through. */
export async function createPostgresStore(
  store: Pick<Config['store'], 'url' | 'query_timeout_ms' | 'pool_max'> & MappingConfig,
  wrap: (d: SqlDriver) => SqlDriver = (d) => d,
): Promise<SqlUserStore> {
  const driver = await openPostgresDriver(store.url, { max: store.pool_max, queryTimeoutMs: store.query_timeout_ms });
  return new SqlUserStore(wrap(driver), store, driver.learn);
}
