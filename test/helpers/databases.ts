/**
 * Real database servers for the integration suites. Each suite gets its own uniquely named database and
 * drops it afterwards. When a server is unreachable the suite is skipped with the reason — unless
 * TEST_REQUIRE_DB=1 or CI=true, when it fails instead.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { testEnvironment } from '../../src/config.js';

export const env = testEnvironment();

export function uniqueName(prefix = 'lg_test'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/**
 * A password planted in every PostgreSQL test database URL (the servers here trust loopback connections, so it is
 * sent and ignored): the end-of-run log scan (test/zz/log-scan.test.ts) checks that it never reaches a log line.
 */
export const PLANTED_DB_PASSWORD = 'Db-Pl4nted-pw-5e1c';

function withDatabase(url: string, db: string, password?: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  if (password && !u.password) {
    if (!u.username) u.username = 'postgres';
    u.password = password;
  }
  return u.toString();
}

/** false when reachable; a skip reason otherwise. Throws when databases are required. */
export async function availability(kind: 'postgres' | 'mysql' | 'redis'): Promise<string | false> {
  try {
    if (kind === 'redis') {
      const { Redis } = await import('ioredis');
      const r = new Redis(env.redisUrl, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      try {
        await r.connect();
        await r.ping();
      } finally {
        r.disconnect();
      }
    } else if (kind === 'postgres') {
      const c = new pg.Client({ connectionString: env.postgresUrl, connectionTimeoutMillis: 3000 });
      await c.connect();
      await c.end();
    } else {
      const c = await mysql.createConnection({ uri: env.mysqlUrl, connectTimeout: 3000 });
      await c.end();
    }
    return false;
  } catch (e) {
    const reason = `${kind} not reachable (${(e as Error).message}); set TEST_${kind.toUpperCase()}_URL`;
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
export async function createPostgresDatabase(opts: { encoding?: 'UTF8' | 'LATIN1' | 'SQL_ASCII' } = {}): Promise<TestDatabase> {
  const name = uniqueName();
  const admin = new pg.Client({ connectionString: env.postgresUrl });
  await admin.connect();
  try {
    const locale = opts.encoding && opts.encoding !== 'UTF8' ? " LC_COLLATE 'C' LC_CTYPE 'C'" : '';
    await admin.query(`CREATE DATABASE ${name} ENCODING '${opts.encoding ?? 'UTF8'}'${locale} TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(env.postgresUrl, name, PLANTED_DB_PASSWORD);
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

/** A port nothing listens on: bound, then released (connection-failure tests). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
