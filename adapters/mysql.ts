/** MySQL and MariaDB store (mysql2). */
import type * as MySQL from 'mysql2/promise';
import type { Config } from '../src/config.js';
import type { PoolOptions } from './postgres.js';
import { SqlUserStore, type Dialect, type MappingConfig, type Row, type SqlDriver } from './sql.js';
import { loadDriver } from './driver.js';

export const mysqlDialect: Dialect = {
  quoteIdent: (p) => `\`${p.replaceAll('`', '``')}\``,
  param: () => '?',
  lower: (e) => `LOWER(${e})`,
  insertIfAbsent: (t, cols, vals, key) =>
    `INSERT INTO ${t} (${cols.join(', ')}) VALUES (${vals.join(', ')}) ON DUPLICATE KEY UPDATE ${key} = ${key}`,
  limit: (s, n) => `${s} LIMIT ${n}`,
  timestamp: (d) => d,
  // findById: an id the key column's character set can't hold names nobody either.
  isInvalidInput: (e) => isUncomparableText(e),
  isUnrepresentable: (e) => isUncomparableText(e),
};

/**
 * MariaDB refuses to compare a bound value with a column when the value can't be converted to the column's character
 * set (a Cyrillic, CJK or emoji login against a latin1 column, an emoji against utf8mb3): that login names no user.
 *   1267 ER_CANT_AGGREGATE_2COLLATIONS, 1270 ER_CANT_AGGREGATE_3COLLATIONS: "Illegal mix of collations (...)"; counted
 *        only when one side is COERCIBLE, i.e. a bound value. Two IMPLICIT sides are two COLUMNS of different
 *        collations (a misconfigured join), which fails for every value and must stay a store failure.
 *   1271 ER_CANT_AGGREGATE_NCOLLATIONS: the same for an operation over more than three operands (names none of them).
 *   1300 ER_INVALID_CHARACTER_STRING, 1366 ER_TRUNCATED_WRONG_VALUE_FOR_FIELD ("Incorrect string value"): the value's
 *        characters don't exist in the target character set.
 * The derivation names in the message (COERCIBLE, IMPLICIT) are not translated by lc_messages.
 * MySQL 8 converts the column to utf8mb4 instead and raises none of these for a plain comparison.
 */
const COLLATION_MIX = new Set([1267, 1270]);
const UNCONVERTIBLE_TEXT = new Set([1271, 1300, 1366]);

function isUncomparableText(e: unknown): boolean {
  const err = e as { errno?: unknown; sqlMessage?: unknown; message?: unknown } | null;
  const errno = err?.errno;
  if (typeof errno !== 'number') return false;
  if (UNCONVERTIBLE_TEXT.has(errno)) return true;
  if (!COLLATION_MIX.has(errno)) return false;
  const msg = typeof err?.sqlMessage === 'string' ? err.sqlMessage : typeof err?.message === 'string' ? err.message : '';
  return /,\s*COERCIBLE\s*\)/i.test(msg);
}

/**
 * A bound value as mysql2's binary protocol takes it: undefined is refused by execute(), so it is NULL (as query()
 * made it); bigints as their exact decimal text. Booleans go as TINY 1/0, numbers as DOUBLE, Dates as DATETIME
 * (in the pool's timezone, 'Z'), strings and Buffers as they are.
 */
export function bindValue(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  return v;
}

export async function openMysqlDriver(url: string, opts: PoolOptions): Promise<SqlDriver> {
  const mysql = loadDriver<typeof MySQL>('mysql2/promise', 'mysql');
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: opts.max,
    connectTimeout: opts.queryTimeoutMs,
    waitForConnections: true,
    queueLimit: 1000,
    timezone: 'Z',
    charset: 'utf8mb4',
    supportBigNumbers: true,
    bigNumberStrings: true,
    multipleStatements: false,
    enableKeepAlive: true,
  });
  pool.on('connection', (c) => {
    // A dropped connection emits 'error' on the connection object; the pool drops it. Never crash on it.
    (c as unknown as { on(e: string, f: () => void): void }).on('error', () => {});
  });
  const timeout = opts.queryTimeoutMs;
  /**
   * Wait at most `timeout` for a pooled connection: mysql2's pool queue has no wait limit of its own.
   * A connection that turns up after the deadline goes straight back to the pool.
   */
  const acquire = () =>
    new Promise<MySQL.PoolConnection>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(Object.assign(new Error('no pooled connection within the query timeout'), { code: 'POOL_ACQUIRE_TIMEOUT' }));
      }, timeout);
      pool.getConnection().then(
        (c) => {
          clearTimeout(timer);
          if (late) c.release();
          else resolve(c);
        },
        (e: unknown) => {
          clearTimeout(timer);
          if (!late) reject(e);
        },
      );
    });
  /**
   * One statement, bounded end to end. Values are always bound by the SERVER (COM_STMT_PREPARE / COM_STMT_EXECUTE,
   * mysql2's execute(), prepared statements cached per connection): they are never spliced into the SQL text, so no
   * sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES, ...) and no character set can change how a value is read.
   * (query() escapes on the client, assuming backslash escapes: under NO_BACKSLASH_ESCAPES a login ending in \'
   * closed the string literal and the rest ran as SQL.)
   *
   * On a timeout mysql2 rejects the statement but leaves the connection busy with it, never released to the pool:
   * after pool_max timeouts (a stalled server) every later statement would wait forever. So a connection whose
   * statement timed out or failed at the connection level is destroyed, and the pool opens a new one when the server
   * answers again. mysql2's own timeout covers only the EXECUTE; the deadline here also covers the PREPARE of a
   * statement not cached yet.
   */
  const query = async (sql: string, values: unknown[]): Promise<unknown> => {
    const params = values.map(bindValue);
    const conn = await acquire();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: false })),
        timeout,
      );
    });
    const running = conn.execute({ sql, values: params, timeout });
    // Settles after the deadline on a stalled connection (destroyed below): nothing may be left unhandled.
    running.catch(() => {});
    try {
      const [res] = await Promise.race([running, deadline]);
      conn.release();
      return res;
    } catch (e) {
      const err = e as { fatal?: unknown; code?: unknown };
      if (err.fatal === true || err.code === 'PROTOCOL_SEQUENCE_TIMEOUT') conn.destroy();
      else conn.release();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    dialect: mysqlDialect,
    async all(sql, params) {
      return (await query(sql, params)) as Row[];
    },
    async run(sql, params) {
      const res = await query(sql, params);
      return (res as { affectedRows?: number }).affectedRows ?? 0;
    },
    async close() {
      await pool.end();
    },
  };
}

export async function createMysqlStore(store: Pick<Config['store'], 'url' | 'query_timeout_ms' | 'pool_max'> & MappingConfig): Promise<SqlUserStore> {
  return new SqlUserStore(await openMysqlDriver(store.url, { max: store.pool_max, queryTimeoutMs: store.query_timeout_ms }), store);
}
