/** SQL Server and Azure SQL store (mssql, with tedious underneath). */
import type * as MSSQL from 'mssql';
import type { Config } from '../src/config.js';
import { loadDriver } from './driver.js';
import type { PoolOptions } from './postgres.js';
import { SqlUserStore, valuesList, type Dialect, type MappingConfig, type Row, type SqlDriver } from './sql.js';
import { StoreError } from './types.js';

/**
 * 245 conversion failed (nvarchar 'abc' → int), 248 conversion overflowed an int column, 8114 error converting
 * data type, 8115 arithmetic overflow, 8169 conversion to uniqueidentifier failed, 241 conversion to date/time failed.
 */
const INVALID_INPUT = new Set([241, 245, 248, 8114, 8115, 8169]);

function errorNumber(e: unknown): number | undefined {
  const err = e as { number?: unknown; originalError?: { number?: unknown; info?: { number?: unknown } } } | null;
  const n = err?.number ?? err?.originalError?.info?.number ?? err?.originalError?.number;
  return typeof n === 'number' ? n : undefined;
}

export const mssqlDialect: Dialect = {
  quoteIdent: (p) => `[${p.replaceAll(']', ']]')}]`,
  param: (n) => `@p${n}`,
  // LOWER() folds with the column's collation; nvarchar columns fold Unicode.
  lower: (e) => `LOWER(${e})`,
  // SQL Server indexes no expression directly, but matches LOWER(col) in a query to an indexed computed column
  // defined as LOWER(col).
  loginKey: (ref) => `LOWER(${ref})`,
  loginIndex: (t, c, col) => {
    const computed = `[lg_lower_${col.key}]`;
    return [
      `ALTER TABLE ${t} ADD ${computed} AS LOWER(${c});`,
      `CREATE INDEX ${computed} ON ${t} (${computed});  -- the gateway compares LOWER(${c}); SQL Server matches that expression to this indexed computed column (SET ANSI_NULLS, QUOTED_IDENTIFIER ON; not verified against a live server by the gateway's tests)`,
    ];
  },
  idAsText: (e) => `CAST(${e} AS NVARCHAR(255))`,
  // No ON CONFLICT: a key-range update lock held to the end of the statement makes concurrent inserts of one key
  // wait for each other, so the second one sees the first one's row instead of a duplicate-key error.
  // Several rows: the same, from a VALUES table.
  insertIfAbsent: (t, cols, vals, key) => {
    if (!cols.includes(key)) throw new StoreError(`insertIfAbsent: key ${key} is not one of the inserted columns`, { transient: false });
    if (Array.isArray(vals[0])) {
      const lock = `SELECT 1 FROM ${t} lg_t WITH (UPDLOCK, HOLDLOCK) WHERE lg_t.${key} = s.${key}`;
      return `INSERT INTO ${t} (${cols.join(', ')}) SELECT ${cols.map((c) => `s.${c}`).join(', ')} FROM (VALUES ${valuesList(vals)}) AS s (${cols.join(', ')}) WHERE NOT EXISTS (${lock})`;
    }
    return `INSERT INTO ${t} (${cols.join(', ')}) SELECT ${vals.join(', ')} WHERE NOT EXISTS (SELECT 1 FROM ${t} WITH (UPDLOCK, HOLDLOCK) WHERE ${key} = ${vals[cols.indexOf(key)]})`;
  },
  // Style 23: yyyy-mm-dd. DATETIME2 values are the UTC times the gateway wrote (useUTC).
  day: (e) => `CONVERT(char(10), ${e}, 23)`,
  // 208 invalid object name
  isMissingTable: (e) => errorNumber(e) === 208,
  limit: (s, n) => {
    const m = /^\s*SELECT(\s+DISTINCT)?\s+/i.exec(s);
    if (!m) throw new StoreError('limit() needs a SELECT statement', { transient: false });
    return `SELECT${m[1] ?? ''} TOP (${Math.trunc(n)}) ${s.slice(m[0].length)}`;
  },
  timestamp: (d) => d,
  isInvalidInput: (e) => {
    const n = errorNumber(e);
    return n !== undefined && INVALID_INPUT.has(n);
  },
};

const BOOL: Record<string, boolean> = { true: true, false: false, yes: true, no: false, '1': true, '0': false };

function bool(name: string, v: string): boolean {
  const b = BOOL[v.trim().toLowerCase()];
  if (b === undefined) throw new StoreError(`store.url: ${name} must be true or false`, { transient: false });
  return b;
}

/**
 * The driver configuration for a store URL. Accepted forms:
 *   mssql://user:password@host:port/database?encrypt=true&trustServerCertificate=false&instanceName=SQLEXPRESS
 *   (sqlserver:// too), and an ADO.NET connection string: Server=tcp:host,1433;Database=db;User Id=u;Password=p;Encrypt=true
 * TLS is on by default (Azure SQL requires it) and the server certificate is verified unless
 * trustServerCertificate=true. store.pool_max and store.query_timeout_ms always govern the pool and timeouts.
 */
export function mssqlConfig(url: string, opts: PoolOptions, parseAdo?: (s: string) => MSSQL.config): MSSQL.config {
  let cfg: MSSQL.config;
  let encrypt: boolean | undefined;
  let trust: boolean | undefined;
  if (/^(mssql|sqlserver):\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      // Never echo the URL: it holds the password.
      throw new StoreError('store.url is not a valid mssql:// URL', { transient: false });
    }
    if (!u.hostname) throw new StoreError('store.url: mssql:// URL needs a host', { transient: false });
    const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
    cfg = {
      server: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port ? Number(u.port) : 1433,
      ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(database ? { database } : {}),
      options: {},
    };
    for (const [k, v] of u.searchParams) {
      switch (k.toLowerCase()) {
        case 'encrypt':
          encrypt = bool(k, v);
          break;
        case 'trustservercertificate':
          trust = bool(k, v);
          break;
        case 'instancename':
          cfg.options!.instanceName = v;
          break;
        case 'domain':
          cfg.domain = v;
          break;
        case 'applicationname':
        case 'appname':
          cfg.options!.appName = v;
          break;
        default:
          throw new StoreError(`store.url: unknown mssql:// option "${k}" (known: encrypt, trustServerCertificate, instanceName, domain, appName)`, { transient: false });
      }
    }
  } else if (/[=;]/.test(url)) {
    if (!parseAdo) throw new StoreError('store.url: ADO.NET connection strings need the mssql package', { transient: false });
    try {
      cfg = parseAdo(url);
    } catch {
      // Not the parser's message: it may quote the string, and with it the password.
      throw new StoreError('store.url is not a valid SQL Server connection string', { transient: false });
    }
    if (!cfg.server) throw new StoreError('store.url: the connection string needs Server (or Data Source)', { transient: false });
    cfg.options ??= {};
    const o = cfg.options as { encrypt?: unknown; trustServerCertificate?: unknown };
    encrypt = o.encrypt === undefined ? undefined : typeof o.encrypt === 'boolean' ? o.encrypt : bool('Encrypt', String(o.encrypt));
    trust =
      o.trustServerCertificate === undefined
        ? undefined
        : typeof o.trustServerCertificate === 'boolean'
          ? o.trustServerCertificate
          : bool('TrustServerCertificate', String(o.trustServerCertificate));
  } else {
    throw new StoreError('store.url must be mssql://user:password@host:port/database or an ADO.NET connection string (Server=...;Database=...)', { transient: false });
  }
  return {
    ...cfg,
    connectionTimeout: opts.queryTimeoutMs,
    requestTimeout: opts.queryTimeoutMs,
    // Check a pooled connection's socket before lending it, not with a SELECT 1 round trip per query.
    validateConnection: 'socket',
    options: {
      ...cfg.options,
      encrypt: encrypt ?? true,
      trustServerCertificate: trust ?? false,
      appName: cfg.options?.appName ?? 'legacy-gateway',
      useUTC: true,
    },
    pool: {
      ...cfg.pool,
      max: opts.max,
      min: 0,
      idleTimeoutMillis: 30_000,
      acquireTimeoutMillis: opts.queryTimeoutMs,
      createTimeoutMillis: opts.queryTimeoutMs,
    },
  };
}

/**
 * Values bound by name, @p1..@pn, typed as mssql infers them (nvarchar, int/bigint, float, bit) except Dates:
 * datetime2(3) keeps their milliseconds where mssql's default (datetime) would round them to 1/300 s.
 */
function bind(sql: typeof MSSQL, req: MSSQL.Request, params: unknown[]): void {
  params.forEach((v, i) => {
    if (v instanceof Date) req.input(`p${i + 1}`, sql.DateTime2(3), v);
    else req.input(`p${i + 1}`, v);
  });
}

export async function openMssqlDriver(url: string, opts: PoolOptions): Promise<SqlDriver> {
  const sql = loadDriver<typeof MSSQL>('mssql', 'mssql');
  const pool = new sql.ConnectionPool(mssqlConfig(url, opts, (s) => sql.ConnectionPool.parseConnectionString(s)));
  // Failed acquisitions and dropped connections are emitted as 'error'; the request itself reports them.
  // Without a listener the EventEmitter would throw and crash the process.
  pool.on('error', () => {});
  let closed = false;
  let connecting: Promise<unknown> | null = null;
  // Connect on first use (and again after a failed attempt): an unreachable server at start-up is reported by the
  // queries (and ping) as the store being unavailable, exactly as for the other adapters.
  const ready = async () => {
    if (closed) throw new StoreError('the store is closed');
    if (pool.connected) return;
    connecting ??= pool.connect().finally(() => {
      connecting = null;
    });
    await connecting;
  };
  const request = async (text: string, params: unknown[]) => {
    await ready();
    const req = pool.request();
    bind(sql, req, params);
    return req.query(text);
  };
  return {
    dialect: mssqlDialect,
    async all(text, params) {
      return (await request(text, params)).recordset as Row[];
    },
    async run(text, params) {
      const r = await request(text, params);
      return r.rowsAffected.reduce((a, b) => a + b, 0);
    },
    async close() {
      closed = true;
      // A pool can't be closed while it connects: let the attempt finish first.
      await connecting?.catch(() => {});
      await pool.close();
    },
  };
}

export async function createMssqlStore(store: Pick<Config['store'], 'url' | 'query_timeout_ms' | 'pool_max'> & MappingConfig): Promise<SqlUserStore> {
  return new SqlUserStore(await openMssqlDriver(store.url, { max: store.pool_max, queryTimeoutMs: store.query_timeout_ms }), store);
}
