/**
 * Real database servers for the integration suites. Each suite gets its own uniquely named database and
 * drops it afterwards. When a server is unreachable the suite is skipped with the reason — unless
 * TEST_REQUIRE_DB=1 or CI=true, when it fails instead.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { testEnvironment } from '../../src/config.js';

export const env = testEnvironment();

export function uniqueName(prefix = 'lg_test'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** false when reachable; a skip reason otherwise. Throws when databases are required. */
export async function availability(kind: 'postgres' | 'mysql'): Promise<string | false> {
  try {
    if (kind === 'postgres') {
      const c = new pg.Client({ connectionString: env.postgresUrl, connectionTimeoutMillis: 3000 });
      await c.connect();
      await c.end();
    } else {
      const c = await mysql.createConnection({ uri: env.mysqlUrl, connectTimeout: 3000 });
      await c.end();
    }
    return false;
  } catch (e) {
    const reason = `${kind} not reachable (${(e as Error).message}); set TEST_${kind === 'postgres' ? 'POSTGRES' : 'MYSQL'}_URL`;
    if (env.requireDatabases) throw new Error(`required database suite cannot run: ${reason}`);
    return reason;
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  /** Run setup SQL (one statement per array element). */
  exec(statements: string[]): Promise<void>;
  drop(): Promise<void>;
}

/** encoding LATIN1: a legacy single-byte database (its C locale is the one every server has). */
export async function createPostgresDatabase(opts: { encoding?: 'UTF8' | 'LATIN1' } = {}): Promise<TestDatabase> {
  const name = uniqueName();
  const admin = new pg.Client({ connectionString: env.postgresUrl });
  await admin.connect();
  try {
    const locale = opts.encoding === 'LATIN1' ? " LC_COLLATE 'C' LC_CTYPE 'C'" : '';
    await admin.query(`CREATE DATABASE ${name} ENCODING '${opts.encoding ?? 'UTF8'}'${locale} TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(env.postgresUrl, name);
  return {
    url,
    name,
    async exec(statements) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        for (const s of statements) await c.query(s);
      } finally {
        await c.end();
      }
    },
    async drop() {
      const a = new pg.Client({ connectionString: env.postgresUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** serverUrl: another server than the shared one (a private MariaDB a test started itself). */
export async function createMysqlDatabase(opts: { serverUrl?: string } = {}): Promise<TestDatabase> {
  const server = opts.serverUrl ?? env.mysqlUrl;
  const name = uniqueName();
  const admin = await mysql.createConnection({ uri: server });
  try {
    await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(server, name);
  return {
    url,
    name,
    async exec(statements) {
      const c = await mysql.createConnection({ uri: url, charset: 'utf8mb4', timezone: 'Z' });
      try {
        // Standard SQL string literals, as in PostgreSQL: a backslash is just a backslash (see lit()).
        await c.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')");
        for (const s of statements) await c.query(s);
      } finally {
        await c.end();
      }
    },
    async drop() {
      const a = await mysql.createConnection({ uri: server });
      await a.query(`DROP DATABASE IF EXISTS ${name}`);
      await a.end();
    },
  };
}

/**
 * A standard SQL string literal for seeding fixtures through TestDatabase.exec (test data only; the gateway itself
 * always binds values). Quotes are doubled; backslashes are literal on both servers (MariaDB sessions opened by
 * exec() use NO_BACKSLASH_ESCAPES).
 */
export function lit(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'number') return String(v);
  return `'${String(v).replaceAll("'", "''")}'`;
}
