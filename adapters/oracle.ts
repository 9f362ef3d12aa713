/**
 * Oracle Database store (oracledb in Thin mode: pure JavaScript, no Oracle Client libraries; initOracleClient()
 * is never called). Needs Oracle 12c or later (FETCH FIRST n ROWS ONLY).
 *
 * Identifier case: Oracle folds unquoted identifiers to UPPER case, and the gateway always quotes identifiers,
 * which makes them case-sensitive. Configured names must therefore match the data dictionary exactly: a table
 * created as `CREATE TABLE users (email ...)` is configured as table USERS, column EMAIL (as ALL_TAB_COLUMNS shows
 * them); only tables created with quoted lower-case names are configured in lower case.
 */
import type { Config } from '../src/config.js';
import { loadDriver } from './driver.js';
import type { PoolOptions } from './postgres.js';
import { loginIndexName, SqlUserStore, type Dialect, type MappingConfig, type Row, type SqlDriver } from './sql.js';
import { StoreError } from './types.js';

/** The part of oracledb (which ships no TypeScript declarations) this adapter uses. */
export interface OracleMetaData {
  name: string;
  dbType?: unknown;
}

export interface OracleResult {
  rows?: unknown[][];
  metaData?: OracleMetaData[];
  rowsAffected?: number;
}

export interface OracleConnection {
  callTimeout: number;
  execute(sql: string, binds: unknown[], options: Record<string, unknown>): Promise<OracleResult>;
  close(options?: { drop?: boolean }): Promise<void>;
}

export interface OraclePool {
  getConnection(): Promise<OracleConnection>;
  close(drainTime?: number): Promise<void>;
}

export interface OracleDb {
  createPool(attrs: Record<string, unknown>): Promise<OraclePool>;
  OUT_FORMAT_ARRAY: number;
  DB_TYPE_NUMBER: unknown;
  DB_TYPE_CLOB: unknown;
  DB_TYPE_NCLOB: unknown;
  DB_TYPE_BLOB: unknown;
  STRING: unknown;
  BUFFER: unknown;
}

/**
 * 1722 invalid number ('abc' or "1' OR ..." against a NUMBER key), 1426 numeric overflow, 1465 invalid hex number
 * (RAW keys), 1858 non-numeric character where a numeric was expected, 1861 literal does not match format string,
 * 1830/1840 date format and input length, 1841/1843/1847/1850/1851/1852 out-of-range date and time fields.
 */
const INVALID_INPUT = new Set([1722, 1426, 1465, 1858, 1861, 1830, 1840, 1841, 1843, 1847, 1850, 1851, 1852]);

/** The ORA-nnnnn number of a driver error (oracledb sets errorNum and code "ORA-01722"). */
function oraNumber(e: unknown): number | undefined {
  const err = e as { errorNum?: unknown; code?: unknown } | null;
  if (typeof err?.code === 'string') {
    const m = /^ORA-(\d+)$/.exec(err.code);
    if (m) return Number(m[1]);
    return undefined;
  }
  return typeof err?.errorNum === 'number' ? err.errorNum : undefined;
}

export const oracleDialect: Dialect = {
  quoteIdent: (p) => {
    // Oracle has no escape for a double quote inside a quoted identifier (and no identifier may contain one).
    if (p.includes('"') || p.includes('\u0000')) throw new StoreError('an Oracle identifier cannot contain a double quote', { transient: false });
    return `"${p}"`;
  },
  param: (n) => `:${n}`,
  // LOWER() folds Unicode under AL32UTF8 and for NVARCHAR2 columns.
  lower: (e) => `LOWER(${e})`,
  loginKey: (ref) => `LOWER(${ref})`,
  loginIndex: (t, c, col) => [`CREATE INDEX "${loginIndexName(col)}" ON ${t} (LOWER(${c}));  -- a function-based index: the gateway compares LOWER(${c})`],
  idAsText: (e) => `TO_CHAR(${e})`,
  // No ON CONFLICT. Two concurrent MERGEs of one key can both find no match; the second one then fails with
  // ORA-00001 on the primary key (isDuplicateKey), which SqlUserStore.markMigrated treats as "already marked".
  // Each bind appears once, in order: oracledb binds an array by position of occurrence. Several rows: a UNION ALL
  // of one-row SELECTs from dual.
  insertIfAbsent: (t, cols, vals, key) => {
    if (!cols.includes(key)) throw new StoreError(`insertIfAbsent: key ${key} is not one of the inserted columns`, { transient: false });
    const rows = Array.isArray(vals[0]) ? (vals as string[][]) : [vals as string[]];
    const source = rows.map((r) => `SELECT ${cols.map((c, i) => `${r[i]} AS ${c}`).join(', ')} FROM dual`).join(' UNION ALL ');
    return (
      `MERGE INTO ${t} t USING (${source}) s ON (t.${key} = s.${key})` +
      ` WHEN NOT MATCHED THEN INSERT (${cols.join(', ')}) VALUES (${cols.map((c) => `s.${c}`).join(', ')})`
    );
  },
  // The UTC day of a TIMESTAMP WITH TIME ZONE (a TIMESTAMP or DATE is taken in the session's time zone).
  day: (e) => `TO_CHAR(SYS_EXTRACT_UTC(${e}), 'YYYY-MM-DD')`,
  // ORA-00942 table or view does not exist
  isMissingTable: (e) => oraNumber(e) === 942,
  // Oracle 12c+ row limiting clause (after ORDER BY).
  limit: (s, n) => `${s} FETCH FIRST ${Math.trunc(n)} ROWS ONLY`,
  timestamp: (d) => d,
  isInvalidInput: (e) => {
    const n = oraNumber(e);
    return n !== undefined && INVALID_INPUT.has(n);
  },
  isDuplicateKey: (e) => oraNumber(e) === 1,
  // 'SELECT 1' without FROM is only valid from Oracle 23ai on.
  pingSql: 'SELECT 1 AS ok FROM dual',
};

/** Connection settings for oracledb.createPool (exported for tests). */
export interface OraclePoolConfig {
  user: string;
  password: string;
  connectString: string;
  poolMin: number;
  poolMax: number;
  queueTimeout: number;
  connectTimeout: number;
  transportConnectTimeout: number;
}

/**
 * The pool configuration for a store URL:
 *   oracle://user:password@host:1521/service_name[?ssl=true]
 * User and password are percent-decoded; the port defaults to 1521; ssl=true connects over TLS (tcps, as Oracle
 * Autonomous Database requires). store.pool_max and store.query_timeout_ms govern the pool and the timeouts.
 */
export function oracleConfig(url: string, opts: PoolOptions): OraclePoolConfig {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Never echo the URL: it holds the password.
    throw new StoreError('store.url is not a valid oracle:// URL (oracle://user:password@host:1521/service_name)', { transient: false });
  }
  if (u.protocol !== 'oracle:') throw new StoreError('store.url must be oracle://user:password@host:1521/service_name', { transient: false });
  if (!u.hostname) throw new StoreError('store.url: oracle:// URL needs a host', { transient: false });
  if (!u.username) throw new StoreError('store.url: oracle:// URL needs a user (Thin mode has no external authentication)', { transient: false });
  let service: string;
  let user: string;
  let password: string;
  try {
    service = decodeURIComponent(u.pathname.replace(/^\//, ''));
    user = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    throw new StoreError('store.url: oracle:// URL has a malformed percent-encoding', { transient: false });
  }
  if (!service) throw new StoreError('store.url: oracle:// URL needs a service name (oracle://user:password@host:1521/service_name)', { transient: false });
  let tls = false;
  for (const [k, v] of u.searchParams) {
    if (k.toLowerCase() !== 'ssl') throw new StoreError(`store.url: unknown oracle:// option "${k}" (known: ssl)`, { transient: false });
    const b = ({ true: true, false: false, '1': true, '0': false } as Record<string, boolean>)[v.trim().toLowerCase()];
    if (b === undefined) throw new StoreError('store.url: ssl must be true or false', { transient: false });
    tls = b;
  }
  const seconds = Math.max(1, Math.ceil(opts.queryTimeoutMs / 1000));
  return {
    user,
    password,
    // Easy Connect; an IPv6 host keeps its brackets.
    connectString: `${tls ? 'tcps://' : ''}${u.hostname}:${u.port || '1521'}/${service}`,
    poolMin: 0,
    poolMax: opts.max,
    // Waiting for a pooled connection is bounded like a query.
    queueTimeout: opts.queryTimeoutMs,
    // Opening a connection too (oracledb counts these in whole seconds).
    connectTimeout: seconds,
    transportConnectTimeout: seconds,
  };
}

/** A connection in this state must not go back to the pool: NJS-003 invalid, NJS-123 call timeout, NJS-500 closed. */
const DEAD_CONNECTION = new Set(['NJS-003', 'NJS-123', 'NJS-500']);

/**
 * Unquoted aliases and columns come back as Oracle stores them, in UPPER case (COUNT(*) AS total → TOTAL,
 * user_id → USER_ID); quoted aliases ("f_email") come back exactly. A name without lower-case letters was folded
 * by Oracle, so it is lower-cased back; the shared SQL only ever uses lower-case names.
 */
function columnKey(name: string): string {
  return /[a-z]/.test(name) ? name : name.toLowerCase();
}

/** NUMBER fetched as text and made a JS number unless that would lose digits (keys beyond 2^53 stay strings). */
function numberValue(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const n = Number(v);
  return /^-?\d+$/.test(v) && !Number.isSafeInteger(n) ? v : n;
}

/**
 * Bound values: Dates as TIMESTAMP (oracledb's default: the wall-clock time of the Node.js time zone, which
 * oracledb also sets as the session time zone, so TIMESTAMP WITH TIME ZONE columns get the exact instant);
 * booleans as 1/0 (BOOLEAN binds need Oracle 23ai; NUMBER(1) is the usual legacy flag).
 */
function bindValue(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v === undefined ? null : v;
}

/** `oracledb` is the loaded driver module; tests pass a stand-in. */
export async function openOracleDriver(url: string, opts: PoolOptions, oracledb: OracleDb = loadDriver<OracleDb>('oracledb', 'oracle')): Promise<SqlDriver> {
  const cfg = oracleConfig(url, opts);
  let pool: OraclePool;
  try {
    // poolMin 0: nothing connects here; an unreachable server is reported by the queries (and ping).
    pool = await oracledb.createPool({ ...cfg });
  } catch (e) {
    // Not the driver's message: it may quote the connect string.
    const code = (e as { code?: unknown }).code;
    throw new StoreError(`the Oracle connection pool could not be created${typeof code === 'string' ? ` (${code})` : ''}`, { cause: e, transient: false });
  }
  const fetchTypeHandler = (meta: OracleMetaData) => {
    if (meta.dbType === oracledb.DB_TYPE_NUMBER) return { type: oracledb.STRING, converter: numberValue };
    if (meta.dbType === oracledb.DB_TYPE_CLOB || meta.dbType === oracledb.DB_TYPE_NCLOB) return { type: oracledb.STRING };
    if (meta.dbType === oracledb.DB_TYPE_BLOB) return { type: oracledb.BUFFER };
    return undefined;
  };
  let closed = false;
  const execute = async (sql: string, params: unknown[], write: boolean): Promise<OracleResult> => {
    if (closed) throw new StoreError('the store is closed');
    const conn = await pool.getConnection();
    let drop = false;
    try {
      // Bounds every round trip of this call; the connection is dropped if it expires.
      conn.callTimeout = opts.queryTimeoutMs;
      return await conn.execute(sql, params.map(bindValue), {
        outFormat: oracledb.OUT_FORMAT_ARRAY,
        fetchTypeHandler,
        // oracledb does not commit by default, and an uncommitted mark is rolled back when the connection is released.
        autoCommit: write,
      });
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      drop = typeof code === 'string' && DEAD_CONNECTION.has(code);
      throw e;
    } finally {
      // Back to the pool (or out of it). oracledb refuses an explicit undefined here: always pass the options.
      await conn.close({ drop }).catch(() => {});
    }
  };
  return {
    dialect: oracleDialect,
    async all(sql, params) {
      const r = await execute(sql, params, false);
      const keys = (r.metaData ?? []).map((m) => columnKey(m.name));
      return (r.rows ?? []).map((row) => {
        const out: Row = {};
        keys.forEach((k, i) => {
          out[k] = row[i];
        });
        return out;
      });
    },
    async run(sql, params) {
      return (await execute(sql, params, true)).rowsAffected ?? 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Let running queries finish (at most one query timeout), then close whatever is left.
      await pool.close(Math.max(1, Math.ceil(opts.queryTimeoutMs / 1000)));
    },
  };
}

export async function createOracleStore(store: Pick<Config['store'], 'url' | 'query_timeout_ms' | 'pool_max'> & MappingConfig): Promise<SqlUserStore> {
  return new SqlUserStore(await openOracleDriver(store.url, { max: store.pool_max, queryTimeoutMs: store.query_timeout_ms }), store);
}
