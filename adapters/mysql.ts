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
};

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
   * One query, bounded end to end. On a timeout mysql2 rejects the query but leaves the connection busy with it,
   * never released to the pool: after pool_max timeouts (a stalled server) every later query would wait forever.
   * So a connection whose query timed out or failed at the connection level is destroyed, and the pool opens a
   * new one when the server answers again.
   */
  const query = async (sql: string, values: unknown[]): Promise<unknown> => {
    const conn = await acquire();
    try {
      const [res] = await conn.query({ sql, values, timeout });
      conn.release();
      return res;
    } catch (e) {
      const err = e as { fatal?: unknown; code?: unknown };
      if (err.fatal === true || err.code === 'PROTOCOL_SEQUENCE_TIMEOUT') conn.destroy();
      else conn.release();
      throw e;
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
