/**
 * Shared SQL for every relational adapter. A dialect supplies only what really differs
 * (identifier quoting, placeholders, text casts, case folding, insert-if-absent, row limits).
 * Identifiers come from validated configuration and are always quoted; values are always bound.
 */
import { createHash } from 'node:crypto';
import { exportsTable, type Config } from '../src/config.js';
import { describeConnectionError, isConnectionError, storeTarget, type DbTarget } from '../src/dbhints.js';
import { CANDIDATE_LIMIT, normaliseLogin } from '../src/matching.js';
import { instantIso, StoreError, type LegacyUser, type MigrationStatus, type PoolStats, type ProbeResult, type UserStore } from './types.js';

export type Row = Record<string, unknown>;

/** A login column (email or username) as configured: the table it lives in (the users table or a joined one) and its name. */
export interface LoginColumn {
  key: 'email' | 'username';
  table: string;
  column: string;
}

/** The alias of the migration side table, LEFT JOINed on its primary key in side-table mode. */
export const MARK_ALIAS = 'lg_mark';
/** The alias of the export ledger, LEFT JOINed on its primary key by migrationStatus. */
export const LEDGER_ALIAS = 'lg_export';

/** One login column's part of a lookup: the values to bind, and the condition on their placeholders. */
export interface LoginLookup {
  values: string[];
  where(marks: string[]): string;
}

/** `key = ?` for one value, `key IN (?, ...)` for several. */
export function keyEquals(key: string, values: string[]): LoginLookup {
  return { values, where: (m) => (m.length === 1 ? `${key} = ${m[0]}` : `${key} IN (${m.join(', ')})`) };
}

export interface Dialect {
  /** Quote one identifier part ("users", [users], `users`). */
  quoteIdent(part: string): string;
  /** Placeholder for the n-th (1-based) bound value. */
  param(n: number): string;
  /**
   * Optional: the placeholder for a value a lookup compares with an indexed key (a login key, the user id), where it
   * differs from param(n). Absent: param(n).
   */
  keyParam?(n: number): string;
  /** Case-fold an expression the same way JavaScript's toLowerCase() does, as far as the engine allows. */
  lower(expr: string): string;
  /**
   * What a login column is compared with (`<loginKey> = <bound, trimmed, lower-cased login>`). The one place that
   * decides how a lookup reaches an index: the store's query and check's printed index (loginIndex) both use it.
   * It may return a superset of the rule's matches (a case-insensitive collation), never miss one.
   */
  loginKey(ref: string, col: LoginColumn): string;
  /**
   * What `check` prints for that lookup: CREATE INDEX statements serving exactly loginKey(column) and "-- " notes
   * (or only notes, saying plainly that lookups scan). `table` and `column` are quoted.
   */
  loginIndex(table: string, column: string, col: LoginColumn): string[];
  /**
   * Optional, for a dialect whose comparison for one login depends on the login: the values to bind and the condition
   * on them (`where` gets one placeholder per value, in order). Absent: `loginKey = <the folded login>`.
   */
  loginLookup?(ref: string, col: LoginColumn, needle: string): LoginLookup;
  /**
   * A key expression as text, the form of a gateway table's user_id (joined on that table's primary key): `table` is
   * the gateway table (the migration side table or the export ledger) as configured, unquoted.
   */
  idAsText(expr: string, table: string): string;
  /**
   * Optional: how a user's id is read, where the driver's value of the key column is not the text idAsText gives
   * (PostgreSQL hands a char(n) key over blank-padded, and its cast to text drops the padding). The profile's user_id,
   * the marks and ledger rows written with it, and the joins that read them must all be one text. Absent: the value.
   */
  idValue?(expr: string): string;
  /**
   * INSERT that does nothing when the key already exists: one row (`values`: its placeholders) or several (`values`:
   * one array of placeholders per row, keys distinct).
   */
  insertIfAbsent(table: string, columns: string[], values: string[] | string[][], key: string): string;
  /**
   * Optional: insert-if-absent of many rows in one statement that binds one array per column (PostgreSQL's unnest),
   * rather than a VALUES list with a placeholder per value: far less to parse and bind. `types`: each column's type.
   */
  insertArraysIfAbsent?(table: string, columns: string[], types: string[], key: string): string;
  /** The UTC calendar day of a timestamp expression, as 'YYYY-MM-DD' text (migration marks per day). */
  day(expr: string): string;
  /** Optional: a stored time as something that compares as an instant (SQLite keeps times as text). Default: as is. */
  instant?(expr: string): string;
  /** The driver error means "no such table" (the export ledger was never created). */
  isMissingTable(e: unknown): boolean;
  /** Wrap a SELECT so it returns at most n rows. */
  limit(select: string, n: number): string;
  /** Timestamp value to bind for "now". */
  timestamp(d: Date): unknown;
  /** The driver error means "this value can't be compared with that column" (e.g. 'abc' for an integer key). */
  isInvalidInput?(e: unknown): boolean;
  /**
   * The driver error means "this text can't be held in that column's character set" (Cyrillic against a latin1
   * column: MySQL's illegal mix of collations, PostgreSQL's untranslatable character). Such a login names nobody;
   * it is never a store failure.
   */
  isUnrepresentable?(e: unknown): boolean;
  /**
   * The driver error is a unique-key violation. Where insertIfAbsent can still lose a race to a concurrent insert
   * of the same key (Oracle's MERGE), that error means "already marked".
   */
  isDuplicateKey?(e: unknown): boolean;
  /** The health-check query, where 'SELECT 1 AS ok' is not valid SQL (Oracle before 23ai needs FROM dual). */
  pingSql?: string;
}

export type MappingConfig = Pick<Config['store'], 'users' | 'migration'> & Partial<Pick<Config['store'], 'queries' | 'adapter' | 'url'>>;

/** The driver-facing part of an adapter. */
export interface SqlDriver {
  dialect: Dialect;
  all(sql: string, params: unknown[]): Promise<Row[]>;
  run(sql: string, params: unknown[]): Promise<number>;
  close(): Promise<void>;
  /** The connection pool's state, for drivers with a pool (the /metrics pool gauge). */
  poolStats?(): PoolStats;
}

/** Logical field → alias in the result set. */
const FIELD_KEYS = {
  id: 'id',
  email: 'email',
  username: 'username',
  password: 'password',
  salt: 'salt',
  password_scheme: 'password_scheme',
  email_verified: 'email_verified',
  name: 'name',
  given_name: 'given_name',
  family_name: 'family_name',
  nickname: 'nickname',
  picture: 'picture',
  blocked: 'blocked',
  active: 'active',
  locked_until: 'locked_until',
  last_login: 'last_login',
} as const;

type LoginKey = 'email' | 'username';
const LOGIN_KEYS: readonly LoginKey[] = ['email', 'username'];

/** Rows per page when scanning (keyset pagination on the primary key). */
const SCAN_PAGE = 500;
/** At most this many distinct user SELECT texts are kept (userSelect); a further one is built per call. */
const MAX_CACHED_SELECTS = 32;
/**
 * Ledger rows per INSERT: two bound values each (within SQL Server's 2,100 parameters), or two bound arrays (no such
 * limit: one statement, so one commit, for a whole call of up to LEDGER_ARRAY_BATCH ids).
 */
export const LEDGER_BATCH = 500;
export const LEDGER_ARRAY_BATCH = 10_000;
const DAY_MS = 86_400_000;

/** A valid Date, or undefined (MySQL's zero date '0000-00-00' arrives as an invalid Date). */
function validDate(v: Date): Date | undefined {
  return Number.isNaN(v.getTime()) ? undefined : v;
}

function toIso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return instantIso(v) ?? null;
  // A value that is not a date is still a mark (someone wrote it): keep it as text rather than lose it.
  return instantIso(v) ?? String(v);
}

/** A driver error's code (never its message, which may quote values). */
function errorCode(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : typeof code === 'number' ? String(code) : 'error';
}

function str(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

/** One row of placeholders, or several, as a VALUES list: "(a, b)" or "(a, b), (c, d)". */
export function valuesList(values: string[] | string[][]): string {
  const rows = values.length > 0 && Array.isArray(values[0]) ? (values as string[][]) : [values as string[]];
  return rows.map((r) => `(${r.join(', ')})`).join(', ');
}

/** The configured login columns, each with the table it belongs to (an alias.column names a joined table). */
export function loginColumns(users: MappingConfig['users']): LoginColumn[] {
  const out: LoginColumn[] = [];
  for (const key of ['email', 'username'] as const) {
    const ref = users.columns[key];
    if (!ref) continue;
    const dot = ref.indexOf('.');
    if (dot < 0) out.push({ key, table: users.table ?? '', column: ref });
    else {
      const j = users.joins.find((x) => x.alias === ref.slice(0, dot));
      if (j) out.push({ key, table: j.table, column: ref.slice(dot + 1) });
    }
  }
  return out;
}

/**
 * The name check prints for a login column's index: `lg_lower_<table>_<email|username>`, so that two tables in one
 * schema (a store's customers and its staff, each behind its own gateway) never print the same name. Where schema
 * object names are short (Oracle before 12.2: 30 bytes), a longer one ends in a hash of the table's name instead.
 */
export function loginIndexName(col: LoginColumn, max = 30): string {
  const table = col.table.slice(col.table.lastIndexOf('.') + 1);
  const name = `lg_lower_${table}_${col.key}`;
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(col.table).digest('hex').slice(0, 8);
  return `lg_lower_${col.key}_${hash}`;
}

/**
 * The rows of a lookup asked in parts (a UNION ALL, or each login column alone), each row once: the same row found
 * through its email and through its username is one candidate. Only rows equal in every column are one: two rows of
 * one user that differ (two joined profile rows, two applications' memberships) stay two, as a single SELECT returns
 * them, and the rule decides. With CANDIDATE_LIMIT rows or more, a part may have been cut at its limit: nothing is
 * merged, so that the set still reads as "more than the limit" (ambiguous, fail closed).
 */
export function sameRowOnce(rows: Row[]): Row[] {
  if (rows.length >= CANDIDATE_LIMIT) return rows;
  // Dates and Buffers serialise through their toJSON; bigints (which JSON refuses) as text.
  const key = (r: Row) => JSON.stringify(Object.values(r), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = key(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Reads the server facts a dialect depends on (PostgreSQL's ICU folding, MySQL/MariaDB's column collations) and
 * returns the dialect for them. It throws only when the server can't be asked (down, starting up); facts the server
 * refuses to give are a dialect with the safe defaults.
 */
export type LearnDialect = () => Promise<Dialect>;

export class SqlUserStore implements UserStore {
  private d: Dialect;
  private readonly users: string;
  private readonly side: string | null;
  private readonly migColumn: string | null;
  /** The export ledger (gateway-owned): its name as configured, and quoted. */
  private readonly ledgerName: string;
  private readonly ledger: string;
  /** The mapped columns (base) and, in side-table mode, the mark joined on the side table's primary key (read). */
  private readonly baseSelect: string;
  private readonly selectList: string;
  private readonly fromClause: string;
  private readFrom: string;
  private readonly logins: Map<string, LoginColumn>;
  /** " AND <filters>" (or ""), with its bound values. */
  private readonly filterSql: string;
  private readonly filterParams: unknown[];
  /** Which database this is (adapter, host, port, database; no credentials), for connection errors. */
  private readonly target: DbTarget | null;
  /** The lookup SELECTs built so far, by limit and condition (userSelect: MySQL's spellings vary the condition). */
  private readonly selects = new Map<string, string>();
  /** findById's SELECT, built at its first call. */
  private byIdSql: string | undefined;
  /** findCandidates' statement per set of login columns and its parts' login marks, where it does not depend on the login. */
  private readonly fixedLogin = new Map<string, { sql: string; marks: number[] }>();
  /** The login columns configured (email, username, or both), in that order. */
  private readonly loginKeys: LoginKey[];
  /** filtersComparable's verdict, once asked (a rejection with a StoreError: a filter value the column can't hold). */
  private filtersChecked: Promise<void> | undefined;

  /**
   * `learn`: the store opened while its server could not be asked for the facts its dialect depends on, and runs on a
   * provisional dialect (plain lower(), no collations: lookups that no index serves). The first operation that finds
   * the server up learns them before it builds any SQL (relearn). Without this, a gateway started before its
   * database (a container starting beside it) would scan on every lookup for its whole life.
   */
  constructor(
    private readonly driver: SqlDriver,
    private readonly mapping: MappingConfig,
    private learn?: LearnDialect,
  ) {
    this.d = driver.dialect;
    this.target = mapping.adapter ? storeTarget(mapping.adapter, mapping.url) : null;
    const q = (name: string) => name.split('.').map((p) => this.d.quoteIdent(p)).join('.');
    if (!mapping.users.table || !mapping.users.columns.password) throw new StoreError('store.users.table and columns.password are required', { transient: false });
    this.users = q(mapping.users.table);
    const cols = mapping.users.columns;
    const migration = mapping.migration;
    this.migColumn = 'column' in migration ? migration.column : null;
    this.side = 'table' in migration ? q(migration.table) : null;
    this.ledgerName = exportsTable(migration);
    this.ledger = q(this.ledgerName);

    const parts: string[] = [];
    for (const [key, alias] of Object.entries(FIELD_KEYS)) {
      const col = cols[key as keyof typeof cols];
      if (col) parts.push(`${key === 'id' && this.d.idValue ? this.d.idValue(this.ref(col)) : this.ref(col)} AS ${this.d.quoteIdent(`f_${alias}`)}`);
    }
    mapping.users.app_metadata.forEach((col, i) => parts.push(`${this.ref(col)} AS ${this.d.quoteIdent(`a_${i}`)}`));
    mapping.users.user_metadata.forEach((col, i) => parts.push(`${this.ref(col)} AS ${this.d.quoteIdent(`m_${i}`)}`));
    if (this.migColumn) parts.push(`u.${this.d.quoteIdent(this.migColumn)} AS ${this.d.quoteIdent('f_migrated_at')}`);
    this.baseSelect = parts.join(', ');
    const mark = this.d.quoteIdent(MARK_ALIAS);
    if (mapping.users.joins.some((j) => j.alias === MARK_ALIAS)) throw new StoreError(`store.users.joins: the alias ${MARK_ALIAS} is reserved`, { transient: false });
    this.selectList = this.side ? `${this.baseSelect}, ${mark}.migrated_at AS ${this.d.quoteIdent('f_migrated_at')}` : this.baseSelect;
    this.logins = new Map(loginColumns(mapping.users).map((c) => [c.key, c]));
    this.loginKeys = LOGIN_KEYS.filter((k) => !!cols[k]);

    let from = `${this.users} u`;
    for (const j of mapping.users.joins) {
      const on = Object.entries(j.on).map(([left, right]) => `${this.ref(left)} = ${this.d.quoteIdent(j.alias)}.${this.d.quoteIdent(right)}`);
      from += ` ${j.type === 'left' ? 'LEFT JOIN' : 'JOIN'} ${q(j.table)} ${this.d.quoteIdent(j.alias)} ON ${on.join(' AND ')}`;
    }
    this.fromClause = from;
    this.readFrom = this.markedFrom();

    // Filters bind their values after every query's own parameters, so numbering is done per query (see where()).
    this.filterParams = [];
    const conds: string[] = [];
    for (const f of mapping.users.filter) {
      const c = this.ref(f.column);
      if (f.op === 'is_null') conds.push(`${c} IS NULL`);
      else if (f.op === 'is_not_null') conds.push(`${c} IS NOT NULL`);
      else {
        this.filterParams.push(f.value);
        conds.push(`${c} ${f.op} \u0000`);
      }
    }
    this.filterSql = conds.join(' AND ');
  }

  /** The FROM clause with, in side-table mode, the mark joined on the side table's primary key (user_id, text): one round trip per lookup. */
  private markedFrom(): string {
    const m = this.mapping.migration;
    if (!('table' in m)) return this.fromClause;
    const mark = this.d.quoteIdent(MARK_ALIAS);
    return `${this.fromClause} LEFT JOIN ${this.side} ${mark} ON ${mark}.user_id = ${this.d.idAsText(this.ref(this.mapping.users.columns.id), m.table)}`;
  }

  /**
   * The dialect is provisional (see the constructor): ask the server now. Learned: the SQL built so far is dropped and
   * every later statement is built with the server's facts. `learn` throws only when the server could not be asked:
   * that is this operation's failure (it could not have run anyway), and the next operation asks again.
   */
  private async relearn(learn: LearnDialect): Promise<void> {
    const d = await learn();
    this.learn = undefined;
    this.d = d;
    this.driver.dialect = d;
    this.selects.clear();
    this.fixedLogin.clear();
    this.byIdSql = undefined;
    this.readFrom = this.markedFrom();
  }

  /** "col" → u."col"; "alias.col" → "alias"."col" (aliases are validated against the joins at start-up). */
  private ref(column: string): string {
    const dot = column.indexOf('.');
    if (dot < 0) return `u.${this.d.quoteIdent(column)}`;
    return `${this.d.quoteIdent(column.slice(0, dot))}.${this.d.quoteIdent(column.slice(dot + 1))}`;
  }

  private keyParam(n: number): string {
    return this.d.keyParam ? this.d.keyParam(n) : this.d.param(n);
  }

  private col(key: keyof MappingConfig['users']['columns']): string | null {
    const c = this.mapping.users.columns[key];
    return c ? this.ref(c) : null;
  }

  /**
   * The WHERE clause for a query whose own condition uses `own` bound values: filters are numbered after them (and
   * after `offset` values bound before this part of the statement).
   */
  private where(cond: string | null, own: unknown[], offset = 0): { sql: string; params: unknown[] } {
    let n = offset + own.length;
    const filters = this.filterSql.replace(/\u0000/g, () => this.d.param(++n));
    const all = [cond, filters].filter((c): c is string => !!c);
    return { sql: all.length ? ` WHERE ${all.map((c) => `(${c})`).join(' AND ')}` : '', params: [...own, ...this.filterParams] };
  }

  /**
   * The user SELECT for a condition on `own` leading parameters, then the filters' (whose values follow them), at
   * most `limit` rows. Built once per condition: a lookup's SQL differs only in how many spellings a login has (MySQL's
   * sign spellings), so the few texts there are are kept, not rebuilt per request (the select list is long).
   */
  private userSelect(cond: string, own: number, limit: number, offset = 0): string {
    const key = `${limit} ${offset} ${cond}`;
    let sql = this.selects.get(key);
    if (sql === undefined) {
      sql = this.d.limit(`SELECT ${this.selectList} FROM ${this.readFrom}${this.where(cond, new Array<unknown>(own), offset).sql}`, limit);
      if (this.selects.size < MAX_CACHED_SELECTS) this.selects.set(key, sql);
    }
    return sql;
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.learn) await this.relearn(this.learn);
      return await fn();
    } catch (e) {
      if (e instanceof StoreError) throw e;
      // A connection-level error names the database, the driver's code and message, and a hint (src/dbhints.ts).
      if (this.target && isConnectionError(e)) throw new StoreError(`${what} failed: ${this.connectionError(e)}`, { cause: e });
      // Never echo driver messages that might contain values; keep the driver's code only.
      const code = (e as { code?: unknown }).code;
      throw new StoreError(`${what} failed${typeof code === 'string' ? ` (${code})` : ''}`, { cause: e });
    }
  }

  /** A connection failure as an operator reads it: which database, the driver's code and message, a hint. */
  private connectionError(e: unknown): string {
    return this.target ? describeConnectionError(this.target, e, this.mapping.url) : errorCode(e);
  }

  toUser(row: Row): LegacyUser {
    // Metadata keys are the column names (without a join alias).
    const meta = (prefix: string, columns: string[]) =>
      Object.fromEntries(
        columns.flatMap((c, i) => {
          const v = row[`${prefix}${i}`];
          const key = c.slice(c.indexOf('.') + 1);
          if (v === null || v === undefined) return [];
          if (v instanceof Date) return validDate(v) ? [[key, v.toISOString()]] : [];
          return [[key, Buffer.isBuffer(v) ? v.toString('utf8') : v]];
        }),
      );
    return {
      id: String(row.f_id),
      email: str(row.f_email),
      username: str(row.f_username),
      password: str(row.f_password),
      salt: str(row.f_salt),
      passwordScheme: str(row.f_password_scheme),
      emailVerified: row.f_email_verified ?? undefined,
      name: str(row.f_name),
      givenName: str(row.f_given_name),
      familyName: str(row.f_family_name),
      nickname: str(row.f_nickname),
      picture: str(row.f_picture),
      blocked: row.f_blocked ?? undefined,
      active: row.f_active ?? undefined,
      lockedUntil: row.f_locked_until ?? undefined,
      appMetadata: meta('a_', this.mapping.users.app_metadata),
      userMetadata: meta('m_', this.mapping.users.user_metadata),
      migratedAt: toIso(row.f_migrated_at),
      lastLogin: instantIso(row.f_last_login),
    };
  }

  /**
   * Side-table mode, configured queries only (store.queries): read the marks for these users with their canonical ids
   * as bound values. Generated queries join the mark instead (readFrom).
   */
  private async withMarks(users: LegacyUser[]): Promise<LegacyUser[]> {
    if (!this.side || users.length === 0) return users;
    const ids = users.map((u) => u.id);
    const sql = `SELECT user_id, migrated_at FROM ${this.side} WHERE user_id IN (${ids.map((_, i) => this.d.param(i + 1)).join(', ')})`;
    const rows = await this.guard('migration marks', () => this.driver.all(sql, ids));
    const marks = new Map(rows.map((r) => [String(r.user_id), toIso(r.migrated_at)]));
    for (const u of users) u.migratedAt = marks.get(u.id) ?? null;
    return users;
  }

  /**
   * A configured query (store.queries) with :name parameters bound, never spliced. Its result columns use the
   * logical names (id, email, username, password, ...), which are mapped like generated queries' columns.
   */
  private async named(sql: string, values: Record<string, unknown>): Promise<Row[]> {
    const rows = await this.runNamed(sql, values);
    return rows.map((r) => {
      const out: Row = {};
      for (const [k, v] of Object.entries(r)) {
        const key = k.toLowerCase();
        if (key in FIELD_KEYS) out[`f_${key}`] = v;
        else if (key === 'migrated_at') out.f_migrated_at = v;
      }
      return out;
    });
  }

  /** A configured query with its :name parameters bound; the rows as the driver returns them. */
  private async runNamed(sql: string, values: Record<string, unknown>): Promise<Row[]> {
    const params: unknown[] = [];
    const text = sql.replace(/(?<!:):([A-Za-z_][A-Za-z0-9_]*)/g, (m, name: string) => {
      if (!(name in values)) return m;
      params.push(values[name]);
      return this.d.param(params.length);
    });
    return this.driver.all(text, params);
  }

  /**
   * For `check`: run store.queries.<name> once with this value bound (:login lower-cased as the lookups bind it): how
   * many rows, and the first (column names lower-cased). Failures are a StoreError naming the query.
   */
  async tryNamedQuery(name: 'find_by_login' | 'find_by_id', value: string): Promise<{ rows: number; first: Row | undefined }> {
    const sql = this.mapping.queries?.[name];
    if (!sql) throw new StoreError(`store.queries.${name} is not configured`, { transient: false });
    const rows = await this.guard(`store.queries.${name}`, () => this.runNamed(sql, name === 'find_by_login' ? { login: normaliseLogin(value) } : { id: value }));
    const first = rows[0] ? Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k.toLowerCase(), v])) : undefined;
    return { rows: rows.length, first };
  }

  /** For `check`: one id from the users table itself (when the mapped scan can't run), or undefined. */
  async anyId(): Promise<string | undefined> {
    const [row] = await this.guard('sample id', () => this.driver.all(this.d.limit(`SELECT ${this.col('id')} AS ${this.d.quoteIdent('id')} FROM ${this.users} u`, 1), []));
    return row && row.id !== null && row.id !== undefined ? String(row.id) : undefined;
  }

  /**
   * The lookup's condition on these login columns, with one bound value per mark (more than one: MySQL's spellings),
   * numbered after `offset` values bound before it.
   */
  private loginCondition(needle: string, keys: readonly LoginKey[], offset: number): { cond: string; values: string[] } {
    const conds: string[] = [];
    const values: string[] = [];
    for (const key of keys) {
      const c = this.col(key)!;
      const lc = this.logins.get(key);
      const l = (lc && this.d.loginLookup?.(c, lc, needle)) || keyEquals(lc ? this.d.loginKey(c, lc) : this.d.lower(c), [needle]);
      const marks = l.values.map((v) => {
        values.push(v);
        return this.keyParam(offset + values.length);
      });
      conds.push(l.where(marks));
    }
    return { cond: conds.join(' OR '), values };
  }

  /**
   * The lookup's statement on these login columns: its SQL, and how many login marks each part binds before the
   * filters' values. Columns of one table are one SELECT (`email = ? OR username = ?`, which an index on each serves).
   * Columns in different tables (a login column in a joined table: ASP.NET's aspnet_Membership.Email beside
   * aspnet_Users.UserName) are one SELECT each, joined by UNION ALL: an OR across two tables can't use either index,
   * and every lookup would scan. A row found by both parts comes twice (findCandidates keeps it once: sameRowOnce).
   */
  private lookupStatement(needle: string, keys: readonly LoginKey[]): { sql: string; values: string[]; marks: number[] } {
    const parts: string[] = [];
    const values: string[] = [];
    const marks: number[] = [];
    let offset = 0;
    for (const group of this.byTable(keys)) {
      const c = this.loginCondition(needle, group, offset);
      parts.push(this.userSelect(c.cond, c.values.length, CANDIDATE_LIMIT, offset));
      values.push(...c.values);
      marks.push(c.values.length);
      offset += c.values.length + this.filterParams.length;
    }
    const sql = parts.length === 1 ? parts[0]! : parts.map((p, i) => `SELECT * FROM (${p}) ${this.d.quoteIdent(`lg_part${i}`)}`).join(' UNION ALL ');
    return { sql, values, marks };
  }

  /** The login columns grouped by the table (alias) they are read from: u, or a join's alias. */
  private byTable(keys: readonly LoginKey[]): LoginKey[][] {
    const groups = new Map<string, LoginKey[]>();
    for (const key of keys) {
      const ref = this.mapping.users.columns[key]!;
      const alias = ref.includes('.') ? ref.slice(0, ref.indexOf('.')) : 'u';
      groups.set(alias, [...(groups.get(alias) ?? []), key]);
    }
    return [...groups.values()];
  }

  /** The SQL and bound values of a lookup of `needle` on these login columns. */
  private lookupQuery(needle: string, keys: readonly LoginKey[]): { sql: string; params: unknown[]; parts: number } {
    if (this.d.loginLookup) {
      const s = this.lookupStatement(needle, keys);
      return { sql: s.sql, params: this.bindParts(s.marks, (n) => s.values[n]!), parts: s.marks.length };
    }
    // Without spellings (every dialect but MySQL's), the statement is the same for every login: built once per set
    // of columns, and each of its marks takes the login itself.
    const k = keys.join(' ');
    let fixed = this.fixedLogin.get(k);
    if (!fixed) {
      const s = this.lookupStatement('', keys);
      fixed = { sql: s.sql, marks: s.marks };
      this.fixedLogin.set(k, fixed);
    }
    return { sql: fixed.sql, params: this.bindParts(fixed.marks, () => needle), parts: fixed.marks.length };
  }

  /** The bound values of a statement in parts: each part's login marks (the n-th from `value(n)`), then the filters'. */
  private bindParts(marks: number[], value: (n: number) => string): unknown[] {
    const params: unknown[] = [];
    let n = 0;
    for (const m of marks) {
      for (let i = 0; i < m; i++) params.push(value(n++));
      params.push(...this.filterParams);
    }
    return params;
  }

  async findCandidates(login: string): Promise<LegacyUser[]> {
    const needle = normaliseLogin(login);
    const custom = this.mapping.queries?.find_by_login;
    return this.guard('findByLogin', async () => {
      if (custom) {
        try {
          return await this.withMarks((await this.named(custom, { login: needle })).slice(0, CANDIDATE_LIMIT).map((r) => this.toUser(r)));
        } catch (e) {
          if (this.d.isUnrepresentable?.(e)) return [];
          throw e;
        }
      }
      if (this.loginKeys.length === 0) return [];
      const ask = async (keys: readonly LoginKey[]) => {
        const q = this.lookupQuery(needle, keys);
        return { rows: await this.driver.all(q.sql, q.params), parts: q.parts };
      };
      let rows: Row[];
      let parts: number;
      try {
        ({ rows, parts } = await ask(this.loginKeys));
      } catch (e) {
        // A login a column's character set can't hold (Cyrillic against latin1) names nobody there: not an outage.
        // The other login column may hold it (a utf8mb4 username beside a latin1 email), so each is asked alone.
        if (!this.d.isUnrepresentable?.(e)) throw e;
        await this.filtersComparable();
        rows = [];
        parts = this.loginKeys.length;
        if (parts > 1) {
          for (const key of this.loginKeys) {
            try {
              rows.push(...(await ask([key])).rows);
            } catch (e2) {
              if (!this.d.isUnrepresentable?.(e2)) throw e2;
            }
          }
        }
      }
      return (parts > 1 ? sameRowOnce(rows) : rows).map((r) => this.toUser(r));
    });
  }

  /**
   * An "unrepresentable" error may come from a filter's value rather than the login (a Cyrillic value against a
   * latin1 column): that is the configuration's fault, for every login, and must not read as "names nobody". Asked
   * once, on the first such error: the filters alone, with their values.
   */
  private filtersComparable(): Promise<void> {
    if (!this.filterSql) return Promise.resolve();
    this.filtersChecked ??= (async () => {
      const w = this.where(null, []);
      try {
        await this.driver.all(this.d.limit(`SELECT 1 AS ${this.d.quoteIdent('ok')} FROM ${this.fromClause}${w.sql}`, 1), w.params);
      } catch (e) {
        if (!this.d.isUnrepresentable?.(e)) throw e;
        throw new StoreError("store.users.filter: a filter's value can't be compared with its column (the column's character set can't hold it)", { transient: false });
      }
    })();
    // A failure other than the verdict (the connection) is asked again next time.
    this.filtersChecked.catch((e) => {
      if (!(e instanceof StoreError)) this.filtersChecked = undefined;
    });
    return this.filtersChecked;
  }

  async findById(id: string): Promise<LegacyUser | null> {
    const custom = this.mapping.queries?.find_by_id;
    const rows = await this.guard('findById', async () => {
      try {
        if (custom) return await this.named(custom, { id });
        // The same text for every id: built once, not looked up by a key made per call.
        const sql = (this.byIdSql ??= this.userSelect(`${this.col('id')} = ${this.keyParam(1)}`, 1, 2));
        return await this.driver.all(sql, [id, ...this.filterParams]);
      } catch (e) {
        if (!this.d.isInvalidInput?.(e)) throw e;
        if (this.d.isUnrepresentable?.(e)) await this.filtersComparable();
        return [];
      }
    });
    // user_id is canonical: '01', '1abc' or ' 1' do not name user 1, whatever the engine's coercion rules.
    const row = rows.find((r) => String(r.f_id) === id);
    if (!row) return null;
    if (!custom) return this.toUser(row);
    const [user] = await this.withMarks([this.toUser(row)]);
    return user!;
  }

  async markMigrated(id: string): Promise<string | null> {
    const user = await this.findById(id);
    if (!user) return null;
    if (user.migratedAt) return user.migratedAt;
    const now = this.d.timestamp(new Date());
    await this.guard('markMigrated', async () => {
      if (this.migColumn) {
        const m = this.d.quoteIdent(this.migColumn);
        await this.driver.run(
          `UPDATE ${this.users} SET ${m} = ${this.d.param(1)} WHERE ${this.d.quoteIdent(this.mapping.users.columns.id)} = ${this.d.param(2)} AND ${m} IS NULL`,
          [now, user.id],
        );
      } else {
        try {
          await this.driver.run(
            this.d.insertIfAbsent(this.side!, ['user_id', 'migrated_at'], [this.d.param(1), this.d.param(2)], 'user_id'),
            [user.id, now],
          );
        } catch (e) {
          // A concurrent mark of the same user won the race: the read-back below returns its timestamp.
          if (!this.d.isDuplicateKey?.(e)) throw e;
        }
      }
    });
    // Read back: under concurrent marks, the first writer's timestamp is the one that stays.
    const after = await this.findById(id);
    return after?.migratedAt ?? null;
  }

  async unmarkMigrated(id: string): Promise<boolean> {
    const user = await this.findById(id);
    if (!user) return false;
    await this.guard('unmarkMigrated', async () => {
      if (this.migColumn) {
        await this.driver.run(
          `UPDATE ${this.users} SET ${this.d.quoteIdent(this.migColumn)} = NULL WHERE ${this.d.quoteIdent(this.mapping.users.columns.id)} = ${this.d.param(1)}`,
          [user.id],
        );
      } else {
        await this.driver.run(`DELETE FROM ${this.side} WHERE user_id = ${this.d.param(1)}`, [user.id]);
      }
    });
    return true;
  }

  /**
   * Does the export ledger exist? One statement that reads no row: "no such table" (the engine's own error code) means
   * absent; any other failure (the connection, a ledger without its columns) is a StoreError.
   */
  private async ledgerExists(): Promise<boolean> {
    try {
      await this.driver.all(`SELECT user_id, exported_at FROM ${this.ledger} WHERE 1 = 0`, []);
      return true;
    } catch (e) {
      if (this.d.isMissingTable(e)) return false;
      throw e;
    }
  }

  /**
   * Counted by the database in one aggregate statement (after the ledger probe): the users (with the configured joins
   * and filters) LEFT JOINed to their mark (side-table mode) and to their export-ledger row, both on primary keys,
   * grouped by the mark's UTC day. The group without a mark holds the users not migrated; the others are the marks
   * per day. Side-table marks count only for users that exist (and pass the filters). Without the ledger table,
   * exported is null; without columns.last_login, activeRemaining is null. The cut-off times are bound values.
   */
  async migrationStatus(): Promise<MigrationStatus> {
    const q = (p: string) => this.d.quoteIdent(p);
    const mark = this.migColumn ? `u.${q(this.migColumn)}` : `${q(MARK_ALIAS)}.user_id`;
    const markTime = this.migColumn ? mark : `${q(MARK_ALIAS)}.migrated_at`;
    const x = `${q(LEDGER_ALIAS)}.user_id`;
    const lastLogin = this.col('last_login');
    const instant = (e: string) => this.d.instant?.(e) ?? e;
    const rows = await this.guard('migrationStatus', async () => {
      const ledger = await this.ledgerExists();
      const day = this.d.day(markTime);
      const cols = [`${day} AS mark_day`, 'COUNT(*) AS total', `COUNT(${mark}) AS migrated`];
      if (ledger) cols.push(`COUNT(CASE WHEN ${mark} IS NULL THEN ${x} END) AS exported`);
      const own: unknown[] = [];
      if (lastLogin) {
        const now = Date.now();
        const remaining = `${mark} IS NULL${ledger ? ` AND ${x} IS NULL` : ''}`;
        for (const days of [30, 90]) {
          own.push(this.d.timestamp(new Date(now - days * DAY_MS)));
          cols.push(`COUNT(CASE WHEN ${remaining} AND ${instant(lastLogin)} >= ${instant(this.d.param(own.length))} THEN 1 END) AS active${days}`);
        }
      }
      const join = ledger ? ` LEFT JOIN ${this.ledger} ${q(LEDGER_ALIAS)} ON ${x} = ${this.d.idAsText(this.col('id')!, this.ledgerName)}` : '';
      const w = this.where(null, own);
      const found = await this.driver.all(`SELECT ${cols.join(', ')} FROM ${this.readFrom}${join}${w.sql} GROUP BY ${day}`, w.params);
      return { ledger, found };
    });
    const n = (v: unknown) => Number(v ?? 0);
    const sum = (key: string) => rows.found.reduce((a, r) => a + n(r[key]), 0);
    const perDay = rows.found
      .filter((r) => r.mark_day !== null && r.mark_day !== undefined)
      .map((r) => ({ day: String(r.mark_day).trim(), count: n(r.migrated) }))
      .sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
    const total = sum('total');
    const migrated = sum('migrated');
    const exported = rows.ledger ? sum('exported') : null;
    return {
      total,
      migrated,
      exported,
      remaining: Math.max(0, total - migrated - (exported ?? 0)),
      perDay,
      activeRemaining: lastLogin ? { days30: sum('active30'), days90: sum('active90') } : null,
    };
  }

  /**
   * The export ledger: these users were written to a bulk-export file. Insert-if-absent (a repeat keeps the first
   * time), every value bound, LEDGER_BATCH rows per statement (LEDGER_ARRAY_BATCH where the dialect binds arrays),
   * keys in one order (so that two exports at once lock rows in the same order rather than deadlock). A concurrent
   * export of the same users can make Oracle's MERGE lose the race (ORA-00001): the statement is then run again and
   * skips the rows the other one wrote.
   */
  async markExported(ids: string[]): Promise<void> {
    const unique = [...new Set(ids.map(String))].sort();
    const now = this.d.timestamp(new Date());
    const cols = ['user_id', 'exported_at'];
    const arrays = this.d.insertArraysIfAbsent?.(this.ledger, cols, ['text', 'timestamptz'], 'user_id');
    const size = arrays ? LEDGER_ARRAY_BATCH : LEDGER_BATCH;
    await this.guard('markExported', async () => {
      for (let i = 0; i < unique.length; i += size) {
        const batch = unique.slice(i, i + size);
        const sql = arrays ?? this.d.insertIfAbsent(this.ledger, cols, batch.map((_, j) => [this.d.param(2 * j + 1), this.d.param(2 * j + 2)]), 'user_id');
        const params = arrays ? [batch, batch.map(() => now)] : batch.flatMap((id) => [id, now]);
        for (let attempt = 1; ; attempt++) {
          try {
            await this.driver.run(sql, params);
            break;
          } catch (e) {
            if (this.d.isMissingTable(e)) {
              throw new StoreError(`markExported failed: the export ledger table ${this.ledgerName} does not exist (legacy-gateway check prints its CREATE TABLE)`, { cause: e, transient: false });
            }
            if (!this.d.isDuplicateKey?.(e) || attempt === 3) throw e;
          }
        }
      }
    });
  }

  /** Every user in primary-key order, a page at a time (keyset pagination: no long-lived cursor or transaction). */
  async *scan(): AsyncIterable<LegacyUser> {
    const id = this.col('id');
    const page = (after: unknown) => {
      const w = after === undefined ? this.where(null, []) : this.where(`${id} > ${this.d.param(1)}`, [after]);
      return this.driver.all(this.d.limit(`SELECT ${this.selectList} FROM ${this.readFrom}${w.sql} ORDER BY ${id}`, SCAN_PAGE), w.params);
    };
    let last: unknown = undefined;
    for (;;) {
      const rows = await this.guard('scan', () => page(last));
      for (const r of rows) yield this.toUser(r);
      if (rows.length < SCAN_PAGE) return;
      last = rows[rows.length - 1]!.f_id;
    }
  }

  /**
   * For `legacy-gateway check`: does every configured table and column exist? Each one is probed on its own with
   * a query that returns no rows, so a report names exactly what is missing.
   */
  async probe(): Promise<ProbeResult[]> {
    try {
      await this.driver.all(this.d.pingSql ?? 'SELECT 1 AS ok', []);
      // The server answers: its facts (and so check's index advice) are the server's, not the provisional ones.
      if (this.learn) await this.relearn(this.learn);
    } catch (e) {
      return [{ what: 'connection', ok: false, error: this.connectionError(e), connection: true }];
    }
    const q = (name: string) => name.split('.').map((p) => this.d.quoteIdent(p)).join('.');
    const checks: [string, string][] = [[`table ${this.mapping.users.table}`, `SELECT 1 AS ok FROM ${this.users} u WHERE 1 = 0`]];
    for (const j of this.mapping.users.joins) checks.push([`joined table ${j.table}`, `SELECT 1 AS ok FROM ${q(j.table)} ${this.d.quoteIdent(j.alias)} WHERE 1 = 0`]);
    const cols = this.mapping.users.columns;
    for (const [key, col] of Object.entries(cols)) {
      if (col) checks.push([`columns.${key} (${col})`, `SELECT ${this.ref(col)} FROM ${this.fromClause} WHERE 1 = 0`]);
    }
    for (const col of [...this.mapping.users.app_metadata, ...this.mapping.users.user_metadata]) {
      checks.push([`metadata column ${col}`, `SELECT ${this.ref(col)} FROM ${this.fromClause} WHERE 1 = 0`]);
    }
    for (const f of this.mapping.users.filter) checks.push([`filter column ${f.column}`, `SELECT ${this.ref(f.column)} FROM ${this.fromClause} WHERE 1 = 0`]);
    if (this.migColumn) checks.push([`migration column ${this.migColumn}`, `SELECT u.${this.d.quoteIdent(this.migColumn)} FROM ${this.users} u WHERE 1 = 0`]);
    if (this.side) checks.push([`migration table ${'table' in this.mapping.migration ? this.mapping.migration.table : ''}`, `SELECT user_id, migrated_at FROM ${this.side} WHERE 1 = 0`]);
    const out: ProbeResult[] = [];
    for (const [what, sql] of checks) {
      try {
        await this.driver.all(sql, []);
        out.push({ what, ok: true });
      } catch (e) {
        out.push({ what, ok: false, error: errorCode(e) });
      }
    }
    // The export ledger: reported, never a reason to refuse serving (only export and status use it).
    const what = `export ledger table ${this.ledgerName}`;
    try {
      out.push({ what, ok: true, optional: true, ...((await this.ledgerExists()) ? {} : { absent: true }) });
    } catch (e) {
      out.push({ what, ok: true, optional: true, error: errorCode(e) });
    }
    return out;
  }

  /** The dialect as the store uses it (for check's index advice: the same decisions as the queries). */
  get dialect(): Dialect {
    return this.d;
  }

  /** Read-only introspection for `check` (privileges); never reachable from the HTTP API. */
  async introspect(sql: string, params: unknown[] = []): Promise<Row[]> {
    return this.guard('introspect', () => this.driver.all(sql, params));
  }

  /**
   * Readiness: the connection AND the configured mapping. The users query's own select list, joins and filters,
   * and the migration side table, each with a condition that reads no row; any missing table or column fails it.
   */
  async ping(): Promise<void> {
    await this.guard('ping', async () => {
      const w = this.where('1 = 0', []);
      await this.driver.all(`SELECT ${this.selectList} FROM ${this.readFrom}${w.sql}`, w.params);
      if (this.side) await this.driver.all(`SELECT user_id, migrated_at FROM ${this.side} WHERE 1 = 0`, []);
    });
  }

  poolStats(): PoolStats | undefined {
    return this.driver.poolStats?.();
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
