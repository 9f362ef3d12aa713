/**
 * Shared SQL for every relational adapter. A dialect supplies only what really differs
 * (identifier quoting, placeholders, text casts, case folding, insert-if-absent, row limits).
 * Identifiers come from validated configuration and are always quoted; values are always bound.
 */
import type { Config } from '../src/config.js';
import { CANDIDATE_LIMIT, normaliseLogin } from '../src/matching.js';
import { StoreError, type LegacyUser, type MigrationStatus, type ProbeResult, type UserStore } from './types.js';

export type Row = Record<string, unknown>;

/** A login column (email or username) as configured: the table it lives in (the users table or a joined one) and its name. */
export interface LoginColumn {
  key: 'email' | 'username';
  table: string;
  column: string;
}

/** The alias of the migration side table, LEFT JOINed on its primary key in side-table mode. */
export const MARK_ALIAS = 'lg_mark';

export interface Dialect {
  /** Quote one identifier part ("users", [users], `users`). */
  quoteIdent(part: string): string;
  /** Placeholder for the n-th (1-based) bound value. */
  param(n: number): string;
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
   * Optional, for a dialect whose comparison for one login depends on the login: the key expression and the values
   * it must equal (one value: `key = ?`; several: `key IN (...)`). Absent: loginKey and the folded login.
   */
  loginLookup?(ref: string, col: LoginColumn, needle: string): { key: string; values: string[] };
  /** A key expression as text, the form of the side table's user_id (joined on the side table's primary key). */
  idAsText(expr: string): string;
  /** INSERT that does nothing when the key already exists. */
  insertIfAbsent(table: string, columns: string[], values: string[], key: string): string;
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

export type MappingConfig = Pick<Config['store'], 'users' | 'migration'> & Partial<Pick<Config['store'], 'queries'>>;

/** The driver-facing part of an adapter. */
export interface SqlDriver {
  dialect: Dialect;
  all(sql: string, params: unknown[]): Promise<Row[]>;
  run(sql: string, params: unknown[]): Promise<number>;
  close(): Promise<void>;
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
} as const;

/** Rows per page when scanning (keyset pagination on the primary key). */
const SCAN_PAGE = 500;

/** A valid Date, or undefined (MySQL's zero date '0000-00-00' arrives as an invalid Date). */
function validDate(v: Date): Date | undefined {
  return Number.isNaN(v.getTime()) ? undefined : v;
}

function toIso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return validDate(v)?.toISOString() ?? null;
  let s = String(v);
  // A zone-less "YYYY-MM-DD HH:MM:SS" written by the gateway is UTC.
  if (!(v instanceof Date) && /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?$/.test(s)) s = `${s.replace(' ', 'T')}Z`;
  const d = new Date(s);
  // A value that is not a date is still a mark (someone wrote it): keep it as text rather than lose it.
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
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

export class SqlUserStore implements UserStore {
  private readonly d: Dialect;
  private readonly users: string;
  private readonly side: string | null;
  private readonly migColumn: string | null;
  /** The mapped columns (base) and, in side-table mode, the mark joined on the side table's primary key (read). */
  private readonly baseSelect: string;
  private readonly selectList: string;
  private readonly fromClause: string;
  private readonly readFrom: string;
  private readonly logins: Map<string, LoginColumn>;
  /** " AND <filters>" (or ""), with its bound values. */
  private readonly filterSql: string;
  private readonly filterParams: unknown[];

  constructor(
    private readonly driver: SqlDriver,
    private readonly mapping: MappingConfig,
  ) {
    this.d = driver.dialect;
    const q = (name: string) => name.split('.').map((p) => this.d.quoteIdent(p)).join('.');
    if (!mapping.users.table || !mapping.users.columns.password) throw new StoreError('store.users.table and columns.password are required');
    this.users = q(mapping.users.table);
    const cols = mapping.users.columns;
    const migration = mapping.migration;
    this.migColumn = 'column' in migration ? migration.column : null;
    this.side = 'table' in migration ? q(migration.table) : null;

    const parts: string[] = [];
    for (const [key, alias] of Object.entries(FIELD_KEYS)) {
      const col = cols[key as keyof typeof cols];
      if (col) parts.push(`${this.ref(col)} AS ${this.d.quoteIdent(`f_${alias}`)}`);
    }
    mapping.users.app_metadata.forEach((col, i) => parts.push(`${this.ref(col)} AS ${this.d.quoteIdent(`a_${i}`)}`));
    mapping.users.user_metadata.forEach((col, i) => parts.push(`${this.ref(col)} AS ${this.d.quoteIdent(`m_${i}`)}`));
    if (this.migColumn) parts.push(`u.${this.d.quoteIdent(this.migColumn)} AS ${this.d.quoteIdent('f_migrated_at')}`);
    this.baseSelect = parts.join(', ');
    const mark = this.d.quoteIdent(MARK_ALIAS);
    if (mapping.users.joins.some((j) => j.alias === MARK_ALIAS)) throw new StoreError(`store.users.joins: the alias ${MARK_ALIAS} is reserved`);
    this.selectList = this.side ? `${this.baseSelect}, ${mark}.migrated_at AS ${this.d.quoteIdent('f_migrated_at')}` : this.baseSelect;
    this.logins = new Map(loginColumns(mapping.users).map((c) => [c.key, c]));

    let from = `${this.users} u`;
    for (const j of mapping.users.joins) {
      const on = Object.entries(j.on).map(([left, right]) => `${this.ref(left)} = ${this.d.quoteIdent(j.alias)}.${this.d.quoteIdent(right)}`);
      from += ` ${j.type === 'left' ? 'LEFT JOIN' : 'JOIN'} ${q(j.table)} ${this.d.quoteIdent(j.alias)} ON ${on.join(' AND ')}`;
    }
    this.fromClause = from;
    // One round trip per lookup: the mark comes with the row, joined on the side table's primary key (user_id, text).
    this.readFrom = this.side ? `${from} LEFT JOIN ${this.side} ${mark} ON ${mark}.user_id = ${this.d.idAsText(this.ref(mapping.users.columns.id))}` : from;

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

  /** "col" → u."col"; "alias.col" → "alias"."col" (aliases are validated against the joins at start-up). */
  private ref(column: string): string {
    const dot = column.indexOf('.');
    if (dot < 0) return `u.${this.d.quoteIdent(column)}`;
    return `${this.d.quoteIdent(column.slice(0, dot))}.${this.d.quoteIdent(column.slice(dot + 1))}`;
  }

  private col(key: keyof MappingConfig['users']['columns']): string | null {
    const c = this.mapping.users.columns[key];
    return c ? this.ref(c) : null;
  }

  /** The WHERE clause for a query whose own condition uses `own` bound values: filters are numbered after them. */
  private where(cond: string | null, own: unknown[]): { sql: string; params: unknown[] } {
    let n = own.length;
    const filters = this.filterSql.replace(/\u0000/g, () => this.d.param(++n));
    const all = [cond, filters].filter((c): c is string => !!c);
    return { sql: all.length ? ` WHERE ${all.map((c) => `(${c})`).join(' AND ')}` : '', params: [...own, ...this.filterParams] };
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StoreError) throw e;
      // Never echo driver messages that might contain values; keep the driver's code only.
      const code = (e as { code?: unknown }).code;
      throw new StoreError(`${what} failed${typeof code === 'string' ? ` (${code})` : ''}`, { cause: e });
    }
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
    const params: unknown[] = [];
    const text = sql.replace(/(?<!:):([A-Za-z_][A-Za-z0-9_]*)/g, (m, name: string) => {
      if (!(name in values)) return m;
      params.push(values[name]);
      return this.d.param(params.length);
    });
    const rows = await this.driver.all(text, params);
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

  async findCandidates(login: string): Promise<LegacyUser[]> {
    const needle = normaliseLogin(login);
    const conds: string[] = [];
    const params: unknown[] = [];
    for (const key of ['email', 'username'] as const) {
      const c = this.col(key);
      const lc = this.logins.get(key);
      if (!c) continue;
      const l = (lc && this.d.loginLookup?.(c, lc, needle)) || { key: lc ? this.d.loginKey(c, lc) : this.d.lower(c), values: [needle] };
      const marks = l.values.map((v) => {
        params.push(v);
        return this.d.param(params.length);
      });
      conds.push(marks.length === 1 ? `${l.key} = ${marks[0]}` : `${l.key} IN (${marks.join(', ')})`);
    }
    const w = this.where(conds.join(' OR '), params);
    const custom = this.mapping.queries?.find_by_login;
    const rows = await this.guard('findByLogin', async () => {
      try {
        if (custom) return this.withMarks((await this.named(custom, { login: needle })).slice(0, CANDIDATE_LIMIT).map((r) => this.toUser(r)));
        const found = await this.driver.all(this.d.limit(`SELECT ${this.selectList} FROM ${this.readFrom}${w.sql}`, CANDIDATE_LIMIT), w.params);
        return found.map((r) => this.toUser(r));
      } catch (e) {
        // A login the column's character set can't hold (Cyrillic against latin1) names nobody: it is not an outage.
        if (this.d.isUnrepresentable?.(e)) return [];
        throw e;
      }
    });
    return rows;
  }

  async findById(id: string): Promise<LegacyUser | null> {
    const w = this.where(`${this.col('id')} = ${this.d.param(1)}`, [id]);
    const custom = this.mapping.queries?.find_by_id;
    const rows = await this.guard('findById', async () => {
      try {
        if (custom) return await this.named(custom, { id });
        return await this.driver.all(this.d.limit(`SELECT ${this.selectList} FROM ${this.readFrom}${w.sql}`, 2), w.params);
      } catch (e) {
        if (this.d.isInvalidInput?.(e)) return [];
        throw e;
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
   * Counted by the database. Side-table mode counts the marks themselves: the gateway only writes a mark for a
   * user that exists, so the count is exact unless legacy rows are deleted after they were marked.
   */
  async migrationStatus(): Promise<MigrationStatus> {
    const rows = await this.guard('migrationStatus', async () => {
      if (this.migColumn) {
        const w = this.where(null, []);
        return this.driver.all(`SELECT COUNT(*) AS total, COUNT(u.${this.d.quoteIdent(this.migColumn)}) AS migrated FROM ${this.fromClause}${w.sql}`, w.params);
      }
      const w = this.where(null, []);
      const [t] = await this.driver.all(`SELECT COUNT(*) AS total FROM ${this.fromClause}${w.sql}`, w.params);
      const [m] = await this.driver.all(`SELECT COUNT(*) AS migrated FROM ${this.side}`, []);
      return [{ total: t?.total, migrated: m?.migrated }];
    });
    const total = Number(rows[0]?.total ?? 0);
    const migrated = Number(rows[0]?.migrated ?? 0);
    return { total, migrated, remaining: Math.max(0, total - migrated) };
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
    } catch (e) {
      return [{ what: 'connection', ok: false, error: errorCode(e), connection: true }];
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

  async close(): Promise<void> {
    await this.driver.close();
  }
}
