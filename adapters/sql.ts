/**
 * Shared SQL for every relational adapter. A dialect supplies only what really differs
 * (identifier quoting, placeholders, text casts, case folding, insert-if-absent, row limits).
 * Identifiers come from validated configuration and are always quoted; values are always bound.
 */
import type { Config } from '../src/config.js';
import { AMBIGUOUS, StoreError, type Ambiguous, type LegacyUser, type MigrationStatus, type UserStore } from './types.js';

export type Row = Record<string, unknown>;

export interface Dialect {
  /** Quote one identifier part ("users", [users], `users`). */
  quoteIdent(part: string): string;
  /** Placeholder for the n-th (1-based) bound value. */
  param(n: number): string;
  /** Case-fold an expression the same way JavaScript's toLowerCase() does, as far as the engine allows. */
  lower(expr: string): string;
  /** Cast an expression to text (for comparing a key of any type with the side table's text user_id). */
  castText(expr: string): string;
  /** INSERT that does nothing when the key already exists. */
  insertIfAbsent(table: string, columns: string[], values: string[], key: string): string;
  /** Wrap a SELECT so it returns at most n rows. */
  limit(select: string, n: number): string;
  /** Timestamp value to bind for "now". */
  timestamp(d: Date): unknown;
}

export type MappingConfig = Pick<Config['store'], 'users' | 'migration'>;

/** The driver-facing part of an adapter. */
export interface SqlDriver {
  dialect: Dialect;
  all(sql: string, params: unknown[]): Promise<Row[]>;
  run(sql: string, params: unknown[]): Promise<number>;
  iterate(sql: string, params: unknown[]): AsyncIterable<Row>;
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
} as const;

function toIso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}

function str(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

export class SqlUserStore implements UserStore {
  private readonly d: Dialect;
  private readonly users: string;
  private readonly side: string | null;
  private readonly migColumn: string | null;
  private readonly selectList: string;
  private readonly fromClause: string;
  private readonly migratedExpr: string;

  constructor(
    private readonly driver: SqlDriver,
    private readonly mapping: MappingConfig,
  ) {
    this.d = driver.dialect;
    const q = (name: string) => name.split('.').map((p) => this.d.quoteIdent(p)).join('.');
    this.users = q(mapping.users.table);
    const cols = mapping.users.columns;
    const migration = mapping.migration;
    this.migColumn = 'column' in migration ? migration.column : null;
    this.side = 'table' in migration ? q(migration.table) : null;

    const parts: string[] = [];
    for (const [key, alias] of Object.entries(FIELD_KEYS)) {
      const col = cols[key as keyof typeof cols];
      if (col) parts.push(`u.${this.d.quoteIdent(col)} AS ${this.d.quoteIdent(`f_${alias}`)}`);
    }
    for (const col of mapping.users.app_metadata) parts.push(`u.${this.d.quoteIdent(col)} AS ${this.d.quoteIdent(`a_${col}`)}`);
    for (const col of mapping.users.user_metadata) parts.push(`u.${this.d.quoteIdent(col)} AS ${this.d.quoteIdent(`m_${col}`)}`);
    this.migratedExpr = this.migColumn ? `u.${this.d.quoteIdent(this.migColumn)}` : 'g.migrated_at';
    parts.push(`${this.migratedExpr} AS ${this.d.quoteIdent('f_migrated_at')}`);
    this.selectList = parts.join(', ');
    this.fromClause = this.side
      ? `${this.users} u LEFT JOIN ${this.side} g ON g.user_id = ${this.d.castText(`u.${this.d.quoteIdent(cols.id)}`)}`
      : `${this.users} u`;
  }

  private col(key: keyof MappingConfig['users']['columns']): string | null {
    const c = this.mapping.users.columns[key];
    return c ? `u.${this.d.quoteIdent(c)}` : null;
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
    const meta = (prefix: string, names: string[]) =>
      Object.fromEntries(
        names.flatMap((n) => {
          const v = row[`${prefix}${n}`];
          return v === null || v === undefined ? [] : [[n, Buffer.isBuffer(v) ? v.toString('utf8') : v]];
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
      appMetadata: meta('a_', this.mapping.users.app_metadata),
      userMetadata: meta('m_', this.mapping.users.user_metadata),
      migratedAt: toIso(row.f_migrated_at),
    };
  }

  async findByLogin(login: string): Promise<LegacyUser | null | Ambiguous> {
    const needle = login.trim().toLowerCase();
    const conds: string[] = [];
    const params: unknown[] = [];
    for (const key of ['email', 'username'] as const) {
      const c = this.col(key);
      if (c) {
        params.push(needle);
        conds.push(`${this.d.lower(c)} = ${this.d.param(params.length)}`);
      }
    }
    const sql = this.d.limit(`SELECT ${this.selectList} FROM ${this.fromClause} WHERE ${conds.join(' OR ')}`, 2);
    const rows = await this.guard('findByLogin', () => this.driver.all(sql, params));
    if (rows.length > 1) return AMBIGUOUS;
    return rows[0] ? this.toUser(rows[0]) : null;
  }

  async findById(id: string): Promise<LegacyUser | null> {
    const sql = this.d.limit(`SELECT ${this.selectList} FROM ${this.fromClause} WHERE ${this.col('id')} = ${this.d.param(1)}`, 2);
    const rows = await this.guard('findById', () => this.driver.all(sql, [id]));
    return rows[0] ? this.toUser(rows[0]) : null;
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
          [now, id],
        );
      } else {
        await this.driver.run(
          this.d.insertIfAbsent(this.side!, ['user_id', 'migrated_at'], [this.d.param(1), this.d.param(2)], 'user_id'),
          [user.id, now],
        );
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
          [id],
        );
      } else {
        await this.driver.run(`DELETE FROM ${this.side} WHERE user_id = ${this.d.param(1)}`, [user.id]);
      }
    });
    return true;
  }

  async migrationStatus(): Promise<MigrationStatus> {
    const sql = `SELECT COUNT(*) AS total, COUNT(${this.migratedExpr}) AS migrated FROM ${this.fromClause}`;
    const rows = await this.guard('migrationStatus', () => this.driver.all(sql, []));
    const total = Number(rows[0]?.total ?? 0);
    const migrated = Number(rows[0]?.migrated ?? 0);
    return { total, migrated, remaining: total - migrated };
  }

  async *scan(): AsyncIterable<LegacyUser> {
    const sql = `SELECT ${this.selectList} FROM ${this.fromClause} ORDER BY ${this.col('id')}`;
    try {
      for await (const row of this.driver.iterate(sql, [])) yield this.toUser(row);
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new StoreError('scan failed', { cause: e });
    }
  }

  async ping(): Promise<void> {
    await this.guard('ping', () => this.driver.all('SELECT 1 AS ok', []));
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
