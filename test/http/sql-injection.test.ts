/**
 * SQL injection through the login, end to end: the real gateway (real tokens, loopback) on three real stores —
 *
 *   PostgreSQL · MariaDB on the shared server in its default sql_mode · a PRIVATE MariaDB server started by this
 *   file (test/helpers/mariadb-server.ts) whose sql_mode adds NO_BACKSLASH_ESCAPES
 *
 * — each seeded with bcrypt users. A corpus of hostile logins (quotes, comments, UNION SELECT with hex literals built
 * for the seeded users, stacked statements, backslashes, LIKE wildcards, Unicode quotes, NUL, very long strings, ...)
 * goes to POST /v1/credentials/verify with the password whose bcrypt hash the UNION payloads carry, and to
 * POST /v1/users/lookup. Every answer must be exactly what an unknown login gets (401 / 404; 400 for what the API
 * refuses), never a 200, 409 or 5xx, never a database error text; the log has no store failure; the users table
 * and the migration side table keep their row counts.
 *
 * The hole this pins: with mysql2's query() values were escaped on the CLIENT assuming backslash escapes. Under
 * NO_BACKSLASH_ESCAPES `'` became `\'`, i.e. a backslash and the end of the string literal, and the rest of the login
 * ran as SQL: `' AND 1=0) UNION SELECT 1,0x<email>,0x<username>,0x<bcrypt of the attacker's password>,NULL #`
 * logged in as user 1. adapters/mysql.ts now binds every value on the server (execute()).
 *
 * Databases are dropped and the private server is shut down and removed in after(), also when a test fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { availability, createMysqlDatabase, createPostgresDatabase, lit, type TestDatabase } from '../helpers/databases.js';
import { call, closeAndDrop, startTestGateway, type ApiResponse, type TestGateway } from '../helpers/harness.js';
import { privateMariadbAvailability, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';

type Kind = 'postgres' | 'mysql';

const SKIP_PG = await availability('postgres');
const SKIP_MY = await availability('mysql');
const SKIP_PRIVATE = privateMariadbAvailability();

const ATTACKER_PASSWORD = 'attacker-chosen-Passw0rd!';
const ATTACKER_HASH = hashSync(ATTACKER_PASSWORD, 4);

interface Seed {
  id: number;
  email: string;
  username: string;
  password: string;
  name: string;
}

/** Real users, including a quote and a backslash in real data (their own logins must keep working). */
const USERS: Seed[] = [
  { id: 1, email: 'alice@example.com', username: 'alice', password: 'alice-real-password', name: 'Alice Admin' },
  { id: 2, email: 'bob@example.com', username: 'bob', password: 'bob-real-password', name: 'Bob' },
  { id: 3, email: "o'brien@example.com", username: "o'brien", password: "o'brien's password", name: "Seán O'Brien" },
  { id: 4, email: 'back\\slash@example.com', username: 'back\\slash', password: 'back\\slash-password\\', name: 'Back Slash' },
];
/** Already migrated (a row in the side table, so that a DELETE there would show); not in the positive control. */
const MIGRATED: Seed = { id: 5, email: 'carol@example.com', username: 'carol', password: 'carol-real-password', name: 'Carol' };

const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');

// ---------------------------------------------------------------------------------------------------------
// The corpus

/**
 * UNION payloads that return user `u` with the attacker's hash. The select list the gateway generates for the store
 * configured below is: id, email, username, password, name (5 columns). `close` is what ends the login's string
 * literal on the server (a bare quote; a backslash-quote for NO_BACKSLASH_ESCAPES), `comment` what drops the rest.
 */
function unionPayloads(u: Seed): string[] {
  const row = `${u.id},0x${hex(u.email)},0x${hex(u.username)},0x${hex(ATTACKER_HASH)},NULL`;
  const out: string[] = [];
  // The exact reported attack.
  out.push(`' AND 1=0) UNION SELECT ${row} #`);
  for (const close of ["'", "\\'", "\\\\'", "''", "'''"]) {
    for (const comment of [' #', ' -- ', ' /*', ';#', ' -- -']) out.push(`${close} AND 1=0) UNION SELECT ${row}${comment}`);
  }
  out.push(`') UNION SELECT ${row} #`);
  out.push(`') UNION ALL SELECT ${row} LIMIT 1 #`);
  out.push(`x') OR 1=0 UNION SELECT ${row} FROM dual #`);
  // PostgreSQL flavour: text literals, -- comment.
  out.push(`' AND 1=0) UNION SELECT '${u.id}','${u.email}','${u.username}','${ATTACKER_HASH}',NULL --`);
  out.push(`' AND 1=0) UNION SELECT ${u.id}::text,convert_from('\\x${hex(u.email)}','UTF8'),NULL,'${ATTACKER_HASH}',NULL --`);
  return out;
}

/** Logins the API refuses before any store is asked (400): NUL, nothing but whitespace, longer than 320 characters. */
function refused(login: unknown): boolean {
  if (typeof login !== 'string') return true;
  const t = login.trim();
  return t.length === 0 || t.length > 320 || t.includes('\u0000');
}

function corpus(): string[] {
  const c: string[] = [];
  for (const u of USERS.slice(0, 2)) c.push(...unionPayloads(u));
  // Classics.
  c.push(
    "'",
    "''",
    "'''",
    '"',
    '`',
    "' OR '1'='1",
    "' OR 1=1 --",
    "' OR 1=1 #",
    "' OR 1=1 /*",
    "') OR ('1'='1",
    "') OR 1=1 #",
    "') OR 1=1 -- ",
    "admin' --",
    "alice@example.com' --",
    "alice@example.com'#",
    "alice' OR 'x'='x",
    "alice@example.com' AND 1=1 --",
    '" OR ""="',
    '") OR 1=1 #',
    "1' ORDER BY 5 #",
    "1' ORDER BY 99 --",
    "' UNION SELECT NULL #",
    "' UNION SELECT NULL,NULL,NULL,NULL,NULL #",
    "' UNION SELECT @@version,NULL,NULL,NULL,NULL #",
    "' AND extractvalue(1,concat(0x7e,(SELECT @@version))) #",
    "' AND updatexml(1,concat(0x7e,database()),1) #",
    "' AND 1=CAST((SELECT version()) AS int) --",
    "'||(SELECT pg_sleep(1))||'",
    "') OR SLEEP(1) #",
    "') OR (SELECT 1 FROM (SELECT SLEEP(1))x) #",
    "'; SELECT pg_sleep(1); --",
    "') OR BENCHMARK(1000000,MD5(1)) #",
  );
  // Stacked statements.
  c.push(
    "'; DROP TABLE users; --",
    "'); DROP TABLE users; #",
    "\\'); DROP TABLE users; #",
    "'; DELETE FROM legacy_gateway_migrations; --",
    "'); INSERT INTO legacy_gateway_migrations (user_id, migrated_at) VALUES ('1', NULL); #",
    "'; UPDATE users SET password_hash = 'x'; --",
    "1; DROP TABLE users",
    "alice'; TRUNCATE users; --",
  );
  // Backslashes.
  c.push('\\', '\\\\', "\\'", "\\\\'", "\\' OR 1=1 #", "\\\\' OR 1=1 #", "\\') OR 1=1 #", "%\\'", '\\x27 OR 1=1 #', '\\u0027 OR 1=1', '\\0', "\\'; DROP TABLE users; #", "alice\\'", "alice@example.com\\");
  // LIKE wildcards and regex characters: equality must not widen.
  c.push('%', '_', '%%', 'a%', '%@example.com', '_lice', 'alic_', '%alice%', '.*', '[a-z]*', 'alice@example.com%', '_%_');
  // Unicode quotes and look-alikes.
  for (const q of ['ʼ', '‘', '’', '＇', '″', '′', '＂', 'ˈ', '‛', '❛']) c.push(`${q} OR 1=1 #`, `alice${q}) OR (1=1) --`);
  // Hex, char() and concatenation tricks.
  c.push('0x616c696365', "CHAR(97,108,105,99,101)", "alice' || '", "alice'+'", "ali' 'ce", "concat('ali','ce')", 'alice@example.com)#');
  // Lengths: as long as the API takes (320), and longer (400).
  c.push("'".repeat(320), `${'\\'.repeat(319)}'`, `' OR 1=1 #${'a'.repeat(300)}`, "'".repeat(321), 'a'.repeat(5000), `${"' OR 1=1 #".repeat(40)}`);
  // NUL (400), whitespace only (400).
  c.push('alice\u0000', "\u0000' OR 1=1 #", "alice@example.com\u0000' --", '\u0000', '   ', '\t\n');
  // Generated: every way to close a literal × every way to continue.
  const closes = ["'", "\\'", "\\\\'", '"', '\\"', "')", "\\')", '`', 'ʼ', '＇'];
  const tails = [' OR 1=1 #', ' OR 1=1 -- ', ') OR 1=1 /*', '; DROP TABLE legacy_gateway_migrations; #', ' UNION SELECT 1,2,3,4,5 #'];
  for (const a of closes) for (const t of tails) c.push(`${a}${t}`);
  return [...new Set(c)];
}

const CORPUS = corpus();

/** Body text no answer may contain: database or driver vocabulary (ER_xxx codes case-sensitively: "user_not_found"). */
const DB_TEXT = /sql|syntax|mariadb|mysql|postgres|errno|sqlstate|collation|\bER_[A-Z]|\b(22|42)[0-9A-Z]{3}\b/i;
const hasDbText = (s: string) => DB_TEXT.test(s.replace(/\buser_not_found\b/g, ''));

// ---------------------------------------------------------------------------------------------------------
// Stores

const MYSQL_DDL = [
  `CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255) NOT NULL, username VARCHAR(255) NOT NULL,
     password_hash VARCHAR(255) NOT NULL, full_name VARCHAR(255)) ENGINE=InnoDB`,
  'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at TIMESTAMP NULL) ENGINE=InnoDB',
];
const PG_DDL = [
  'CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, username text NOT NULL, password_hash text NOT NULL, full_name text)',
  'CREATE TABLE legacy_gateway_migrations (user_id text PRIMARY KEY, migrated_at timestamptz)',
];

function seedSql(): string[] {
  return [...USERS, MIGRATED].map((u) => `INSERT INTO users (id, email, username, password_hash, full_name) VALUES (${u.id}, ${lit(u.email)}, ${lit(u.username)}, ${lit(hashSync(u.password, 4))}, ${lit(u.name)})`)
    // One user already marked: the side table is not empty, so a DELETE would show.
    .concat([`INSERT INTO legacy_gateway_migrations (user_id, migrated_at) VALUES ('${MIGRATED.id}', CURRENT_TIMESTAMP)`]);
}

async function counts(kind: Kind, url: string): Promise<{ users: number; marks: number }> {
  const q = 'SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM legacy_gateway_migrations) AS marks';
  if (kind === 'postgres') {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query(q);
      return { users: Number(r.rows[0].users), marks: Number(r.rows[0].marks) };
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await c.query(q);
    const r = (rows as Record<string, unknown>[])[0]!;
    return { users: Number(r.users), marks: Number(r.marks) };
  } finally {
    await c.end();
  }
}

/** Run fn over items, at most n at a time. */
async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

function show(s: string): string {
  return JSON.stringify(s.length > 90 ? `${s.slice(0, 90)}…(${s.length})` : s);
}

interface StoreCase {
  title: string;
  kind: Kind;
  skip: string | false;
  /** Creates the database (and, for the private server, the server); returns its URL. */
  open(): Promise<TestDatabase>;
  /** Extra check of the environment under test. */
  check?(): Promise<void>;
  teardown?(): Promise<void>;
  /** The server may be reconfigured (SET GLOBAL sql_mode): only the private one. */
  privateServer?: boolean;
}

let privateServer: MariadbServer | undefined;

const STORES: StoreCase[] = [
  { title: 'PostgreSQL', kind: 'postgres', skip: SKIP_PG, open: () => createPostgresDatabase() },
  {
    title: 'MariaDB (shared server, default sql_mode)',
    kind: 'mysql',
    skip: SKIP_MY,
    open: () => createMysqlDatabase(),
  },
  {
    title: 'MariaDB (private server, sql_mode with NO_BACKSLASH_ESCAPES)',
    kind: 'mysql',
    skip: SKIP_PRIVATE,
    privateServer: true,
    async open() {
      privateServer = await startMariadbServer({ extraSqlModes: ['NO_BACKSLASH_ESCAPES'] });
      return createMysqlDatabase({ serverUrl: privateServer.url });
    },
    async check() {
      assert.match(privateServer!.sqlMode, /NO_BACKSLASH_ESCAPES/, 'the private server must run with NO_BACKSLASH_ESCAPES');
      // The server's default modes are kept too.
      assert.match(privateServer!.sqlMode, /STRICT_TRANS_TABLES/);
    },
    async teardown() {
      const s = privateServer;
      privateServer = undefined;
      await s?.stop();
    },
  },
];

test('the corpus: at least 100 distinct hostile logins, none of which names a seeded user', () => {
  assert.ok(CORPUS.length >= 100, `only ${CORPUS.length} logins`);
  const names = new Set([...USERS, MIGRATED].flatMap((u) => [u.email.toLowerCase(), u.username.toLowerCase()]));
  for (const login of CORPUS) assert.ok(!names.has(login.trim().toLowerCase()), `corpus entry names a real user: ${show(login)}`);
  assert.ok(CORPUS.includes(`' AND 1=0) UNION SELECT 1,0x${hex(USERS[0]!.email)},0x${hex(USERS[0]!.username)},0x${hex(ATTACKER_HASH)},NULL #`));
});

for (const store of STORES) {
  describe(`SQL injection through the login: ${store.title}`, { skip: store.skip }, () => {
    let db: TestDatabase | undefined;
    let gw: TestGateway | undefined;
    let token = '';
    let before0: { users: number; marks: number } | undefined;
    const post = (p: string, body: unknown) => call(gw!.url, 'POST', p, { token, body });

    before(async () => {
      try {
        db = await store.open();
        await db.exec([...(store.kind === 'postgres' ? PG_DDL : MYSQL_DDL), ...seedSql()]);
        gw = await startTestGateway({
          store: {
            adapter: store.kind,
            url: db.url,
            users: { table: 'users', columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', name: 'full_name' } },
            migration: { table: 'legacy_gateway_migrations' },
          },
          passwords: { scheme: 'bcrypt' },
          config: { limits: { login_failures: { max: 1000, window_s: 60 } }, profile: { user_id_prefix: '' } },
        });
        token = await gw.token();
        before0 = await counts(store.kind, db.url);
      } catch (e) {
        await cleanup();
        throw e;
      }
    });

    async function cleanup() {
      const [g, d] = [gw, db];
      gw = undefined;
      db = undefined;
      try {
        await closeAndDrop(g, d);
      } finally {
        await store.teardown?.();
      }
    }

    after(cleanup);

    test('environment: the store runs as described', async () => {
      await store.check?.();
      assert.deepEqual(before0, { users: USERS.length + 1, marks: 1 });
    });

    test('positive control: every real user with the real password → 200 as that user (quotes and backslashes in real data included)', async () => {
      for (const u of USERS) {
        for (const login of [u.email, u.username, `  ${u.email.toUpperCase()} `]) {
          const r = await post('/v1/credentials/verify', { login, password: u.password });
          assert.equal(r.status, 200, `${show(login)}: ${r.text}`);
          assert.equal(r.json.user.user_id, String(u.id));
        }
        const l = await post('/v1/users/lookup', { login: u.username });
        assert.equal(l.status, 200, l.text);
        assert.equal(l.json.user.user_id, String(u.id));
        // The attacker's password is not theirs.
        const w = await post('/v1/credentials/verify', { login: u.email, password: ATTACKER_PASSWORD });
        assert.equal(w.status, 401, w.text);
      }
    });

    test(`the exact reported attack, as user 1 and user 2 → 401 / 404`, async () => {
      for (const u of USERS.slice(0, 2)) {
        const login = `' AND 1=0) UNION SELECT ${u.id},0x${hex(u.email)},0x${hex(u.username)},0x${hex(ATTACKER_HASH)},NULL #`;
        const v = await post('/v1/credentials/verify', { login, password: ATTACKER_PASSWORD });
        assert.equal(v.status, 401, `logged in through the UNION payload: ${v.text}`);
        assert.equal(v.json?.error, 'invalid_credentials');
        const l = await post('/v1/users/lookup', { login });
        assert.equal(l.status, 404, l.text);
        assert.equal(l.json?.error, 'user_not_found');
      }
    });

    test(`${CORPUS.length} hostile logins: verify → 401 invalid_credentials, lookup → 404 user_not_found (400 where the API refuses the login); never 200, 409, 429 or 5xx; no database text`, async () => {
      const logStart = gw!.logs.length;
      const problems: string[] = [];
      const check = (login: string, what: string, r: ApiResponse, status: number, error: string) => {
        if (r.status === 429) problems.push(`${what} ${show(login)}: 429 — the limiter masked the result (test setup)`);
        else if (r.status !== status || r.json?.error !== error) problems.push(`${what} ${show(login)}: ${r.status} ${r.text.slice(0, 200)}`);
        if (hasDbText(r.text)) problems.push(`${what} ${show(login)}: database text in the body: ${r.text.slice(0, 200)}`);
      };
      await pool(CORPUS, 8, async (login) => {
        const bad = refused(login);
        const v = await post('/v1/credentials/verify', { login, password: ATTACKER_PASSWORD });
        check(login, 'verify', v, bad ? 400 : 401, bad ? 'invalid_request' : 'invalid_credentials');
        const l = await post('/v1/users/lookup', { login });
        check(login, 'lookup', l, bad ? 400 : 404, bad ? 'invalid_request' : 'user_not_found');
      });
      const logs = gw!.logs.slice(logStart).filter((line) => /legacy store unavailable|"level":(50|60)/.test(line));
      assert.deepEqual(problems, [], `${problems.length} unexpected answers:\n${problems.slice(0, 40).join('\n')}`);
      assert.deepEqual(logs, [], 'store failures were logged');
    });

    test('afterwards: same row counts in users and the migration side table; the real users still log in; /readyz 200', async () => {
      assert.deepEqual(await counts(store.kind, db!.url), before0);
      const r = await post('/v1/credentials/verify', { login: USERS[0]!.email, password: USERS[0]!.password });
      assert.equal(r.status, 200, r.text);
      const ready = await call(gw!.url, 'GET', '/readyz');
      assert.equal(ready.status, 200, ready.text);
    });

    if (store.privateServer) {
      test('sql_mode with ANSI_QUOTES and PIPES_AS_CONCAT too: backtick identifiers, marks (ON DUPLICATE KEY, a bound DATETIME) and the corpus behave the same', async () => {
        const admin = await mysql.createConnection({ uri: privateServer!.url });
        let second: TestGateway | undefined;
        try {
          await admin.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',ANSI_QUOTES,PIPES_AS_CONCAT')");
          const [rows] = await admin.query('SELECT @@GLOBAL.sql_mode AS m');
          assert.match(String((rows as { m: string }[])[0]!.m), /ANSI_QUOTES.*NO_BACKSLASH_ESCAPES|NO_BACKSLASH_ESCAPES.*ANSI_QUOTES/);
          // A new gateway: a new pool, whose sessions start in the new global mode.
          second = await startTestGateway({ store: gw!.config.store as unknown as Record<string, unknown>, passwords: { scheme: 'bcrypt' }, config: { limits: { login_failures: { max: 1000, window_s: 60 } }, profile: { user_id_prefix: '' } } });
          const t = await second.token();
          const p2 = (p: string, body: unknown) => call(second!.url, 'POST', p, { token: t, body });
          for (const u of USERS) {
            const r = await p2('/v1/credentials/verify', { login: u.email, password: u.password });
            assert.equal(r.status, 200, `${u.email}: ${r.text}`);
          }
          const mark = await call(second.url, 'PUT', '/v1/users/1/migration', { token: t });
          assert.equal(mark.status, 200, mark.text);
          const again = await call(second.url, 'PUT', '/v1/users/1/migration', { token: t });
          assert.equal(again.status, 200, again.text);
          assert.equal(again.json.migrated_at, mark.json.migrated_at, 'the first mark stays');
          assert.ok(Math.abs(Date.parse(mark.json.migrated_at) - Date.now()) < 60_000, `a bound DATETIME round-trips in UTC: ${mark.text}`);
          const status = await call(second.url, 'GET', '/v1/migration/status', { token: t });
          assert.equal(status.status, 200, status.text);
          assert.equal(status.json.migrated, 2);
          const unmark = await call(second.url, 'DELETE', '/v1/users/1/migration', { token: t });
          assert.ok(unmark.status === 200 || unmark.status === 204, unmark.text);
          const problems: string[] = [];
          await pool(CORPUS, 8, async (login) => {
            const bad = refused(login);
            const v = await p2('/v1/credentials/verify', { login, password: ATTACKER_PASSWORD });
            if (v.status !== (bad ? 400 : 401) || hasDbText(v.text)) problems.push(`verify ${show(login)}: ${v.status} ${v.text.slice(0, 200)}`);
          });
          assert.deepEqual(problems, [], problems.slice(0, 40).join('\n'));
          assert.deepEqual(await counts(store.kind, db!.url), before0);
        } finally {
          await second?.close().catch(() => {});
          await admin.query(`SET GLOBAL sql_mode = ${lit(privateServer!.sqlMode)}`).catch(() => {});
          await admin.end().catch(() => {});
        }
      });
    }
  });
}
