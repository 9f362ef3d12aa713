/**
 * Look-alike logins, end to end (real gateway, real tokens, loopback HTTP), on every store kind.
 *
 * The rule: a login selects a row only when the row's email or username equals the login after trim() and
 * toLowerCase() — no NFKC, no NFC, no accent stripping, no removal of ignorable characters. A store may hand back
 * candidates through any collation; only exact matches under the rule count; two exact matches are 409.
 *
 * The corpus (test/helpers/lookalikes.ts) holds spellings of alice's username and email (and of strasse and fiona)
 * that a collation may equate with the real ones: fullwidth, accented, NFD, dotted/dotless i, Cyrillic and Greek
 * homoglyphs, zero-width characters, soft hyphen, mathematical alphanumerics, ligatures, ß. For each, on each store:
 *   POST /v1/credentials/verify {login, password: the target's REAL password} → 401 invalid_credentials
 *   POST /v1/users/lookup {login}                                            → 404 user_not_found
 * plus positive controls, whitespace that trim() removes (200), case-only duplicates (409), accent-only "duplicates"
 * (NOT ambiguous), and the failed-login limiter counting per legacy account rather than per spelling.
 *
 * Stores: SQLite (the harness's store), PostgreSQL, MariaDB with utf8mb4_unicode_ci columns, MariaDB with
 * utf8mb4_general_ci columns, and MongoDB (default collation {locale: 'en', strength: 2}) when TEST_MONGODB_URL is
 * set. A database server that is missing skips its suite, or fails it under TEST_REQUIRE_DB=1 / CI. Every gateway
 * is closed and every database dropped afterwards, also when an assertion fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import type * as Mongo from 'mongodb';
import mysql from 'mysql2/promise';
import type { DemoUser } from '../../src/demo.js';
import { availability, createMysqlDatabase, createPostgresDatabase, env, lit, type TestDatabase } from '../helpers/databases.js';
import { call, startTestGateway, type ApiResponse, type TestGateway } from '../helpers/harness.js';
import { assertCorpus, LOOKALIKE_USERS, MUST_NOT_MATCH, RULE_MATCHES, show, type LookalikeUser, type UserKey } from '../helpers/lookalikes.js';
import { testStore } from '../helpers/store-config.js';

assertCorpus();

const VERIFY = '/v1/credentials/verify';
const LOOKUP = '/v1/users/lookup';
const PREFIX = 'legacy|';
const WRONG = 'definitely-not-the-password';
const USERS: LookalikeUser[] = Object.values(LOOKALIKE_USERS);
const U = LOOKALIKE_USERS;

// ---------------------------------------------------------------------------------------------------------
// Stores

interface Opened {
  /** The store section for the gateway (absent: the harness's SQLite store seeded with `users`). */
  store?: Record<string, unknown>;
  /** Proves the store is what the suite says (column collations, ...). */
  check?(): Promise<void>;
  cleanup(): Promise<void>;
}

interface StoreSpec {
  name: string;
  skip: string | false;
  open(): Promise<Opened>;
}

const relationalStore = (adapter: 'postgres' | 'mysql', url: string) => testStore(adapter, url);

function seedRows(): string[] {
  return USERS.map((u) => `INSERT INTO users (id, email, username, password_hash) VALUES (${lit(u.id)}, ${lit(u.email)}, ${lit(u.username)}, ${lit(hashSync(u.password, 4))})`);
}

async function withDb(open: () => Promise<TestDatabase>, ddl: string[], build: (db: TestDatabase) => Opened): Promise<Opened> {
  const db = await open();
  try {
    await db.exec([...ddl, ...seedRows()]);
    return build(db);
  } catch (e) {
    await db.drop();
    throw e;
  }
}

function mariadb(collation: 'utf8mb4_unicode_ci' | 'utf8mb4_general_ci', skip: string | false): StoreSpec {
  return {
    name: `MariaDB (${collation})`,
    skip,
    open: () =>
      withDb(
        createMysqlDatabase,
        [
          `CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${collation}, username VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${collation}, password_hash VARCHAR(255)) ENGINE=InnoDB`,
          'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at TIMESTAMP NULL) ENGINE=InnoDB',
        ],
        (db) => ({
          store: relationalStore('mysql', db.url),
          async check() {
            const c = await mysql.createConnection({ uri: db.url });
            try {
              const [rows] = await c.query(
                "SELECT COLUMN_NAME AS c, COLLATION_NAME AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME IN ('email', 'username') ORDER BY COLUMN_NAME",
              );
              assert.deepEqual(rows, [{ c: 'email', k: collation }, { c: 'username', k: collation }]);
              // And the collation really equates look-alikes (otherwise this suite would prove nothing).
              const [eq] = await c.query(`SELECT (_utf8mb4'\u00e0lice' COLLATE ${collation}) = _utf8mb4'alice' AS same`);
              assert.equal((eq as { same: number }[])[0]?.same, 1, `${collation} equates \u00e0lice with alice`);
            } finally {
              await c.end();
            }
          },
          cleanup: () => db.drop(),
        }),
      ),
  };
}

// MongoDB: only with TEST_MONGODB_URL (no server can be installed here; CI sets it).
const mongodb = createRequire(import.meta.url)('mongodb') as typeof Mongo;

async function mongoAvailability(): Promise<string | false> {
  if (!env.mongodbUrl) return 'MongoDB not configured: set TEST_MONGODB_URL=mongodb://host:27017 (CI sets it)';
  const c = new mongodb.MongoClient(env.mongodbUrl, { serverSelectionTimeoutMS: 3000 });
  try {
    await c.db('admin').command({ ping: 1 });
    return false;
  } catch (e) {
    const reason = `MongoDB at TEST_MONGODB_URL not reachable (${(e as Error).name})`;
    if (env.requireDatabases) throw new Error(`required database suite cannot run: ${reason}`);
    return reason;
  } finally {
    await c.close();
  }
}

async function openMongo(): Promise<Opened> {
  const name = `lg_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const client = new mongodb.MongoClient(env.mongodbUrl!, { serverSelectionTimeoutMS: 5000 });
  const db = client.db(name);
  const drop = async () => {
    try {
      await db.dropDatabase();
    } catch (e) {
      if ((e as { code?: unknown }).code !== 59) throw e; // an emulator without dropDatabase
      for (const n of ['users', 'legacy_gateway_migrations']) await db.collection(n).deleteMany({});
    } finally {
      await client.close();
    }
  };
  try {
    const users = db.collection('users');
    // The indexes the adapter documents: the login query's collation on each login field.
    await users.createIndex({ email: 1 }, { collation: { locale: 'en', strength: 2 } });
    await users.createIndex({ username: 1 }, { collation: { locale: 'en', strength: 2 } });
    await users.insertMany(USERS.map((u) => ({ _id: u.id as unknown as Mongo.ObjectId, email: u.email, username: u.username, password_hash: hashSync(u.password, 4) })));
    // The side collection exists before the gateway starts.
    const side = db.collection('legacy_gateway_migrations');
    await side.insertOne({ _id: 'placeholder' as unknown as Mongo.ObjectId, migrated_at: new Date() });
    await side.deleteOne({ _id: 'placeholder' as unknown as Mongo.ObjectId });
  } catch (e) {
    await drop();
    throw e;
  }
  return {
    store: {
      adapter: 'mongodb',
      url: env.mongodbUrl!,
      users: { table: 'users', columns: { id: '_id', email: 'email', username: 'username', password: 'password_hash' } },
      migration: { table: 'legacy_gateway_migrations' },
      mongodb: { database: name },
    },
    cleanup: drop,
  };
}

const SKIP_PG = await availability('postgres');
const SKIP_MY = await availability('mysql');
const SKIP_MONGO = await mongoAvailability();

const STORES: StoreSpec[] = [
  { name: 'SQLite', skip: false, open: async () => ({ cleanup: async () => {} }) },
  {
    name: 'PostgreSQL',
    skip: SKIP_PG,
    open: () =>
      withDb(
        createPostgresDatabase,
        [
          'CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), username varchar(255), password_hash varchar(255))',
          'CREATE TABLE legacy_gateway_migrations (user_id text PRIMARY KEY, migrated_at timestamptz)',
        ],
        (db) => ({ store: relationalStore('postgres', db.url), cleanup: () => db.drop() }),
      ),
  },
  mariadb('utf8mb4_unicode_ci', SKIP_MY),
  mariadb('utf8mb4_general_ci', SKIP_MY),
  { name: 'MongoDB (collation en/2)', skip: SKIP_MONGO, open: openMongo },
];

// ---------------------------------------------------------------------------------------------------------
// Gateway and HTTP helpers

/** The harness's SQLite store gets the same users (bcrypt) as the database stores. */
const DEMO_USERS: DemoUser[] = USERS.map((u) => ({ id: u.id, email: u.email, username: u.username, password: u.password, scheme: 'bcrypt' }));

function startGateway(opened: Opened, maxFailures: number): Promise<TestGateway> {
  return startTestGateway({
    users: DEMO_USERS,
    ...(opened.store ? { store: opened.store } : {}),
    config: { limits: { login_failures: { max: maxFailures, window_s: 60 } } },
    logLevel: 'warn',
  });
}

const userId = (u: LookalikeUser) => `${PREFIX}${u.id}`;
const whose = (id: unknown) => USERS.find((u) => userId(u) === id)?.username ?? String(id);

/** "200 selected alice (legacy|1)", "401 invalid_credentials", ... */
function outcome(r: ApiResponse): string {
  const user = r.json?.user as { user_id?: unknown } | undefined;
  if (user) return `${r.status} selected ${whose(user.user_id)} (${String(user.user_id)})`;
  return `${r.status} ${typeof r.json?.error === 'string' ? r.json.error : r.text.slice(0, 200)}`;
}

function expectUser(r: ApiResponse, u: LookalikeUser, what: string): void {
  assert.ok(r.status === 200 && r.json?.user?.user_id === userId(u), `${what}: expected 200 as ${u.username} (${userId(u)}), got ${outcome(r)}`);
}

function expectError(r: ApiResponse, status: number, error: string, what: string): void {
  assert.ok(r.status === status && r.json?.error === error, `${what}: expected ${status} ${error}, got ${outcome(r)}`);
}

// ---------------------------------------------------------------------------------------------------------
// The suites

for (const spec of STORES) {
  describe(`look-alike logins on ${spec.name}`, { skip: spec.skip }, () => {
    const S = spec.name;
    let opened: Opened | undefined;
    let gw: TestGateway | undefined;
    let token = '';
    const verify = (login: string, password: string) => call(gw!.url, 'POST', VERIFY, { token, body: { login, password } });
    const lookup = (login: string) => call(gw!.url, 'POST', LOOKUP, { token, body: { login } });
    /** Look-alikes that selected an account today: "<login> [kind]: verify → ..., lookup → ...". */
    const selected: string[] = [];
    const other: string[] = [];

    before(async () => {
      opened = await spec.open();
      gw = await startGateway(opened, 1000);
      token = await gw.token();
    });
    after(async () => {
      try {
        await gw?.close();
      } finally {
        await opened?.cleanup();
      }
    });

    if (spec.name.startsWith('MariaDB')) {
      test(`${S}: the users columns really use the collation under test`, async () => {
        await opened!.check!();
      });
    }

    test(`${S}: positive controls: every user by its own spelling; alice as 'alice', 'ALICE', ' Alice@Example.com '`, async () => {
      for (const login of ['alice', 'ALICE', ' Alice@Example.com ']) {
        expectUser(await verify(login, U.alice.password), U.alice, `${S}: verify ${show(login)}`);
        expectUser(await lookup(login), U.alice, `${S}: lookup ${show(login)}`);
      }
      for (const key of ['bob', 'strasse', 'fiona', 'kate', 'rene', 'reneAccent', 'dupOne', 'dupTwo'] as UserKey[]) {
        const u = U[key];
        expectUser(await verify(u.username, u.password), u, `${S}: verify ${show(u.username)}`);
        expectUser(await lookup(u.username.toUpperCase()), u, `${S}: lookup ${show(u.username.toUpperCase())}`);
      }
      expectError(await verify('alice', WRONG), 401, 'invalid_credentials', `${S}: verify 'alice' with a wrong password`);
    });

    describe(`${S}: ${MUST_NOT_MATCH.length} look-alikes select nobody (verify with the real password → 401, lookup → 404)`, { concurrency: 8 }, () => {
      for (const l of MUST_NOT_MATCH) {
        const target = U[l.target];
        test(`${S}: ${show(l.login)} [${l.kind}]`, async () => {
          const v = await verify(l.login, target.password);
          const k = await lookup(l.login);
          const line = `${show(l.login)} [${l.kind}]: verify with ${target.username}'s password → ${outcome(v)}; lookup → ${outcome(k)}`;
          if (v.status === 200 || k.status === 200) selected.push(line);
          else if (v.status !== 401 || k.status !== 404) other.push(line);
          expectError(v, 401, 'invalid_credentials', `${S}: verify ${show(l.login)} [${l.kind}] with ${target.username}'s real password`);
          expectError(k, 404, 'user_not_found', `${S}: lookup ${show(l.login)} [${l.kind}]`);
        });
      }
    });

    test(`${S}: summary: no look-alike selected an account`, () => {
      const n = MUST_NOT_MATCH.length;
      assert.ok(
        selected.length === 0 && other.length === 0,
        `${S}: ${selected.length} of ${n} look-alikes selected an account` +
          `${selected.length ? `:\n  ${selected.sort().join('\n  ')}` : ''}` +
          `${other.length ? `\n${other.length} answered neither 401/404 nor 200:\n  ${other.sort().join('\n  ')}` : ''}`,
      );
    });

    describe(`${S}: spellings the rule DOES match (trim() whitespace, toLowerCase() of the Kelvin sign) → 200`, { concurrency: 8 }, () => {
      for (const l of RULE_MATCHES) {
        const target = U[l.target];
        test(`${S}: ${show(l.login)} [${l.kind}]`, async () => {
          expectUser(await verify(l.login, target.password), target, `${S}: verify ${show(l.login)} [${l.kind}]`);
          expectUser(await lookup(l.login), target, `${S}: lookup ${show(l.login)} [${l.kind}]`);
        });
      }
    });

    test(`${S}: emails differing only by case ('Dup@Example.com', 'dup@example.com') → 409 ambiguous_login`, async () => {
      for (const login of ['dup@example.com', 'Dup@Example.com', ' DUP@EXAMPLE.COM ']) {
        expectError(await verify(login, U.dupOne.password), 409, 'ambiguous_login', `${S}: verify ${show(login)}`);
        expectError(await lookup(login), 409, 'ambiguous_login', `${S}: lookup ${show(login)}`);
      }
    });

    test(`${S}: emails differing by an accent ('rene@example.com', 'ren\u00e9@example.com') are NOT ambiguous`, async () => {
      for (const login of ['rene@example.com', 'RENE@Example.com']) {
        expectUser(await verify(login, U.rene.password), U.rene, `${S}: verify ${show(login)}`);
        expectUser(await lookup(login), U.rene, `${S}: lookup ${show(login)}`);
      }
      for (const login of ['ren\u00e9@example.com', 'REN\u00c9@EXAMPLE.COM']) {
        expectUser(await verify(login, U.reneAccent.password), U.reneAccent, `${S}: verify ${show(login)}`);
        expectUser(await lookup(login), U.reneAccent, `${S}: lookup ${show(login)}`);
      }
      // NFD of ren\u00e9 (e + combining acute) is neither row under the rule (no NFC).
      const nfd = 'rene\u0301@example.com';
      expectError(await verify(nfd, U.reneAccent.password), 401, 'invalid_credentials', `${S}: verify ${show(nfd)} [NFD]`);
      expectError(await lookup(nfd), 404, 'user_not_found', `${S}: lookup ${show(nfd)} [NFD]`);
    });

    test(`${S}: login_failures max 3: three failures under three spellings of alice lock alice (429 even with the right password)`, async () => {
      const limited = await startGateway(opened!, 3);
      try {
        const t = await limited.token();
        const v = (login: string, password: string) => call(limited.url, 'POST', VERIFY, { token: t, body: { login, password } });
        for (const login of ['alice', 'ALICE', 'Alice@Example.COM']) {
          expectError(await v(login, WRONG), 401, 'invalid_credentials', `${S}: wrong password for ${show(login)}`);
        }
        const fourth = await v('alice@example.com', U.alice.password);
        expectError(fourth, 429, 'too_many_attempts', `${S}: 4th attempt ('alice@example.com', correct password) after 3 failures under 'alice', 'ALICE', 'Alice@Example.COM'`);
        assert.ok(Number(fourth.headers.get('retry-after')) > 0, `${S}: 429 carries Retry-After`);
        // Other accounts are not affected.
        expectUser(await v('bob', U.bob.password), U.bob, `${S}: verify 'bob' while alice is locked`);
      } finally {
        await limited.close();
      }
    });
  });
}
