/** MySQL and MariaDB store (mysql2). */
import type * as MySQL from 'mysql2/promise';
import { exportsTable, type Config } from '../src/config.js';
import { isConnectionError } from '../src/dbhints.js';
import type { PoolOptions } from './postgres.js';
import { keyEquals, loginColumns, SqlUserStore, valuesList, type Dialect, type LoginColumn, type MappingConfig, type Row, type SqlDriver } from './sql.js';
import { loadDriver } from './driver.js';

/** What information_schema.COLUMNS says about one column (read once, when the store opens). */
export interface MysqlColumnInfo {
  charset: string | null;
  collation: string | null;
  /** COLUMN_TYPE, e.g. varchar(255), text. */
  type: string;
  /** The character set's default collation (information_schema.CHARACTER_SETS), for check's remedy. */
  charsetDefault?: string | null;
  nullable: boolean;
}

/** Column facts by "table.column" as configured (the table possibly schema-qualified). */
export type MysqlColumns = Map<string, MysqlColumnInfo>;

export const columnKey = (table: string, column: string) => `${table}.${column}`.toLowerCase();

/** A case-insensitive collation (…_ci, …_ai_ci, …_as_ci): `col = ?` finds every row LOWER(col) = ? would. */
export function isCaseInsensitive(collation: string | null | undefined): boolean {
  return !!collation && /_ci$/i.test(collation);
}

/**
 * The *_general_ci collations of the Unicode character sets rank three signs apart from the letters they lower-case
 * to (JavaScript: 'K' (U+212A KELVIN SIGN) → 'k', 'Ω' (U+2126 OHM SIGN) → 'ω', 'Å' (U+212B ANGSTROM SIGN) → 'å'),
 * where LOWER() folds them: measured on MariaDB 10.11 over every code point JavaScript lower-cases, these are the only
 * pairs `col = ?` misses and LOWER(col) = ? finds. The UCA collations (unicode_ci, unicode_520_ci, uca1400) and the
 * latin1 ones miss none. So a general_ci lookup also binds each spelling of the login with these signs.
 */
const GENERAL_CI_SIGNS: Record<string, string> = { k: '\u212A', '\u03C9': '\u2126', '\u00E5': '\u212B' };
/**
 * At most 2^5 = 32 spellings are bound. A login with more of these letters is looked up by its prefix before the sixth
 * one (signPrefixPatterns).
 */
const MAX_SIGN_LETTERS = 5;

function signsMatter(i: MysqlColumnInfo | undefined): boolean {
  return !!i?.collation && !!i.charset && /_general_/i.test(i.collation) && /^(utf8|utf16|utf32|ucs2)/i.test(i.charset);
}

/** Every spelling of `needle` with any of its k / ω / å as the sign; null when there would be too many. */
export function signSpellings(needle: string): string[] | null {
  const chars = [...needle];
  const at = chars.flatMap((c, i) => (c in GENERAL_CI_SIGNS ? [i] : []));
  if (at.length > MAX_SIGN_LETTERS) return null;
  const out: string[] = [];
  for (let mask = 0; mask < 1 << at.length; mask++) {
    const v = [...chars];
    at.forEach((pos, bit) => {
      if (mask & (1 << bit)) v[pos] = GENERAL_CI_SIGNS[v[pos]!]!;
    });
    out.push(v.join(''));
  }
  return out;
}

/**
 * For a login with more than MAX_SIGN_LETTERS of k / ω / å: every spelling of its prefix before the sixth such letter,
 * as a LIKE pattern (`!` escapes `!`, `%` and `_`) that begins with it. Every row the rule matches begins with one of
 * them, and `col LIKE 'prefix%'` is a range on col's index, as narrow as the rows that begin with that prefix: never a
 * scan of the table, whatever the login.
 */
export function signPrefixPatterns(needle: string): string[] {
  const chars = [...needle];
  const at = chars.flatMap((c, i) => (c in GENERAL_CI_SIGNS ? [i] : []));
  const prefix = chars.slice(0, at[MAX_SIGN_LETTERS] ?? chars.length).join('');
  return signSpellings(prefix)!.map((p) => `${p.replace(/[!%_]/g, '!$&')}%`);
}

/**
 * A case-insensitive collation of the same character set, for check's remedy: the Unicode sets' unicode_ci, else the
 * set's own default collation when that is one (latin5_turkish_ci, big5_chinese_ci: not every set has a general_ci),
 * else none.
 */
function ciCollation(i: MysqlColumnInfo): string | null {
  if (/^utf8/i.test(i.charset ?? '')) return `${i.charset}_unicode_ci`;
  return isCaseInsensitive(i.charsetDefault) ? i.charsetDefault! : null;
}

/**
 * The MySQL/MariaDB dialect. `columns` (from information_schema at store open) decides each login column's lookup:
 * a case-insensitive collation compares the column itself (`email = ?`, so a plain index on it is used, and the
 * gateway re-checks candidates); anything else, or a column not found, compares LOWER(col) (no index on MariaDB).
 * A gateway table's user_id (the side table's, the export ledger's; `sideKey` when not among `columns`): the users key
 * is cast to its character set and collation for the join, so the comparison uses its primary key and never mixes
 * collations (error 1267).
 */
export function mysqlDialectFor(columns: MysqlColumns = new Map(), sideKey: MysqlColumnInfo | null = null): Dialect {
  const info = (col: LoginColumn) => columns.get(columnKey(col.table, col.column));
  return {
    quoteIdent: (p) => `\`${p.replaceAll('`', '``')}\``,
    param: () => '?',
    lower: (e) => `LOWER(${e})`,
    loginKey: (ref, col) => (isCaseInsensitive(info(col)?.collation) ? ref : `LOWER(${ref})`),
    loginLookup: (ref, col, needle) => {
      const i = info(col);
      if (!isCaseInsensitive(i?.collation)) return keyEquals(`LOWER(${ref})`, [needle]);
      if (!signsMatter(i)) return keyEquals(ref, [needle]);
      const spellings = signSpellings(needle);
      if (spellings) return keyEquals(ref, spellings);
      // Too many spellings to bind: the rows that begin with a spelling of the login's prefix (ranges on the same
      // index), of which the server keeps those whose LOWER() is the login. Never LOWER(col) alone, which scans.
      const patterns = signPrefixPatterns(needle);
      return {
        values: [...patterns, needle],
        where: (m) => `((${patterns.map((_, k) => `${ref} LIKE ${m[k]} ESCAPE '!'`).join(' OR ')}) AND LOWER(${ref}) = ${m[patterns.length]})`,
      };
    },
    loginIndex: (t, c, col) => {
      const i = info(col);
      const name = `\`lg_${col.key}\``;
      if (i && isCaseInsensitive(i.collation)) {
        // TEXT columns can only be indexed on a prefix; `col = ?` still uses it (rows are re-checked).
        const part = /text|blob/i.test(i.type) ? `${c}(191)` : c;
        const signs = signsMatter(i)
          ? ` (or ${c} IN (...) with the Kelvin, Ohm and Angstrom sign spellings ${i.collation} ranks apart from k, ω, å; a login with more than ${MAX_SIGN_LETTERS} of those letters, ${c} LIKE each spelling of its prefix before the sixth, on the same index)`
          : '';
        return [`CREATE INDEX ${name} ON ${t} (${part});  -- ${c} is ${i.collation} (case-insensitive): the gateway compares ${c} = ?${signs} and re-checks every candidate`];
      }
      if (!i || !i.collation || !i.charset) {
        return [`-- ${c}: no character collation found for it at start-up: the gateway compares LOWER(${c}), which no index serves; lookups on it SCAN the table`];
      }
      const ci = ciCollation(i);
      if (!ci) {
        return [
          `-- ${c} is ${i.collation} (case-sensitive): the gateway compares LOWER(${c}), which no index serves on MariaDB; lookups on it SCAN the table.`,
          `-- Its character set ${i.charset} has no case-insensitive collation to offer: converting ${c} to utf8mb4 with utf8mb4_unicode_ci and a plain index would serve lookups.`,
        ];
      }
      return [
        `-- ${c} is ${i.collation} (case-sensitive): the gateway compares LOWER(${c}), which no index serves on MariaDB; lookups on it SCAN the table.`,
        `-- Remedy: a case-insensitive collation on ${c} plus a plain index; restart the gateway (it reads collations at start-up) and it compares ${c} = ? using that index:`,
        `--   ALTER TABLE ${t} MODIFY ${c} ${i.type} CHARACTER SET ${i.charset} COLLATE ${ci} ${i.nullable ? 'NULL' : 'NOT NULL'};  -- restate any DEFAULT/COMMENT; the legacy application's comparisons and UNIQUE keys on ${c} become case-insensitive too`,
        `--   CREATE INDEX ${name} ON ${t} (${/text|blob/i.test(i.type) ? `${c}(191)` : c});`,
      ];
    },
    idAsText: (e, table) => {
      const k = columns.get(columnKey(table, 'user_id')) ?? sideKey;
      return k?.charset && k.collation ? `CAST(${e} AS CHAR CHARACTER SET ${k.charset}) COLLATE ${k.collation}` : `CAST(${e} AS CHAR)`;
    },
    insertIfAbsent: (t, cols, vals, key) =>
      `INSERT INTO ${t} (${cols.join(', ')}) VALUES ${valuesList(vals)} ON DUPLICATE KEY UPDATE ${key} = ${key}`,
    // DATETIME values are the UTC times the gateway wrote (the pool's timezone is 'Z').
    day: (e) => `DATE_FORMAT(${e}, '%Y-%m-%d')`,
    // 1146 ER_NO_SUCH_TABLE
    isMissingTable: (e) => (e as { errno?: unknown } | null)?.errno === 1146,
    limit: (s, n) => `${s} LIMIT ${n}`,
    timestamp: (d) => d,
    // findById: an id the key column's character set can't hold names nobody either.
    isInvalidInput: (e) => isUncomparableText(e),
    isUnrepresentable: (e) => isUncomparableText(e),
  };
}

/** Without column facts: LOWER() on every login column, a plain cast for the side-table join. */
export const mysqlDialect: Dialect = mysqlDialectFor();

/**
 * One query at store open: the collation of every login column (users table and joined tables) and of the side
 * table's and the export ledger's user_id. It throws when the server can't be reached; any other failure gives the
 * safe defaults: LOWER(col), a plain cast. (A ledger created after start-up is joined with the side table's collation, or a plain cast, until the next start.)
 */
export async function readColumnFacts(driver: SqlDriver, mapping: MappingConfig): Promise<{ columns: MysqlColumns; sideKey: MysqlColumnInfo | null }> {
  const wanted: [string, string][] = loginColumns(mapping.users).map((c) => [c.table, c.column]);
  const side = 'table' in mapping.migration ? mapping.migration.table : null;
  if (side) wanted.push([side, 'user_id']);
  wanted.push([exportsTable(mapping.migration), 'user_id']);
  const columns: MysqlColumns = new Map();
  if (!wanted.length) return { columns, sideKey: null };
  const conds: string[] = [];
  const params: unknown[] = [];
  for (const [table, column] of wanted) {
    const dot = table.indexOf('.');
    conds.push(`(TABLE_SCHEMA = ${dot < 0 ? 'DATABASE()' : '?'} AND TABLE_NAME = ? AND COLUMN_NAME = ?)`);
    if (dot >= 0) params.push(table.slice(0, dot));
    params.push(dot < 0 ? table : table.slice(dot + 1), column);
  }
  try {
    const rows = await driver.all(
      `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, COLUMN_NAME AS c, CHARACTER_SET_NAME AS cs, COLLATION_NAME AS co, COLUMN_TYPE AS ty, IS_NULLABLE AS n, DATABASE() AS db,
        (SELECT DEFAULT_COLLATE_NAME FROM information_schema.CHARACTER_SETS x WHERE x.CHARACTER_SET_NAME = COLUMNS.CHARACTER_SET_NAME) AS dco
        FROM information_schema.COLUMNS WHERE ${conds.join(' OR ')}`,
      params,
    );
    for (const r of rows) {
      // Charset and collation names end up in SQL text (the side-table join's CAST ... COLLATE): plain names only.
      const name = (v: unknown) => (v == null || !/^[A-Za-z0-9_]{1,64}$/.test(String(v)) ? null : String(v));
      const fact: MysqlColumnInfo = {
        charset: name(r.cs),
        collation: name(r.co),
        type: String(r.ty),
        nullable: String(r.n).toUpperCase() === 'YES',
        charsetDefault: name(r.dco),
      };
      const inDb = String(r.s) === String(r.db);
      for (const [table, column] of wanted) {
        const dot = table.indexOf('.');
        const same = dot < 0 ? inDb && table.toLowerCase() === String(r.t).toLowerCase() : `${r.s}.${r.t}`.toLowerCase() === table.toLowerCase();
        if (same && column.toLowerCase() === String(r.c).toLowerCase()) columns.set(columnKey(table, column), fact);
      }
    }
  } catch (e) {
    // Unreachable: the caller keeps the safe defaults and asks again once the server answers (SqlUserStore).
    if (isConnectionError(e)) throw e;
    // Readable server, unreadable facts: the safe defaults for good.
  }
  return { columns, sideKey: side ? (columns.get(columnKey(side, 'user_id')) ?? null) : null };
}

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

/** Prepared statements a pooled connection keeps open on the server (mysql2's maxPreparedStatements). */
export const MAX_PREPARED_STATEMENTS = 128;

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
    // mysql2's "long stack traces" (on unless switched off): every execute() captured a stack trace at its call
    // site, through the whole async chain of the request, for an error's stack. The gateway never logs a stack (an
    // error's class and code only: src/logger.ts), so it was pure cost: 3.6% of the gateway's CPU under a MariaDB
    // lookup storm in one profile, with the garbage it left (README, "Where the rest goes").
    trace: false,
    // Each connection keeps its prepared statements in an LRU that mysql2 allocates at full size up front: four arrays
    // of maxPreparedStatements slots (default 16,000: 512 KB per connection, 5 MB of live heap for a pool of 10, and
    // the old generation is let grow in proportion to what is live). The gateway runs a few dozen statement texts; an
    // evicted statement is closed on the server and prepared again when next used.
    maxPreparedStatements: MAX_PREPARED_STATEMENTS,
  });
  pool.on('connection', (c) => {
    // A dropped connection emits 'error' on the connection object; the pool drops it. Never crash on it.
    (c as unknown as { on(e: string, f: () => void): void }).on('error', () => {});
  });
  const timeout = opts.queryTimeoutMs;
  // For poolStats(): mysql2 counts open and idle connections only in private fields; the queue is counted here.
  let waiting = 0;
  const internals = (pool as unknown as { pool?: { _allConnections?: { length: number }; _freeConnections?: { length: number } } }).pool;
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
      waiting += 1;
      pool.getConnection().then(
        (c) => {
          waiting -= 1;
          clearTimeout(timer);
          if (late) c.release();
          else resolve(c);
        },
        (e: unknown) => {
          waiting -= 1;
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
    poolStats: () => ({ open: internals?._allConnections?.length ?? 0, idle: internals?._freeConnections?.length ?? 0, waiting, max: opts.max }),
    async close() {
      await pool.end();
    },
  };
}

/** `wrap` (tests): see the driver the store runs its SQL through. */
export async function createMysqlStore(
  store: Pick<Config['store'], 'url' | 'query_timeout_ms' | 'pool_max'> & MappingConfig,
  wrap: (d: SqlDriver) => SqlDriver = (d) => d,
): Promise<SqlUserStore> {
  const driver = await openMysqlDriver(store.url, { max: store.pool_max, queryTimeoutMs: store.query_timeout_ms });
  const learn = async () => {
    const facts = await readColumnFacts(driver, store);
    return mysqlDialectFor(facts.columns, facts.sideKey);
  };
  try {
    driver.dialect = await learn();
    return new SqlUserStore(wrap(driver), store);
  } catch {
    // Unreachable at start-up: LOWER() and plain casts until the store's first operation that finds the server up.
    return new SqlUserStore(wrap(driver), store, learn);
  }
}
