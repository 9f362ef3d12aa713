/**
 * Logins a legacy single-byte character set can't hold, end to end: a MariaDB table with DEFAULT CHARSET=latin1 and a
 * PostgreSQL database with ENCODING 'LATIN1'. A Cyrillic, CJK or emoji login (alone or mixed with ASCII) can't be
 * compared with those columns: MariaDB raises 1267/1270 "Illegal mix of collations (...,COERCIBLE)", PostgreSQL
 * 22P05 untranslatable_character. Such a login names nobody, exactly like an unknown ASCII login:
 *   verify → 401 with a body byte-identical to an unknown ASCII login's, lookup → 404 user_not_found,
 *   GET /v1/users/{id} → 404; never 503 store_unavailable, no 'legacy store unavailable' in the log, /readyz 200.
 * Latin-1 accented logins that the column CAN hold still log in (positive control).
 *
 * Also the dialect hooks themselves (pure): which driver errors count as "unrepresentable" and which stay failures.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import pg from 'pg';
import { mysqlDialect } from '../../adapters/mysql.js';
import { postgresDialect } from '../../adapters/postgres.js';
import { availability, createMysqlDatabase, createPostgresDatabase, lit, type TestDatabase } from '../helpers/databases.js';
import { call, closeAndDrop, startTestGateway, type TestGateway } from '../helpers/harness.js';
import { testStore } from '../helpers/store-config.js';

type Kind = 'postgres' | 'mysql';

const SKIP: Record<Kind, string | false> = { postgres: await availability('postgres'), mysql: await availability('mysql') };

const USERS = [
  { id: 1, email: 'alice@example.com', username: 'alice', password: 'alice-password' },
  // Latin-1 text the columns can hold.
  { id: 2, email: 'josé@example.com', username: 'Jürgen', password: 'pässwörd' },
];

/** Not representable in latin1: Cyrillic, CJK, emoji, each alone and mixed with ASCII / Latin-1. */
const FOREIGN = [
  'Привет',
  'пользователь@пример.рф',
  'alice@exаmple.com', // Cyrillic "а"
  'aliceПривет',
  '漢字',
  '用户@例子.中国',
  'alice漢字@example.com',
  '😀',
  'alice😀',
  'alice@example.com😀',
  'josé😀@example.com',
  'Jürgen漢',
  '𝒜lice', // astral letter
  'ǅ', // Latin Extended-B
  '€uro', // not in ISO-8859-1
];

const UNKNOWN_ASCII = 'nobody-here@example.com';

// ---------------------------------------------------------------------------------------------------------
// Dialect hooks (no server)

test('mysqlDialect: collation mixes with a bound (COERCIBLE) value, 1271, 1300 and 1366 are unrepresentable text; two columns of different collations are not', () => {
  const err = (errno: number, sqlMessage: string) => Object.assign(new Error(sqlMessage), { errno, sqlMessage, code: 'X' });
  const yes = [
    err(1267, "Illegal mix of collations (latin1_swedish_ci,IMPLICIT) and (utf8mb4_general_ci,COERCIBLE) for operation '='"),
    err(1270, "Illegal mix of collations (latin1_swedish_ci,IMPLICIT), (utf8mb4_general_ci,COERCIBLE), (utf8mb4_general_ci,COERCIBLE) for operation 'in'"),
    err(1271, "Illegal mix of collations for operation 'in'"),
    err(1300, "Invalid utf8mb4 character string: 'F09F98'"),
    err(1366, "Incorrect string value: '\\xF0\\x9F\\x98\\x80' for column `db`.`t`.`c` at row 1"),
  ];
  for (const e of yes) {
    assert.equal(mysqlDialect.isUnrepresentable!(e), true, e.message);
    assert.equal(mysqlDialect.isInvalidInput!(e), true, e.message);
  }
  const no = [
    // A misconfigured join: two columns, fails for every login: a store failure, not "no such user".
    err(1267, "Illegal mix of collations (latin1_swedish_ci,IMPLICIT) and (utf8mb4_general_ci,IMPLICIT) for operation '='"),
    err(1253, "COLLATION 'utf8mb4_bin' is not valid for CHARACTER SET 'latin1'"),
    err(1146, "Table 'db.users' doesn't exist"),
    err(1054, "Unknown column 'x' in 'field list'"),
    err(1064, 'You have an error in your SQL syntax'),
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', errno: -111 }),
    Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }),
    null,
    undefined,
    'string',
  ];
  for (const e of no) {
    assert.equal(mysqlDialect.isUnrepresentable!(e), false, String((e as Error | null)?.message ?? e));
    assert.equal(mysqlDialect.isInvalidInput!(e), false, String((e as Error | null)?.message ?? e));
  }
});

test('postgresDialect: 22P05 and 22021 are unrepresentable text; 22P02 / 22003 stay invalid input only; other errors are neither', () => {
  for (const d of [postgresDialect(null), postgresDialect('und-x-icu')]) {
    for (const code of ['22P05', '22021']) {
      assert.equal(d.isUnrepresentable!({ code }), true, code);
      assert.equal(d.isInvalidInput!({ code }), true, code);
    }
    for (const code of ['22P02', '22003']) {
      assert.equal(d.isUnrepresentable!({ code }), false, code);
      assert.equal(d.isInvalidInput!({ code }), true, code);
    }
    for (const code of ['42P01', '42703', '57014', '08006', 'ECONNREFUSED', undefined]) {
      assert.equal(d.isUnrepresentable!({ code }), false, String(code));
      assert.equal(d.isInvalidInput!({ code }), false, String(code));
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// End to end

function seed(): string[] {
  return USERS.map((u) => `INSERT INTO users (id, email, username, password_hash) VALUES (${lit(String(u.id))}, ${lit(u.email)}, ${lit(u.username)}, ${lit(hashSync(u.password, 4))})`);
}

const CASES: { title: string; kind: Kind; open(): Promise<TestDatabase>; ddl: string[]; check(db: TestDatabase): Promise<void> }[] = [
  {
    title: 'MariaDB table with DEFAULT CHARSET=latin1',
    kind: 'mysql',
    open: () => createMysqlDatabase(),
    ddl: [
      // A legacy string key in latin1 too: GET /v1/users/{id} compares a bound id with it.
      `CREATE TABLE users (id VARCHAR(20) PRIMARY KEY, email VARCHAR(255) NOT NULL, username VARCHAR(255) NOT NULL,
         password_hash VARCHAR(255) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=latin1`,
      'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at TIMESTAMP NULL) ENGINE=InnoDB DEFAULT CHARSET=latin1',
    ],
    async check(db) {
      const mysql = (await import('mysql2/promise')).default;
      const c = await mysql.createConnection({ uri: db.url });
      try {
        const [rows] = await c.query("SELECT CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email'");
        assert.equal((rows as { cs: string }[])[0]?.cs, 'latin1');
      } finally {
        await c.end();
      }
    },
  },
  {
    title: "PostgreSQL database with ENCODING 'LATIN1'",
    kind: 'postgres',
    open: () => createPostgresDatabase({ encoding: 'LATIN1' }),
    ddl: [
      'CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, username text NOT NULL, password_hash text NOT NULL)',
      'CREATE TABLE legacy_gateway_migrations (user_id text PRIMARY KEY, migrated_at timestamptz)',
    ],
    async check(db) {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const r = await c.query('SELECT pg_encoding_to_char(encoding) AS enc FROM pg_database WHERE datname = current_database()');
        assert.equal(r.rows[0].enc, 'LATIN1');
      } finally {
        await c.end();
      }
    },
  },
];

for (const cs of CASES) {
  describe(`Unrepresentable logins: ${cs.title}`, { skip: SKIP[cs.kind] }, () => {
    let db: TestDatabase | undefined;
    let gw: TestGateway | undefined;
    let token = '';
    const post = (p: string, body: unknown) => call(gw!.url, 'POST', p, { token, body });

    async function cleanup() {
      const [g, d] = [gw, db];
      gw = undefined;
      db = undefined;
      await closeAndDrop(g, d);
    }

    before(async () => {
      try {
        db = await cs.open();
        await db.exec([...cs.ddl, ...seed()]);
        gw = await startTestGateway({
          store: testStore(cs.kind, db.url),
          passwords: { scheme: 'bcrypt' },
          config: { limits: { login_failures: { max: 1000, window_s: 60 } }, profile: { user_id_prefix: '' } },
        });
        token = await gw.token();
      } catch (e) {
        await cleanup();
        throw e;
      }
    });
    after(cleanup);

    test('the store really is latin1', async () => {
      await cs.check(db!);
    });

    test('positive control: ASCII and Latin-1 logins the columns can hold → 200', async () => {
      for (const u of USERS) {
        for (const login of [u.email, u.username, u.username.toUpperCase()]) {
          const r = await post('/v1/credentials/verify', { login, password: u.password });
          assert.equal(r.status, 200, `${login}: ${r.text}`);
          assert.equal(r.json.user.user_id, String(u.id));
        }
      }
    });

    test(`${FOREIGN.length} Cyrillic / CJK / emoji logins answer exactly like an unknown ASCII login; never 503; /readyz 200; nothing logged as a store failure`, async () => {
      const logStart = gw!.logs.length;
      const unknownVerify = await post('/v1/credentials/verify', { login: UNKNOWN_ASCII, password: 'whatever-password' });
      assert.equal(unknownVerify.status, 401, unknownVerify.text);
      const unknownLookup = await post('/v1/users/lookup', { login: UNKNOWN_ASCII });
      assert.equal(unknownLookup.status, 404, unknownLookup.text);
      assert.equal(unknownLookup.json.error, 'user_not_found');
      for (const login of FOREIGN) {
        const v = await post('/v1/credentials/verify', { login, password: 'whatever-password' });
        assert.equal(v.status, 401, `verify ${login}: ${v.status} ${v.text}`);
        assert.equal(v.text, unknownVerify.text, `verify ${login}: body differs from an unknown ASCII login's`);
        const l = await post('/v1/users/lookup', { login });
        assert.equal(l.status, 404, `lookup ${login}: ${l.status} ${l.text}`);
        assert.equal(l.json?.error, 'user_not_found');
        assert.equal(l.text, unknownLookup.text, `lookup ${login}: body differs from an unknown ASCII login's`);
        const byId = await call(gw!.url, 'GET', `/v1/users/${encodeURIComponent(login)}`, { token });
        assert.equal(byId.status, 404, `GET /v1/users/${login}: ${byId.status} ${byId.text}`);
      }
      const ready = await call(gw!.url, 'GET', '/readyz');
      assert.equal(ready.status, 200, ready.text);
      const failures = gw!.logs.slice(logStart).filter((line) => /legacy store unavailable/.test(line));
      assert.deepEqual(failures, []);
      // And the real users are untouched by all that.
      const r = await post('/v1/credentials/verify', { login: USERS[1]!.email, password: USERS[1]!.password });
      assert.equal(r.status, 200, r.text);
    });
  });
}
