/** MySQL and MariaDB store (mysql2). */
import { createRequire } from 'node:module';
import type * as MySQL from 'mysql2/promise';
import type { Config } from '../src/config.js';
import type { PoolOptions } from './postgres.js';
import { SqlUserStore, type Dialect, type MappingConfig, type Row, type SqlDriver } from './sql.js';
import { StoreError } from './types.js';

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
  let mysql: typeof MySQL;
  try {
    mysql = createRequire(import.meta.url)('mysql2/promise');
  } catch {
    throw new StoreError('the mysql adapter needs the "mysql2" package: npm install mysql2');
  }
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
  return {
    dialect: mysqlDialect,
    async all(sql, params) {
      const [rows] = await pool.query({ sql, values: params, timeout });
      return rows as Row[];
    },
    async run(sql, params) {
      const [res] = await pool.query({ sql, values: params, timeout });
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
