/**
 * Schema presets end to end: each framework's REAL table layout (every column the framework creates, with its
 * real type) on a real server of the dialect that framework usually runs on, seeded with stored passwords in the
 * framework's own format, and the real gateway (real tokens, loopback) started with nothing but
 * `store: { adapter, url, preset }` (plus the override under test). Everything is asserted through HTTP.
 *
 *   WordPress, Drupal 7, Laravel, SMF, OpenCart → MariaDB        Django, Devise → PostgreSQL
 *   ASP.NET Membership / Universal / Simple Membership / Identity → SQL Server in real life. SQL Server cannot run
 *   here, so these run on BOTH PostgreSQL and MariaDB as stand-ins, with the real table and column names quoted
 *   exactly as the frameworks create them and SQL Server's types mapped (uniqueidentifier → uuid / char(36),
 *   bit → boolean / tinyint(1) or bit(1), datetime → timestamp / datetime, datetimeoffset → timestamptz / datetime(6),
 *   nvarchar(max) / ntext → text / longtext). SQL Server itself (its driver, its bit and uniqueidentifier values,
 *   its collations) is NOT verified by this file.
 *
 * Stored values come from the fixture files made by independent tools: test/fixtures/passwords/{unix,kdf,digest,forum}.json
 * and, for Laravel and Devise, test/fixtures/presets.json (scripts/fixtures/presets.py: PHP password_hash and
 * python3-bcrypt, the exact command recorded per vector). Every database is dropped afterwards, even on failure.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { availability, createMysqlDatabase, createPostgresDatabase, lit, type TestDatabase } from '../helpers/databases.js';
import { djangoAuthUserTable, wordpressUsersTable } from '../helpers/framework-tables.js';
import { call, startTestGateway, type ApiResponse, type TestGateway } from '../helpers/harness.js';
import type { Profile } from '../../src/profile.js';

type Dialect = 'postgres' | 'mysql';
type Row = Record<string, unknown>;

const SKIP: Record<Dialect, string | false> = { postgres: await availability('postgres'), mysql: await availability('mysql') };

// ---------------------------------------------------------------------------------------------------------
// Fixture vectors

interface Vector {
  scheme: string;
  password: string;
  stored: string;
  expected: boolean;
  row?: { salt?: string; username?: string };
  params?: Record<string, unknown>;
  preset?: string;
  note?: string;
  source?: string;
}

function load(file: string): Vector[] {
  return JSON.parse(readFileSync(path.resolve(process.cwd(), 'test/fixtures', file), 'utf8')) as Vector[];
}

const UNIX = load('passwords/unix.json');
const KDF = load('passwords/kdf.json');
const DIGEST = load('passwords/digest.json');
const PRESET_VECTORS = load('presets.json');
const FORUM = load('passwords/forum.json');

/** The positive vector of `scheme` for `password` (optionally: whose stored value starts with `prefix`, with params or not). */
function vec(list: Vector[], scheme: string, password: string, opts: { prefix?: string; peppered?: boolean } = {}): Vector {
  const v = list.find(
    (x) =>
      x.scheme === scheme &&
      x.expected === true &&
      x.password === password &&
      (opts.prefix === undefined || x.stored.startsWith(opts.prefix)) &&
      (opts.peppered === undefined ? !x.params : opts.peppered === (typeof x.params?.pepper === 'string')),
  );
  assert.ok(v, `no positive ${scheme} vector for ${JSON.stringify(password)} ${JSON.stringify(opts)}`);
  return v;
}

/** The same stored value's negative twin must exist and say false (presets.json's own cross-check). */
function presetVec(preset: string, password: string, opts: { prefix?: string; peppered?: boolean } = {}): Vector {
  return vec(
    PRESET_VECTORS.filter((v) => v.preset === preset),
    opts.prefix?.startsWith('$argon2') ? 'argon2' : 'bcrypt',
    password,
    opts,
  );
}

const PHRASE = 'correct horse battery staple';
const LATIN = 'pässwörd✓';
const CYRILLIC = 'пароль';
const WRONG = 'definitely-not-the-password';

// ---------------------------------------------------------------------------------------------------------
// SQL helpers (test data only: the gateway itself always binds values)

/** A SQL expression inserted as is (now(), an interval, ...). */
class Sql {
  constructor(readonly sql: string) {}
}
const sql = (s: string) => new Sql(s);

function q(d: Dialect, name: string): string {
  return d === 'postgres' ? `"${name}"` : `\`${name}\``;
}

function insert(d: Dialect, table: string, row: Row): string {
  const cols = Object.keys(row).map((c) => q(d, c));
  const vals = Object.values(row).map((v) => (v instanceof Sql ? v.sql : lit(v)));
  return `INSERT INTO ${q(d, table)} (${cols.join(', ')}) VALUES (${vals.join(', ')})`;
}

/** SQL Server types of the ASP.NET schemas, as their usual stand-ins on each dialect. */
function mssqlTypes(d: Dialect, bit: 'tinyint' | 'bit' = 'tinyint') {
  return d === 'postgres'
    ? { guid: 'uuid', nv: (n: number) => `varchar(${n})`, nvmax: 'text', ntext: 'text', bit: 'boolean', datetime: 'timestamp(3)', dto: 'timestamptz', int: 'integer', identity: 'integer GENERATED BY DEFAULT AS IDENTITY', binary: 'bytea' }
    : { guid: 'char(36)', nv: (n: number) => `varchar(${n})`, nvmax: 'longtext', ntext: 'longtext', bit: bit === 'bit' ? 'bit(1)' : 'tinyint(1)', datetime: 'datetime(3)', dto: 'datetime(6)', int: 'int', identity: 'int AUTO_INCREMENT', binary: 'longblob' };
}

function sideTable(d: Dialect): string {
  return d === 'postgres'
    ? 'CREATE TABLE legacy_gateway_migrations (user_id varchar(255) PRIMARY KEY, migrated_at timestamptz NOT NULL)'
    : 'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at DATETIME(3) NOT NULL) ENGINE=InnoDB';
}

/** An instant relative to now, as each dialect writes it (UTC). */
function fromNow(d: Dialect, days: number): Sql {
  return d === 'postgres' ? sql(`now() + interval '${days} days'`) : sql(`UTC_TIMESTAMP(6) + INTERVAL ${days} DAY`);
}

// ---------------------------------------------------------------------------------------------------------
// Gateway and HTTP helpers

interface Gw {
  gw: TestGateway;
  verify(login: string, password: string): Promise<ApiResponse>;
  lookup(login: string): Promise<ApiResponse>;
  byId(id: string): Promise<ApiResponse>;
  status(): Promise<ApiResponse>;
  mark(id: string): Promise<ApiResponse>;
  unmark(id: string): Promise<ApiResponse>;
}

class Suite {
  db: TestDatabase | undefined;
  private readonly gateways: TestGateway[] = [];
  /** The gateway started with the suite's own preset configuration. */
  main!: Gw;

  constructor(readonly dialect: Dialect) {}

  async open(ddl: string[]): Promise<void> {
    this.db = this.dialect === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
    await this.db.exec(ddl);
  }

  async exec(statements: string[]): Promise<void> {
    await this.db!.exec(statements);
  }

  /** A real gateway on this database: `store` is the raw store section (as in YAML) besides adapter/url/migration. */
  async start(store: Row, passwords: Row = {}): Promise<Gw> {
    const gw = await startTestGateway({
      store: { adapter: this.dialect, url: this.db!.url, migration: { table: 'legacy_gateway_migrations' }, ...store },
      passwords,
      config: { profile: { user_id_prefix: '' } },
    });
    this.gateways.push(gw);
    const token = await gw.token();
    const post = (p: string, body: unknown) => call(gw.url, 'POST', p, { token, body });
    const id = (i: string) => encodeURIComponent(i);
    return {
      gw,
      verify: (login, password) => post('/v1/credentials/verify', { login, password }),
      lookup: (login) => post('/v1/users/lookup', { login }),
      byId: (i) => call(gw.url, 'GET', `/v1/users/${id(i)}`, { token }),
      status: () => call(gw.url, 'GET', '/v1/migration/status', { token }),
      mark: (i) => call(gw.url, 'PUT', `/v1/users/${id(i)}/migration`, { token }),
      unmark: (i) => call(gw.url, 'DELETE', `/v1/users/${id(i)}/migration`, { token }),
    };
  }

  /** Close every gateway, then drop the database; idempotent, and never skips the drop. */
  async cleanup(): Promise<void> {
    for (const gw of this.gateways.splice(0)) await gw.close().catch(() => {});
    const db = this.db;
    this.db = undefined;
    if (db) await db.drop();
  }
}

/**
 * describe() with a fresh database of `dialect`: `ddl` creates and seeds it, the main gateway is started with
 * `store` / `passwords`, and everything is torn down afterwards (also when setup fails half-way).
 */
function presetSuite(
  title: string,
  dialect: Dialect,
  setup: { ddl: (d: Dialect) => string[]; store: Row; passwords?: Row },
  body: (s: Suite) => void,
): void {
  describe(`${title} on ${dialect === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`, { skip: SKIP[dialect] }, () => {
    const s = new Suite(dialect);
    before(async () => {
      try {
        await s.open([...setup.ddl(dialect), sideTable(dialect)]);
        s.main = await s.start(setup.store, setup.passwords ?? {});
      } catch (e) {
        await s.cleanup();
        throw e;
      }
    });
    after(async () => s.cleanup());
    body(s);
  });
}


function profile(p: Partial<Profile> & { user_id: string }): Profile {
  return { blocked: false, app_metadata: {}, user_metadata: {}, ...p };
}

function expectError(r: ApiResponse, status: number, error: string, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.error, error, `${what}: ${r.text}`);
}

/**
 * One seeded user through HTTP: the right password → 200 and exactly `expected` (or 403 user_blocked when the
 * legacy flags block the account); a wrong password → 401; lookup by every login and GET by id → 200, deep-equal.
 */
async function checkUser(g: Gw, u: { logins: string[]; password: string; expected: Profile }): Promise<void> {
  for (const login of u.logins) {
    const ok = await g.verify(login, u.password);
    if (u.expected.blocked) expectError(ok, 403, 'user_blocked', `verify ${login} (blocked)`);
    else {
      assert.equal(ok.status, 200, `verify ${login}: ${ok.text}`);
      assert.deepEqual(ok.json.user, u.expected, `verify ${login}`);
    }
    const lk = await g.lookup(login);
    assert.equal(lk.status, 200, `lookup ${login}: ${lk.text}`);
    assert.deepEqual(lk.json.user, u.expected, `lookup ${login}`);
  }
  expectError(await g.verify(u.logins[0]!, WRONG), 401, 'invalid_credentials', `verify ${u.logins[0]} with a wrong password`);
  const byId = await g.byId(u.expected.user_id);
  assert.equal(byId.status, 200, `GET ${u.expected.user_id}: ${byId.text}`);
  assert.deepEqual(byId.json.user, u.expected, `GET ${u.expected.user_id}`);
}

async function expectTotal(g: Gw, total: number): Promise<void> {
  const r = await g.status();
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.total, total, `status: ${r.text}`);
}

// =========================================================================================================
// ASP.NET Membership (SqlMembershipProvider, aspnet_regsql): aspnet_Applications + aspnet_Users + aspnet_Membership
// =========================================================================================================

const APP_ROOT = '5b9c1d7e-2f4a-4e8b-9c3d-1a2b3c4d5e01';
const APP_OTHER = '5b9c1d7e-2f4a-4e8b-9c3d-1a2b3c4d5e02';

/** aspnet_membership_sha1 vectors carry the PasswordSalt they were made with (row.salt). */
const M_ALICE = vec(KDF, 'aspnet_membership_sha1', PHRASE);
const M_BOB = vec(KDF, 'aspnet_membership_sha1', 'hashcat');
const M_CAROL = vec(KDF, 'aspnet_membership_sha1', CYRILLIC);
const M_FRANK = vec(KDF, 'aspnet_membership_sha1', LATIN);
const CLEAR = vec(DIGEST, 'plaintext', 'Tr0ub4dor&3');

const MEMBERSHIP_USERS = {
  alice: { UserId: '0f8fad5b-d9cb-469f-a165-70867728950e', UserName: 'Alice', Email: 'Alice@Example.COM' },
  bob: { UserId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', UserName: 'bob', Email: 'bob@example.com' },
  carol: { UserId: '16fd2706-8baf-433b-82eb-8c7fada847da', UserName: 'Carol', Email: 'carol@example.com' },
  dave: { UserId: '886313e1-3b8a-5372-9b90-0c9aee199e5d', UserName: 'dave', Email: 'Dave@Example.com' },
  erin: { UserId: 'a8098c1a-f86e-11da-bd1a-00112444be1e', UserName: 'erin', Email: 'erin@example.com' },
  frank: { UserId: '6fa459ea-ee8a-3ca4-894e-db77e160355e', UserName: 'Frank', Email: null },
};

function membershipDdl(d: Dialect): string[] {
  const t = mssqlTypes(d);
  const Q = (n: string) => q(d, n);
  const F = d === 'postgres' ? 'FALSE' : '0';
  const when = '2012-06-01 10:00:00';
  const user = (u: { UserId: string; UserName: string }, app = APP_ROOT, anonymous = false) =>
    insert(d, 'aspnet_Users', {
      ApplicationId: app, UserId: u.UserId, UserName: u.UserName, LoweredUserName: u.UserName.toLowerCase(),
      MobileAlias: null, IsAnonymous: anonymous, LastActivityDate: when,
    });
  const membership = (
    u: { UserId: string; Email: string | null },
    m: { Password: string; PasswordFormat: number; PasswordSalt: string; IsApproved?: boolean; IsLockedOut?: boolean },
    app = APP_ROOT,
  ) =>
    insert(d, 'aspnet_Membership', {
      ApplicationId: app, UserId: u.UserId, Password: m.Password, PasswordFormat: m.PasswordFormat, PasswordSalt: m.PasswordSalt,
      MobilePIN: null, Email: u.Email, LoweredEmail: u.Email?.toLowerCase() ?? null, PasswordQuestion: null, PasswordAnswer: null,
      IsApproved: m.IsApproved ?? true, IsLockedOut: m.IsLockedOut ?? false, CreateDate: when, LastLoginDate: when,
      LastPasswordChangedDate: when, LastLockoutDate: '1754-01-01 00:00:00', FailedPasswordAttemptCount: 0,
      FailedPasswordAttemptWindowStart: '1754-01-01 00:00:00', FailedPasswordAnswerAttemptCount: 0,
      FailedPasswordAnswerAttemptWindowStart: '1754-01-01 00:00:00', Comment: null,
    });
  const U = MEMBERSHIP_USERS;
  return [
    // InstallCommon.sql / InstallMembership.sql (aspnet_regsql), SQL Server types mapped.
    `CREATE TABLE ${Q('aspnet_Applications')} (
      ${Q('ApplicationName')} ${t.nv(256)} NOT NULL UNIQUE,
      ${Q('LoweredApplicationName')} ${t.nv(256)} NOT NULL UNIQUE,
      ${Q('ApplicationId')} ${t.guid} NOT NULL PRIMARY KEY,
      ${Q('Description')} ${t.nv(256)})`,
    `CREATE TABLE ${Q('aspnet_Users')} (
      ${Q('ApplicationId')} ${t.guid} NOT NULL,
      ${Q('UserId')} ${t.guid} NOT NULL PRIMARY KEY,
      ${Q('UserName')} ${t.nv(256)} NOT NULL,
      ${Q('LoweredUserName')} ${t.nv(256)} NOT NULL,
      ${Q('MobileAlias')} ${t.nv(16)} DEFAULT NULL,
      ${Q('IsAnonymous')} ${t.bit} NOT NULL DEFAULT ${F},
      ${Q('LastActivityDate')} ${t.datetime} NOT NULL,
      FOREIGN KEY (${Q('ApplicationId')}) REFERENCES ${Q('aspnet_Applications')} (${Q('ApplicationId')}))`,
    `CREATE UNIQUE INDEX ${Q('aspnet_Users_Index')} ON ${Q('aspnet_Users')} (${Q('ApplicationId')}, ${Q('LoweredUserName')})`,
    `CREATE TABLE ${Q('aspnet_Membership')} (
      ${Q('ApplicationId')} ${t.guid} NOT NULL,
      ${Q('UserId')} ${t.guid} NOT NULL PRIMARY KEY,
      ${Q('Password')} ${t.nv(128)} NOT NULL,
      ${Q('PasswordFormat')} ${t.int} NOT NULL DEFAULT 0,
      ${Q('PasswordSalt')} ${t.nv(128)} NOT NULL,
      ${Q('MobilePIN')} ${t.nv(16)},
      ${Q('Email')} ${t.nv(256)},
      ${Q('LoweredEmail')} ${t.nv(256)},
      ${Q('PasswordQuestion')} ${t.nv(256)},
      ${Q('PasswordAnswer')} ${t.nv(128)},
      ${Q('IsApproved')} ${t.bit} NOT NULL,
      ${Q('IsLockedOut')} ${t.bit} NOT NULL,
      ${Q('CreateDate')} ${t.datetime} NOT NULL,
      ${Q('LastLoginDate')} ${t.datetime} NOT NULL,
      ${Q('LastPasswordChangedDate')} ${t.datetime} NOT NULL,
      ${Q('LastLockoutDate')} ${t.datetime} NOT NULL,
      ${Q('FailedPasswordAttemptCount')} ${t.int} NOT NULL,
      ${Q('FailedPasswordAttemptWindowStart')} ${t.datetime} NOT NULL,
      ${Q('FailedPasswordAnswerAttemptCount')} ${t.int} NOT NULL,
      ${Q('FailedPasswordAnswerAttemptWindowStart')} ${t.datetime} NOT NULL,
      ${Q('Comment')} ${t.ntext},
      FOREIGN KEY (${Q('ApplicationId')}) REFERENCES ${Q('aspnet_Applications')} (${Q('ApplicationId')}),
      FOREIGN KEY (${Q('UserId')}) REFERENCES ${Q('aspnet_Users')} (${Q('UserId')}))`,
    insert(d, 'aspnet_Applications', { ApplicationName: '/', LoweredApplicationName: '/', ApplicationId: APP_ROOT, Description: null }),
    ...Object.values(U).map((u) => user(u)),
    // An anonymous-identification profile row: in aspnet_Users, never in aspnet_Membership.
    user({ UserId: 'd1f0e4c2-6b5a-4c3e-8f7d-9e0a1b2c3d4f', UserName: '3b241101-e2bb-4255-8caf-4136c566a962' }, APP_ROOT, true),
    // PasswordFormat 1 = Hashed (SHA1 under .NET 2.0–3.5), the salt in PasswordSalt.
    membership(U.alice, { Password: M_ALICE.stored, PasswordFormat: 1, PasswordSalt: M_ALICE.row!.salt! }),
    membership(U.bob, { Password: M_BOB.stored, PasswordFormat: 1, PasswordSalt: M_BOB.row!.salt!, IsApproved: false }),
    membership(U.carol, { Password: M_CAROL.stored, PasswordFormat: 1, PasswordSalt: M_CAROL.row!.salt!, IsLockedOut: true }),
    // PasswordFormat 0 = Clear: the provider still writes a salt.
    membership(U.dave, { Password: CLEAR.stored, PasswordFormat: 0, PasswordSalt: 'q9B1dXc2KHqk0cX2mB3T6w==' }),
    // PasswordFormat 2 = Encrypted with the machine key: base64 ciphertext the gateway cannot check.
    membership(U.erin, { Password: 'hC4a2Jq5QbU0lW3tV2zS6S0G4Yk1c9D8m7n6b5v4c3x2z1a0s9d8f7g6h5j4k3l2', PasswordFormat: 2, PasswordSalt: 'Xb2m0Gq1Vd4nE3Zr7Hc8Ww==' }),
    membership(U.frank, { Password: M_FRANK.stored, PasswordFormat: 1, PasswordSalt: M_FRANK.row!.salt! }),
  ];
}

for (const dialect of ['postgres', 'mysql'] as const) {
  presetSuite('preset aspnet-membership', dialect, { ddl: membershipDdl, store: { preset: 'aspnet-membership' } }, (s) => {
    const U = MEMBERSHIP_USERS;
    const p = (u: { UserId: string; UserName: string; Email: string | null }, extra: Partial<Profile> = {}) =>
      profile({ user_id: u.UserId, ...(u.Email ? { email: u.Email.toLowerCase() } : {}), username: u.UserName.toLowerCase(), ...extra });

    test('PasswordFormat 1 (SHA1 + PasswordSalt): verify by email and by user name, lookup and GET deep-equal', async () => {
      await checkUser(s.main, { logins: ['alice@example.com', 'ALICE'], password: M_ALICE.password, expected: p(U.alice) });
      await checkUser(s.main, { logins: ['frank'], password: M_FRANK.password, expected: p(U.frank) });
    });

    test('IsApproved = 0 and IsLockedOut = 1 each block: 403 after the right password, lookup says blocked', async () => {
      await checkUser(s.main, { logins: ['bob@example.com', 'bob'], password: M_BOB.password, expected: p(U.bob, { blocked: true }) });
      await checkUser(s.main, { logins: ['carol', 'carol@example.com'], password: M_CAROL.password, expected: p(U.carol, { blocked: true }) });
    });

    test('PasswordFormat 0 (Clear) verifies; 2 (Encrypted) verifies false but the user is still found', async () => {
      await checkUser(s.main, { logins: ['dave@example.com', 'dave'], password: CLEAR.password, expected: p(U.dave) });
      expectError(await s.main.verify('erin', 'the-real-password-is-encrypted'), 401, 'invalid_credentials', 'PasswordFormat 2');
      const erin = await s.main.lookup('erin@example.com');
      assert.equal(erin.status, 200, erin.text);
      assert.deepEqual(erin.json.user, p(U.erin));
    });

    test('anonymous aspnet_Users rows (no aspnet_Membership row) are not users', async () => {
      expectError(await s.main.lookup('3b241101-e2bb-4255-8caf-4136c566a962'), 404, 'user_not_found', 'anonymous row');
      await expectTotal(s.main, 6);
    });

    test('uniqueidentifier user ids work for the migration mark', async () => {
      const marked = await s.main.mark(U.alice.UserId);
      assert.equal(marked.status, 200, marked.text);
      assert.equal(marked.json.user_id, U.alice.UserId);
      expectError(await s.main.verify('alice', M_ALICE.password), 401, 'invalid_credentials', 'migrated user');
      expectError(await s.main.lookup('alice'), 404, 'user_not_found', 'migrated user');
      assert.equal((await s.main.status()).json.migrated, 1);
      assert.equal((await s.main.unmark(U.alice.UserId)).status, 204);
      assert.equal((await s.main.verify('alice', M_ALICE.password)).status, 200);
      expectError(await s.main.byId('not-a-guid'), 404, 'user_not_found', 'malformed uniqueidentifier');
    });

    test('override: several applications in one database, one selected by a filter on aspnet_Applications', async () => {
      const other = { UserId: '9a3b2c1d-0e9f-4a8b-8c7d-6e5f4a3b2c1d', UserName: 'ALICE', Email: 'alice@intranet.example' };
      await s.exec([
        insert(s.dialect, 'aspnet_Applications', { ApplicationName: '/Intranet', LoweredApplicationName: '/intranet', ApplicationId: APP_OTHER, Description: null }),
        insert(s.dialect, 'aspnet_Users', {
          ApplicationId: APP_OTHER, UserId: other.UserId, UserName: other.UserName, LoweredUserName: 'alice', MobileAlias: null,
          IsAnonymous: false, LastActivityDate: '2013-01-01 00:00:00',
        }),
        insert(s.dialect, 'aspnet_Membership', {
          ApplicationId: APP_OTHER, UserId: other.UserId, Password: CLEAR.stored, PasswordFormat: 0, PasswordSalt: 'AAAAAAAAAAAAAAAAAAAAAA==',
          Email: other.Email, LoweredEmail: other.Email, IsApproved: true, IsLockedOut: false, CreateDate: '2013-01-01 00:00:00',
          LastLoginDate: '2013-01-01 00:00:00', LastPasswordChangedDate: '2013-01-01 00:00:00', LastLockoutDate: '1754-01-01 00:00:00',
          FailedPasswordAttemptCount: 0, FailedPasswordAttemptWindowStart: '1754-01-01 00:00:00', FailedPasswordAnswerAttemptCount: 0,
          FailedPasswordAnswerAttemptWindowStart: '1754-01-01 00:00:00',
        }),
      ]);
      // Without a filter the same user name in two applications is ambiguous, as it should be.
      expectError(await s.main.lookup('alice'), 409, 'ambiguous_login', 'alice in two applications');
      await expectTotal(s.main, 7);
      const root = await s.start({
        preset: 'aspnet-membership',
        users: { filter: [{ column: 'a.LoweredApplicationName', op: '=', value: '/' }] },
      });
      await checkUser(root, { logins: ['alice', 'alice@example.com'], password: M_ALICE.password, expected: p(U.alice) });
      expectError(await root.lookup('alice@intranet.example'), 404, 'user_not_found', 'user of another application');
      await expectTotal(root, 6);
    });
  });
}

// =========================================================================================================
// ASP.NET Universal Providers (System.Web.Providers DefaultMembershipProvider): Applications + Users + Memberships
// =========================================================================================================

const UV_ALICE = vec(KDF, 'aspnet_universal', PHRASE);
const UV_BOB = vec(KDF, 'aspnet_universal', 'Password1!');
const UV_CAROL = vec(KDF, 'aspnet_universal', LATIN);
/** The vector whose salt is longer than the 64-byte HMAC key. */
const UV_DAVE = KDF.find((v) => v.scheme === 'aspnet_universal' && v.expected && v.password === CYRILLIC && (v.row?.salt?.length ?? 0) > 64)!;
const UV_CLEAR = vec(DIGEST, 'plaintext', 'password');

const UNIVERSAL_USERS = {
  alice: { UserId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', UserName: 'Alice', Email: 'alice@example.com' },
  bob: { UserId: '21ec2020-3aea-4069-a2dd-08002b30309d', UserName: 'Bob', Email: 'Bob@Example.com' },
  carol: { UserId: 'b4a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d', UserName: 'carol', Email: 'carol@example.com' },
  dave: { UserId: 'c0ffee00-1234-4abc-8def-0123456789ab', UserName: 'dave', Email: 'dave@example.com' },
  erin: { UserId: 'deadbeef-0000-4000-8000-000000000005', UserName: 'erin', Email: 'erin@example.com' },
};

function universalDdl(d: Dialect): string[] {
  // On MariaDB this schema uses bit(1) (what some migration tools make of SQL Server's bit): mysql2 returns Buffers.
  const t = mssqlTypes(d, 'bit');
  const Q = (n: string) => q(d, n);
  const when = '2013-03-01 08:00:00';
  const U = UNIVERSAL_USERS;
  const member = (u: { UserId: string; UserName: string; Email: string }, m: { Password: string; PasswordFormat: number; PasswordSalt: string; IsApproved?: boolean; IsLockedOut?: boolean }) => [
    insert(d, 'Users', { UserId: u.UserId, ApplicationId: APP_ROOT, UserName: u.UserName, IsAnonymous: false, LastActivityDate: when }),
    insert(d, 'Memberships', {
      UserId: u.UserId, ApplicationId: APP_ROOT, Password: m.Password, PasswordFormat: m.PasswordFormat, PasswordSalt: m.PasswordSalt,
      Email: u.Email, PasswordQuestion: null, PasswordAnswer: null, IsApproved: m.IsApproved ?? true, IsLockedOut: m.IsLockedOut ?? false,
      CreateDate: when, LastLoginDate: when, LastPasswordChangedDate: when, LastLockoutDate: '1754-01-01 00:00:00',
      FailedPasswordAttemptCount: 0, FailedPasswordAttemptWindowStart: '1754-01-01 00:00:00', FailedPasswordAnswerAttemptCount: 0,
      // Sic: the Universal Providers' column really is "...WindowsStart".
      FailedPasswordAnswerAttemptWindowsStart: '1754-01-01 00:00:00', Comment: null,
    }),
  ];
  return [
    // The tables DefaultMembershipProvider's code-first model creates, SQL Server types mapped.
    `CREATE TABLE ${Q('Applications')} (
      ${Q('ApplicationName')} ${t.nv(235)} NOT NULL,
      ${Q('ApplicationId')} ${t.guid} NOT NULL PRIMARY KEY,
      ${Q('Description')} ${t.nv(256)})`,
    `CREATE TABLE ${Q('Users')} (
      ${Q('UserId')} ${t.guid} NOT NULL PRIMARY KEY,
      ${Q('ApplicationId')} ${t.guid} NOT NULL,
      ${Q('UserName')} ${t.nv(50)} NOT NULL,
      ${Q('IsAnonymous')} ${t.bit} NOT NULL,
      ${Q('LastActivityDate')} ${t.datetime} NOT NULL,
      FOREIGN KEY (${Q('ApplicationId')}) REFERENCES ${Q('Applications')} (${Q('ApplicationId')}))`,
    `CREATE TABLE ${Q('Memberships')} (
      ${Q('UserId')} ${t.guid} NOT NULL PRIMARY KEY,
      ${Q('ApplicationId')} ${t.guid} NOT NULL,
      ${Q('Password')} ${t.nv(128)} NOT NULL,
      ${Q('PasswordFormat')} ${t.int} NOT NULL,
      ${Q('PasswordSalt')} ${t.nv(128)} NOT NULL,
      ${Q('Email')} ${t.nv(256)},
      ${Q('PasswordQuestion')} ${t.nv(256)},
      ${Q('PasswordAnswer')} ${t.nv(128)},
      ${Q('IsApproved')} ${t.bit} NOT NULL,
      ${Q('IsLockedOut')} ${t.bit} NOT NULL,
      ${Q('CreateDate')} ${t.datetime} NOT NULL,
      ${Q('LastLoginDate')} ${t.datetime} NOT NULL,
      ${Q('LastPasswordChangedDate')} ${t.datetime} NOT NULL,
      ${Q('LastLockoutDate')} ${t.datetime} NOT NULL,
      ${Q('FailedPasswordAttemptCount')} ${t.int} NOT NULL,
      ${Q('FailedPasswordAttemptWindowStart')} ${t.datetime} NOT NULL,
      ${Q('FailedPasswordAnswerAttemptCount')} ${t.int} NOT NULL,
      ${Q('FailedPasswordAnswerAttemptWindowsStart')} ${t.datetime} NOT NULL,
      ${Q('Comment')} ${t.nv(256)},
      FOREIGN KEY (${Q('ApplicationId')}) REFERENCES ${Q('Applications')} (${Q('ApplicationId')}),
      FOREIGN KEY (${Q('UserId')}) REFERENCES ${Q('Users')} (${Q('UserId')}))`,
    insert(d, 'Applications', { ApplicationName: '/', ApplicationId: APP_ROOT, Description: null }),
    ...member(U.alice, { Password: UV_ALICE.stored, PasswordFormat: 1, PasswordSalt: UV_ALICE.row!.salt! }),
    ...member(U.bob, { Password: UV_BOB.stored, PasswordFormat: 1, PasswordSalt: UV_BOB.row!.salt!, IsApproved: false }),
    ...member(U.carol, { Password: UV_CAROL.stored, PasswordFormat: 1, PasswordSalt: UV_CAROL.row!.salt!, IsLockedOut: true }),
    ...member(U.dave, { Password: UV_DAVE.stored, PasswordFormat: 1, PasswordSalt: UV_DAVE.row!.salt! }),
    ...member(U.erin, { Password: UV_CLEAR.stored, PasswordFormat: 0, PasswordSalt: 'bm90LXVzZWQtZm9yLWNsZWFy' }),
  ];
}

for (const dialect of ['postgres', 'mysql'] as const) {
  presetSuite('preset aspnet-universal', dialect, { ddl: universalDdl, store: { preset: 'aspnet-universal' } }, (s) => {
    const U = UNIVERSAL_USERS;
    const p = (u: { UserId: string; UserName: string; Email: string }, extra: Partial<Profile> = {}) =>
      profile({ user_id: u.UserId, email: u.Email.toLowerCase(), username: u.UserName.toLowerCase(), ...extra });

    test('PasswordFormat 1 (HMACSHA256 keyed by PasswordSalt) verifies, by email and by user name', async () => {
      await checkUser(s.main, { logins: ['ALICE@example.com', 'alice'], password: UV_ALICE.password, expected: p(U.alice) });
      await checkUser(s.main, { logins: ['dave'], password: UV_DAVE.password, expected: p(U.dave) });
    });

    test('IsApproved = 0 and IsLockedOut = 1 block', async () => {
      await checkUser(s.main, { logins: ['bob', 'bob@example.com'], password: UV_BOB.password, expected: p(U.bob, { blocked: true }) });
      await checkUser(s.main, { logins: ['carol@example.com'], password: UV_CAROL.password, expected: p(U.carol, { blocked: true }) });
    });

    test('PasswordFormat 0 (Clear) verifies', async () => {
      await checkUser(s.main, { logins: ['erin'], password: UV_CLEAR.password, expected: p(U.erin) });
      await expectTotal(s.main, 5);
    });
  });
}

// =========================================================================================================
// ASP.NET Simple Membership (WebMatrix.WebData, MVC 4 templates): UserProfile + webpages_Membership
// =========================================================================================================

const SM_ALICE = vec(KDF, 'aspnet_simple_membership', 'password', { prefix: 'AG8n' });
const SM_BOB = vec(KDF, 'aspnet_simple_membership', 'Password!', { prefix: 'AB2O' });
const SM_CAROL = vec(KDF, 'aspnet_simple_membership', LATIN);
const SM_DAVE = vec(KDF, 'aspnet_simple_membership', CYRILLIC);

function simpleMembershipDdl(d: Dialect): string[] {
  const t = mssqlTypes(d);
  const Q = (n: string) => q(d, n);
  const F = d === 'postgres' ? 'FALSE' : '0';
  const when = '2013-09-01 12:00:00';
  const member = (UserId: number, UserName: string, Password: string, IsConfirmed: boolean) => [
    insert(d, 'UserProfile', { UserId, UserName }),
    insert(d, 'webpages_Membership', {
      UserId, CreateDate: when, ConfirmationToken: IsConfirmed ? null : 'Zx8YqW3vT6uR1sP4oN7mL0kJ', IsConfirmed,
      LastPasswordFailureDate: null, PasswordFailuresSinceLastSuccess: 0, Password, PasswordChangedDate: when,
      // SimpleMembership keeps the salt inside the Crypto.HashPassword value and writes an empty PasswordSalt.
      PasswordSalt: '', PasswordVerificationToken: null, PasswordVerificationTokenExpirationDate: null,
    }),
  ];
  return [
    // WebSecurity.InitializeDatabaseConnection(..., "UserProfile", "UserId", "UserName", autoCreateTables: true).
    `CREATE TABLE ${Q('UserProfile')} (
      ${Q('UserId')} ${t.identity} PRIMARY KEY,
      ${Q('UserName')} ${t.nv(56)} NOT NULL UNIQUE)`,
    `CREATE TABLE ${Q('webpages_Membership')} (
      ${Q('UserId')} ${t.int} NOT NULL PRIMARY KEY,
      ${Q('CreateDate')} ${t.datetime},
      ${Q('ConfirmationToken')} ${t.nv(128)},
      ${Q('IsConfirmed')} ${t.bit} DEFAULT ${F},
      ${Q('LastPasswordFailureDate')} ${t.datetime},
      ${Q('PasswordFailuresSinceLastSuccess')} ${t.int} NOT NULL DEFAULT 0,
      ${Q('Password')} ${t.nv(128)} NOT NULL,
      ${Q('PasswordChangedDate')} ${t.datetime},
      ${Q('PasswordSalt')} ${t.nv(128)} NOT NULL,
      ${Q('PasswordVerificationToken')} ${t.nv(128)},
      ${Q('PasswordVerificationTokenExpirationDate')} ${t.datetime})`,
    `CREATE TABLE ${Q('webpages_OAuthMembership')} (
      ${Q('Provider')} ${t.nv(30)} NOT NULL,
      ${Q('ProviderUserId')} ${t.nv(100)} NOT NULL,
      ${Q('UserId')} ${t.int} NOT NULL,
      PRIMARY KEY (${Q('Provider')}, ${Q('ProviderUserId')}))`,
    `CREATE TABLE ${Q('webpages_Roles')} (
      ${Q('RoleId')} ${t.identity} PRIMARY KEY,
      ${Q('RoleName')} ${t.nv(256)} NOT NULL UNIQUE)`,
    `CREATE TABLE ${Q('webpages_UsersInRoles')} (
      ${Q('UserId')} ${t.int} NOT NULL,
      ${Q('RoleId')} ${t.int} NOT NULL,
      PRIMARY KEY (${Q('UserId')}, ${Q('RoleId')}),
      FOREIGN KEY (${Q('UserId')}) REFERENCES ${Q('UserProfile')} (${Q('UserId')}),
      FOREIGN KEY (${Q('RoleId')}) REFERENCES ${Q('webpages_Roles')} (${Q('RoleId')}))`,
    // MVC 4's template uses the e-mail address as the user name.
    ...member(1, 'Alice@Example.com', SM_ALICE.stored, true),
    // An account created with requireConfirmationToken and never confirmed: WebSecurity.Login refuses it.
    ...member(2, 'bob', SM_BOB.stored, false),
    ...member(3, 'carol', SM_CAROL.stored, true),
    ...member(4, 'dave', SM_DAVE.stored, true),
    // An account that only ever signed in with Google: no webpages_Membership row, so no password to migrate.
    insert(d, 'UserProfile', { UserId: 5, UserName: 'oauth.only' }),
    insert(d, 'webpages_OAuthMembership', { Provider: 'google', ProviderUserId: '109876543210987654321', UserId: 5 }),
  ];
}

for (const dialect of ['postgres', 'mysql'] as const) {
  presetSuite('preset aspnet-simple-membership', dialect, { ddl: simpleMembershipDdl, store: { preset: 'aspnet-simple-membership' } }, (s) => {
    test('Crypto.HashPassword values verify; the user name (often an e-mail address) is the only login', async () => {
      await checkUser(s.main, { logins: ['alice@example.com'], password: SM_ALICE.password, expected: profile({ user_id: '1', username: 'alice@example.com' }) });
      await checkUser(s.main, { logins: ['CAROL'], password: SM_CAROL.password, expected: profile({ user_id: '3', username: 'carol' }) });
      await checkUser(s.main, { logins: ['dave'], password: SM_DAVE.password, expected: profile({ user_id: '4', username: 'dave' }) });
    });

    test('IsConfirmed = 0 blocks', async () => {
      await checkUser(s.main, { logins: ['bob'], password: SM_BOB.password, expected: profile({ user_id: '2', username: 'bob', blocked: true }) });
    });

    test('OAuth-only accounts (no webpages_Membership row) are left out', async () => {
      expectError(await s.main.lookup('oauth.only'), 404, 'user_not_found', 'OAuth-only account');
      await expectTotal(s.main, 4);
    });
  });
}

// =========================================================================================================
// ASP.NET Core Identity: AspNetUsers (EF Core's migration), and ASP.NET Identity 2 (EF6) with one override
// =========================================================================================================

const ID_ALICE = vec(KDF, 'aspnet_identity_v3', 'my password', { prefix: 'AQAAAAEAACcQ' });
const ID_BOB = vec(KDF, 'aspnet_identity_v2', 'my password', { prefix: 'AAABAgME' });
const ID_CAROL = vec(KDF, 'aspnet_identity_v3', PHRASE);
const ID_DAVE = vec(KDF, 'aspnet_identity_v3', LATIN);
const ID_ERIN = vec(KDF, 'aspnet_identity_v2', CYRILLIC);

const IDENTITY_USERS = {
  alice: { Id: 'a3c5e7f9-1b2d-4f6a-8c0e-2a4c6e8f0b1d', UserName: 'Alice@Example.com', Email: 'Alice@Example.com' },
  bob: { Id: 'b4d6f8a0-2c3e-4a7b-9d1f-3b5d7f9a1c2e', UserName: 'bob', Email: 'Bob@Example.com' },
  carol: { Id: 'c5e7a9b1-3d4f-4b8c-8e2a-4c6e8a0b2d3f', UserName: 'carol', Email: 'carol@example.com' },
  dave: { Id: 'd6f8b0c2-4e5a-4c9d-9f3b-5d7f9b1c3e4a', UserName: 'dave', Email: 'dave@example.com' },
  erin: { Id: 'e7a9c1d3-5f6b-4d0e-8a4c-6e8a0c2d4f5b', UserName: 'erin', Email: 'erin@example.com' },
  frank: { Id: 'f8b0d2e4-6a7c-4e1f-9b5d-7f9b1d3e5a6c', UserName: 'frank', Email: 'frank@example.com' },
};

function identityDdl(d: Dialect): string[] {
  const t = mssqlTypes(d);
  const Q = (n: string) => q(d, n);
  const U = IDENTITY_USERS;
  const user = (u: { Id: string; UserName: string; Email: string }, f: { hash: string | null; confirmed: boolean; lockoutEnd: Sql | string | null }) =>
    insert(d, 'AspNetUsers', {
      Id: u.Id, UserName: u.UserName, NormalizedUserName: u.UserName.toUpperCase(), Email: u.Email, NormalizedEmail: u.Email.toUpperCase(),
      EmailConfirmed: f.confirmed, PasswordHash: f.hash, SecurityStamp: 'QWERTYUIOPASDFGHJKLZXCVBNM234567', ConcurrencyStamp: 'c8b1b0b2-0000-4000-8000-000000000000',
      PhoneNumber: null, PhoneNumberConfirmed: false, TwoFactorEnabled: false, LockoutEnd: f.lockoutEnd, LockoutEnabled: true, AccessFailedCount: 0,
    });
  return [
    // dotnet ef migrations: CreateIdentitySchema (ASP.NET Core Identity), SQL Server types mapped.
    `CREATE TABLE ${Q('AspNetUsers')} (
      ${Q('Id')} ${t.nv(450)} NOT NULL,
      ${Q('UserName')} ${t.nv(256)},
      ${Q('NormalizedUserName')} ${t.nv(256)},
      ${Q('Email')} ${t.nv(256)},
      ${Q('NormalizedEmail')} ${t.nv(256)},
      ${Q('EmailConfirmed')} ${t.bit} NOT NULL,
      ${Q('PasswordHash')} ${t.nvmax},
      ${Q('SecurityStamp')} ${t.nvmax},
      ${Q('ConcurrencyStamp')} ${t.nvmax},
      ${Q('PhoneNumber')} ${t.nvmax},
      ${Q('PhoneNumberConfirmed')} ${t.bit} NOT NULL,
      ${Q('TwoFactorEnabled')} ${t.bit} NOT NULL,
      ${Q('LockoutEnd')} ${t.dto},
      ${Q('LockoutEnabled')} ${t.bit} NOT NULL,
      ${Q('AccessFailedCount')} ${t.int} NOT NULL,
      CONSTRAINT ${Q('PK_AspNetUsers')} PRIMARY KEY (${Q('Id')}))`,
    `CREATE UNIQUE INDEX ${Q('UserNameIndex')} ON ${Q('AspNetUsers')} (${Q('NormalizedUserName')})`,
    `CREATE INDEX ${Q('EmailIndex')} ON ${Q('AspNetUsers')} (${Q('NormalizedEmail')})`,
    `CREATE TABLE ${Q('AspNetUserLogins')} (
      ${Q('LoginProvider')} ${t.nv(128)} NOT NULL,
      ${Q('ProviderKey')} ${t.nv(128)} NOT NULL,
      ${Q('ProviderDisplayName')} ${t.nvmax},
      ${Q('UserId')} ${t.nv(450)} NOT NULL,
      CONSTRAINT ${Q('PK_AspNetUserLogins')} PRIMARY KEY (${Q('LoginProvider')}, ${Q('ProviderKey')}),
      CONSTRAINT ${Q('FK_AspNetUserLogins_AspNetUsers_UserId')} FOREIGN KEY (${Q('UserId')}) REFERENCES ${Q('AspNetUsers')} (${Q('Id')}) ON DELETE CASCADE)`,
    // Core's default template: UserName = Email. v3 hash (PBKDF2-HMAC-SHA256, 10000 iterations).
    user(U.alice, { hash: ID_ALICE.stored, confirmed: true, lockoutEnd: null }),
    // A v2 hash (Identity 2 era, still accepted by Core's PasswordHasher), e-mail not confirmed.
    user(U.bob, { hash: ID_BOB.stored, confirmed: false, lockoutEnd: null }),
    // Locked out for the next 30 days.
    user(U.carol, { hash: ID_CAROL.stored, confirmed: true, lockoutEnd: fromNow(d, 30) }),
    // A lock-out that ended 30 days ago.
    user(U.dave, { hash: ID_DAVE.stored, confirmed: true, lockoutEnd: fromNow(d, -30) }),
    // The usual "ban forever": SetLockoutEndDateAsync(user, DateTimeOffset.MaxValue).
    user(U.erin, { hash: ID_ERIN.stored, confirmed: true, lockoutEnd: d === 'postgres' ? '9999-12-31 23:59:59+00' : '9999-12-31 23:59:59' }),
    // External login only (Google): PasswordHash is NULL.
    user(U.frank, { hash: null, confirmed: true, lockoutEnd: null }),
    insert(d, 'AspNetUserLogins', { LoginProvider: 'Google', ProviderKey: '118273645501928374655', ProviderDisplayName: 'Google', UserId: U.frank.Id }),
  ];
}

for (const dialect of ['postgres', 'mysql'] as const) {
  presetSuite('preset aspnet-identity', dialect, { ddl: identityDdl, store: { preset: 'aspnet-identity' } }, (s) => {
    const U = IDENTITY_USERS;
    const p = (u: { Id: string; UserName: string; Email: string }, verified: boolean, extra: Partial<Profile> = {}) =>
      profile({ user_id: u.Id, email: u.Email.toLowerCase(), email_verified: verified, username: u.UserName.toLowerCase(), ...extra });

    test('v3 and v2 PasswordHash values verify; EmailConfirmed is email_verified', async () => {
      await checkUser(s.main, { logins: ['alice@example.com'], password: ID_ALICE.password, expected: p(U.alice, true) });
      await checkUser(s.main, { logins: ['bob', 'BOB@example.com'], password: ID_BOB.password, expected: p(U.bob, false) });
    });

    test('LockoutEnd in the future blocks (30 days ahead, DateTimeOffset.MaxValue); in the past it does not', async () => {
      await checkUser(s.main, { logins: ['carol', 'carol@example.com'], password: ID_CAROL.password, expected: p(U.carol, true, { blocked: true }) });
      await checkUser(s.main, { logins: ['erin'], password: ID_ERIN.password, expected: p(U.erin, true, { blocked: true }) });
      await checkUser(s.main, { logins: ['dave@example.com', 'dave'], password: ID_DAVE.password, expected: p(U.dave, true) });
    });

    test('an external-login-only user (PasswordHash NULL) is found but never verifies', async () => {
      expectError(await s.main.verify('frank', WRONG), 401, 'invalid_credentials', 'no PasswordHash');
      const r = await s.main.lookup('frank@example.com');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.user, p(U.frank, true));
      await expectTotal(s.main, 6);
    });
  });
}

const ID2_ALICE = vec(KDF, 'aspnet_identity_v2', PHRASE);
const ID2_BOB = vec(KDF, 'aspnet_identity_v2', LATIN);
const ID2_CAROL = vec(KDF, 'aspnet_identity_v2', 'my password', { prefix: 'ANXr' });

function identity2Ddl(d: Dialect): string[] {
  const t = mssqlTypes(d);
  const Q = (n: string) => q(d, n);
  const user = (Id: string, UserName: string, hash: string, lockout: Sql | null) =>
    insert(d, 'AspNetUsers', {
      Id, Email: `${UserName}@example.com`, EmailConfirmed: true, PasswordHash: hash, SecurityStamp: 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b',
      PhoneNumber: null, PhoneNumberConfirmed: false, TwoFactorEnabled: false, LockoutEndDateUtc: lockout, LockoutEnabled: true,
      AccessFailedCount: 0, UserName,
    });
  return [
    // Microsoft.AspNet.Identity.EntityFramework 2.x (EF6 code first): LockoutEndDateUtc datetime, no Normalized* columns.
    `CREATE TABLE ${Q('AspNetUsers')} (
      ${Q('Id')} ${t.nv(128)} NOT NULL PRIMARY KEY,
      ${Q('Email')} ${t.nv(256)},
      ${Q('EmailConfirmed')} ${t.bit} NOT NULL,
      ${Q('PasswordHash')} ${t.nvmax},
      ${Q('SecurityStamp')} ${t.nvmax},
      ${Q('PhoneNumber')} ${t.nvmax},
      ${Q('PhoneNumberConfirmed')} ${t.bit} NOT NULL,
      ${Q('TwoFactorEnabled')} ${t.bit} NOT NULL,
      ${Q('LockoutEndDateUtc')} ${t.datetime},
      ${Q('LockoutEnabled')} ${t.bit} NOT NULL,
      ${Q('AccessFailedCount')} ${t.int} NOT NULL,
      ${Q('UserName')} ${t.nv(256)} NOT NULL)`,
    `CREATE UNIQUE INDEX ${Q('UserNameIndex')} ON ${Q('AspNetUsers')} (${Q('UserName')})`,
    user('2f1e0d9c-8b7a-4654-a321-0fedcba98765', 'alice', ID2_ALICE.stored, null),
    user('3a2b1c0d-9e8f-4a7b-b6c5-d4e3f2a1b0c9', 'bob', ID2_BOB.stored, d === 'postgres' ? sql("(now() AT TIME ZONE 'UTC') + interval '7 days'") : fromNow(d, 7)),
    user('4b3c2d1e-0f9a-4b8c-87d6-e5f4a3b2c1d0', 'carol', ID2_CAROL.stored, d === 'postgres' ? sql("(now() AT TIME ZONE 'UTC') - interval '7 days'") : fromNow(d, -7)),
  ];
}

presetSuite(
  'preset aspnet-identity + override columns.locked_until: LockoutEndDateUtc (ASP.NET Identity 2 on EF6)',
  'postgres',
  { ddl: identity2Ddl, store: { preset: 'aspnet-identity', users: { columns: { locked_until: 'LockoutEndDateUtc' } } } },
  (s) => {
    test('Identity 2 rows verify and LockoutEndDateUtc blocks while in the future', async () => {
      const p = (id: string, name: string, blocked = false) =>
        profile({ user_id: id, email: `${name}@example.com`, email_verified: true, username: name, blocked });
      await checkUser(s.main, { logins: ['alice', 'alice@example.com'], password: ID2_ALICE.password, expected: p('2f1e0d9c-8b7a-4654-a321-0fedcba98765', 'alice') });
      await checkUser(s.main, { logins: ['bob'], password: ID2_BOB.password, expected: p('3a2b1c0d-9e8f-4a7b-b6c5-d4e3f2a1b0c9', 'bob', true) });
      await checkUser(s.main, { logins: ['carol'], password: ID2_CAROL.password, expected: p('4b3c2d1e-0f9a-4b8c-87d6-e5f4a3b2c1d0', 'carol') });
    });
  },
);

// =========================================================================================================
// WordPress on MariaDB: wp_users (+ wp_usermeta); a second install in the same database with $table_prefix 'blog_'
// =========================================================================================================

const WP_ADMIN = vec(UNIX, 'phpass', 'hashcat');
const WP_ALICE = vec(UNIX, 'wordpress_bcrypt', PHRASE);
const WP_BJORN = vec(UNIX, 'phpass', LATIN);
const WP_CAROL = vec(UNIX, 'wordpress_bcrypt', CYRILLIC);
/** WordPress before 2.5 stored md5($password); wp_check_password still accepts it (and rehashes). */
const WP_OLD = vec(DIGEST, 'hex_md5', 'Tr0ub4dor&3');
const BLOG_ALICE = vec(UNIX, 'phpass', PHRASE);
const BLOG_IMPORTED = vec(UNIX, 'phpass', 'test12345');

function wordpressTables(prefix: string): string[] {
  // wp-admin/includes/schema.php (WordPress 6.x), single site.
  return [
    wordpressUsersTable(prefix),
    `CREATE TABLE ${prefix}usermeta (
      umeta_id bigint(20) unsigned NOT NULL auto_increment,
      user_id bigint(20) unsigned NOT NULL default '0',
      meta_key varchar(255) default NULL,
      meta_value longtext,
      PRIMARY KEY  (umeta_id),
      KEY user_id (user_id),
      KEY meta_key (meta_key(191))
    ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`,
  ];
}

function wpUser(prefix: string, u: { ID: number; user_login: string; user_email: string; user_pass: string; display_name: string; user_url?: string; user_registered?: string }): string[] {
  const row: Row = {
    ID: u.ID, user_login: u.user_login, user_pass: u.user_pass, user_nicename: u.user_login.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
    user_email: u.user_email, user_url: u.user_url ?? '', user_activation_key: '', user_status: 0, display_name: u.display_name,
  };
  // Left out, user_registered takes the column default '0000-00-00 00:00:00' (rows written by importers / raw SQL).
  if (u.user_registered !== undefined) row.user_registered = u.user_registered;
  return [
    insert('mysql', `${prefix}users`, row),
    insert('mysql', `${prefix}usermeta`, { user_id: u.ID, meta_key: 'nickname', meta_value: u.user_login }),
  ];
}

function wordpressDdl(): string[] {
  return [
    ...wordpressTables('wp_'),
    ...wpUser('wp_', { ID: 1, user_login: 'admin', user_email: 'Admin@Example.com', user_pass: WP_ADMIN.stored, display_name: 'Site Admin', user_registered: '2011-02-03 04:05:06' }),
    ...wpUser('wp_', { ID: 2, user_login: 'alice', user_email: 'alice@example.com', user_pass: WP_ALICE.stored, display_name: 'Alice Doe', user_registered: '2025-05-06 07:08:09' }),
    ...wpUser('wp_', { ID: 3, user_login: 'Bjorn', user_email: 'Bjorn@Example.com', user_pass: WP_BJORN.stored, display_name: 'Björn Ångström', user_registered: '2016-01-01 00:00:00' }),
    ...wpUser('wp_', { ID: 4, user_login: 'oldtimer', user_email: 'old@example.com', user_pass: WP_OLD.stored, display_name: 'Old Timer', user_registered: '2006-07-08 09:10:11' }),
    ...wpUser('wp_', { ID: 5, user_login: 'carol', user_email: 'carol@example.com', user_pass: WP_CAROL.stored, display_name: 'Carol', user_registered: '2025-09-10 11:12:13' }),
    // A second WordPress install sharing the database ($table_prefix = 'blog_').
    ...wordpressTables('blog_'),
    ...wpUser('blog_', { ID: 7, user_login: 'alice', user_email: 'alice@blog.example', user_pass: BLOG_ALICE.stored, display_name: 'Alice (blog)', user_url: 'https://alice.example', user_registered: '2015-03-04 05:06:07' }),
    ...wpUser('blog_', { ID: 8, user_login: 'imported', user_email: 'imported@blog.example', user_pass: BLOG_IMPORTED.stored, display_name: 'Imported User' }),
  ];
}

presetSuite('preset wordpress', 'mysql', { ddl: wordpressDdl, store: { preset: 'wordpress' } }, (s) => {
  const p = (id: number, login: string, email: string, name: string, extra: Partial<Profile> = {}) =>
    profile({ user_id: String(id), email, username: login, name, nickname: login, ...extra });

  test('wp_users by default: phpass, WordPress 6.8 bcrypt and pre-2.5 MD5 values verify by user_login and by user_email', async () => {
    await checkUser(s.main, { logins: ['admin', 'admin@example.com'], password: WP_ADMIN.password, expected: p(1, 'admin', 'admin@example.com', 'Site Admin') });
    await checkUser(s.main, { logins: ['alice@example.com', 'Alice'], password: WP_ALICE.password, expected: p(2, 'alice', 'alice@example.com', 'Alice Doe') });
    await checkUser(s.main, { logins: ['bjorn'], password: WP_BJORN.password, expected: p(3, 'bjorn', 'bjorn@example.com', 'Björn Ångström') });
    await checkUser(s.main, { logins: ['oldtimer', 'old@example.com'], password: WP_OLD.password, expected: p(4, 'oldtimer', 'old@example.com', 'Old Timer') });
    await checkUser(s.main, { logins: ['carol'], password: WP_CAROL.password, expected: p(5, 'carol', 'carol@example.com', 'Carol') });
    await expectTotal(s.main, 5);
  });

  test('override: table_prefix blog_ reads blog_users, and extra app_metadata columns come along', async () => {
    const blog = await s.start({ preset: 'wordpress', table_prefix: 'blog_', users: { app_metadata: ['user_url', 'user_registered'] } });
    await checkUser(blog, {
      logins: ['alice', 'alice@blog.example'],
      password: BLOG_ALICE.password,
      expected: p(7, 'alice', 'alice@blog.example', 'Alice (blog)', { app_metadata: { user_url: 'https://alice.example', user_registered: '2015-03-04T05:06:07.000Z' } }),
    });
    // The wp_ install's alice is not this gateway's alice.
    expectError(await blog.lookup('alice@example.com'), 404, 'user_not_found', 'wp_users row seen through blog_');
    await expectTotal(blog, 2);
  });

  test("override: a row still holding WordPress's zero default user_registered ('0000-00-00 00:00:00')", async () => {
    const blog = await s.start({ preset: 'wordpress', table_prefix: 'blog_', users: { app_metadata: ['user_registered'] } });
    const r = await blog.verify('imported', BLOG_IMPORTED.password);
    assert.equal(r.status, 200, `verify imported: ${r.status} ${r.text}`);
    const md = r.json.user.app_metadata as Row;
    assert.ok(!('user_registered' in md) || md.user_registered === '0000-00-00 00:00:00', `no invented date: ${JSON.stringify(md)}`);
    const lk = await blog.lookup('imported@blog.example');
    assert.equal(lk.status, 200, `lookup imported: ${lk.status} ${lk.text}`);
  });
});

// =========================================================================================================
// Drupal 7 on MariaDB: users (uid 0 is the anonymous user)
// =========================================================================================================

const DR_ADMIN = vec(UNIX, 'drupal7', 'drupal default');
const DR_ALICE = vec(UNIX, 'drupal7', PHRASE);
const DR_BLOCKED = vec(UNIX, 'drupal7', 'hashcat');
const DR_UPGRADED = vec(UNIX, 'drupal7_upgraded', PHRASE);
const DR_JORG = vec(UNIX, 'drupal7', LATIN);

function drupalDdl(): string[] {
  const user = (uid: number, name: string, mail: string, pass: string, status: number) =>
    insert('mysql', 'users', {
      uid, name, pass, mail, theme: '', signature: '', signature_format: uid === 0 ? null : 'filtered_html', created: uid === 0 ? 0 : 1325376000 + uid,
      access: 0, login: 0, status, timezone: uid === 0 ? null : 'Europe/Berlin', language: '', picture: 0, init: mail, data: null,
    });
  return [
    // modules/user/user.install (Drupal 7), as created on MySQL with Drupal 7's default utf8 (utf8mb3) tables.
    `CREATE TABLE users (
      uid int(10) unsigned NOT NULL DEFAULT '0',
      name varchar(60) NOT NULL DEFAULT '',
      pass varchar(128) NOT NULL DEFAULT '',
      mail varchar(254) DEFAULT '',
      theme varchar(255) NOT NULL DEFAULT '',
      signature varchar(255) NOT NULL DEFAULT '',
      signature_format varchar(255) DEFAULT NULL,
      created int(11) NOT NULL DEFAULT '0',
      access int(11) NOT NULL DEFAULT '0',
      login int(11) NOT NULL DEFAULT '0',
      status tinyint(4) NOT NULL DEFAULT '0',
      timezone varchar(32) DEFAULT NULL,
      language varchar(12) NOT NULL DEFAULT '',
      picture int(11) NOT NULL DEFAULT '0',
      init varchar(254) DEFAULT '',
      data longblob,
      PRIMARY KEY (uid),
      UNIQUE KEY name (name),
      KEY access (access),
      KEY created (created),
      KEY mail (mail),
      KEY picture (picture)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8 COMMENT='Stores user data.'`,
    // What Drupal's installer writes for the anonymous user.
    user(0, '', '', '', 0),
    user(1, 'admin', 'Admin@Example.com', DR_ADMIN.stored, 1),
    user(2, 'alice', 'alice@example.com', DR_ALICE.stored, 1),
    user(3, 'blocked.user', 'blocked@example.com', DR_BLOCKED.stored, 0),
    // A Drupal 6 MD5 hash re-hashed by the 6→7 upgrade (U$S$...).
    user(4, 'd6.upgrade', 'old@example.com', DR_UPGRADED.stored, 1),
    user(5, 'Jörg', 'Joerg@Example.com', DR_JORG.stored, 1),
  ];
}

presetSuite('preset drupal7', 'mysql', { ddl: drupalDdl, store: { preset: 'drupal7' } }, (s) => {
  const p = (uid: number, name: string, mail: string, blocked = false) => profile({ user_id: String(uid), email: mail, username: name, blocked });

  test('$S$ and upgraded U$S$ hashes verify by name and by mail', async () => {
    await checkUser(s.main, { logins: ['admin', 'ADMIN@example.com'], password: DR_ADMIN.password, expected: p(1, 'admin', 'admin@example.com') });
    await checkUser(s.main, { logins: ['alice@example.com', 'alice'], password: DR_ALICE.password, expected: p(2, 'alice', 'alice@example.com') });
    await checkUser(s.main, { logins: ['d6.upgrade'], password: DR_UPGRADED.password, expected: p(4, 'd6.upgrade', 'old@example.com') });
    await checkUser(s.main, { logins: ['JÖRG', 'joerg@example.com'], password: DR_JORG.password, expected: p(5, 'jörg', 'joerg@example.com') });
  });

  test('status = 0 blocks', async () => {
    await checkUser(s.main, { logins: ['blocked.user', 'blocked@example.com'], password: DR_BLOCKED.password, expected: p(3, 'blocked.user', 'blocked@example.com', true) });
  });

  test('uid 0 (the anonymous row) is not a user: not in the status total, not found by id', async () => {
    await expectTotal(s.main, 5);
    expectError(await s.main.byId('0'), 404, 'user_not_found', 'uid 0');
  });
});

// =========================================================================================================
// Django on PostgreSQL: auth_user
// =========================================================================================================

const DJ_ALICE = vec(KDF, 'django_pbkdf2_sha256', PHRASE);
const DJ_BOB = vec(KDF, 'django_pbkdf2_sha256', 'hashcat');
const DJ_CAROL = vec(KDF, 'django_pbkdf2_sha256', CYRILLIC);
/** Django 5.1's default cost (870000 iterations). */
const DJ_DAVE = vec(KDF, 'django_pbkdf2_sha256', LATIN, { prefix: 'pbkdf2_sha256$870000$' });
/** set_unusable_password(): '!' + 40 random characters. */
const DJ_UNUSABLE = DIGEST.find((v) => v.scheme === 'django_disabled' && v.stored.length === 41)!;

function djangoDdl(): string[] {
  const user = (id: number, username: string, email: string, first: string, last: string, password: string, active: boolean) =>
    insert('postgres', 'auth_user', {
      id, password, last_login: null, is_superuser: id === 1, username, first_name: first, last_name: last, email,
      is_staff: id === 1, is_active: active, date_joined: sql(`'2020-01-01 00:00:00+00'::timestamptz + interval '${id} days'`),
    });
  return [
    ...djangoAuthUserTable(),
    user(1, 'alice', 'Alice@Example.com', 'Alice', 'Doe', DJ_ALICE.stored, true),
    // Django allows a blank e-mail ('' — NOT NULL column).
    user(2, 'bob', '', '', '', DJ_BOB.stored, true),
    user(3, 'carol', 'carol@example.com', 'Carol', 'Smith', DJ_CAROL.stored, false),
    user(4, 'dave', 'dave@example.com', 'Dave', '', DJ_DAVE.stored, true),
    user(5, 'social', 'social@example.com', 'Sam', 'Social', DJ_UNUSABLE.stored, true),
  ];
}

presetSuite('preset django', 'postgres', { ddl: djangoDdl, store: { preset: 'django' } }, (s) => {
  test('pbkdf2_sha256 values verify by username and e-mail; first/last name; blank values are omitted', async () => {
    await checkUser(s.main, {
      logins: ['alice', 'alice@example.com'],
      password: DJ_ALICE.password,
      expected: profile({ user_id: '1', email: 'alice@example.com', username: 'alice', given_name: 'Alice', family_name: 'Doe' }),
    });
    await checkUser(s.main, { logins: ['bob'], password: DJ_BOB.password, expected: profile({ user_id: '2', username: 'bob' }) });
    await checkUser(s.main, {
      logins: ['DAVE@example.com'],
      password: DJ_DAVE.password,
      expected: profile({ user_id: '4', email: 'dave@example.com', username: 'dave', given_name: 'Dave' }),
    });
  });

  test('is_active = false blocks', async () => {
    await checkUser(s.main, {
      logins: ['carol'],
      password: DJ_CAROL.password,
      expected: profile({ user_id: '3', email: 'carol@example.com', username: 'carol', given_name: 'Carol', family_name: 'Smith', blocked: true }),
    });
  });

  test('an unusable password (!...) never verifies; the user is still found', async () => {
    expectError(await s.main.verify('social', DJ_UNUSABLE.password), 401, 'invalid_credentials', 'unusable password');
    expectError(await s.main.verify('social', DJ_UNUSABLE.stored), 401, 'invalid_credentials', 'unusable password (itself)');
    const r = await s.main.lookup('social@example.com');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.user, profile({ user_id: '5', email: 'social@example.com', username: 'social', given_name: 'Sam', family_name: 'Social' }));
    await expectTotal(s.main, 5);
  });
});

// =========================================================================================================
// Laravel on MariaDB: users (the default create_users_table migration)
// =========================================================================================================

const LV_ALICE = presetVec('laravel', PHRASE);
const LV_BOB = presetVec('laravel', 'Tr0ub4dor&3');
const LV_CHLOE = presetVec('laravel', LATIN);
const LV_DMITRI = presetVec('laravel', CYRILLIC, { prefix: '$argon2id$' });
const LV_EVE = presetVec('laravel', 'hunter2-but-longer');

function laravelDdl(): string[] {
  const user = (id: number, name: string, email: string, verified: boolean, password: string) =>
    insert('mysql', 'users', {
      id, name, email, email_verified_at: verified ? '2024-02-03 04:05:06' : null, password,
      remember_token: null, created_at: '2024-01-01 00:00:00', updated_at: '2024-01-01 00:00:00',
    });
  return [
    // php artisan migrate (Laravel 11: 0001_01_01_000000_create_users_table), MySQL grammar.
    `CREATE TABLE users (
      id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
      name varchar(255) NOT NULL,
      email varchar(255) NOT NULL,
      email_verified_at timestamp NULL DEFAULT NULL,
      password varchar(255) NOT NULL,
      remember_token varchar(100) NULL DEFAULT NULL,
      created_at timestamp NULL DEFAULT NULL,
      updated_at timestamp NULL DEFAULT NULL,
      UNIQUE KEY users_email_unique (email)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    `CREATE TABLE password_reset_tokens (
      email varchar(255) NOT NULL PRIMARY KEY,
      token varchar(255) NOT NULL,
      created_at timestamp NULL DEFAULT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    user(1, 'Alice Doe', 'alice@example.com', true, LV_ALICE.stored),
    user(2, 'Bob Jones', 'Bob@Example.com', false, LV_BOB.stored),
    user(3, 'Chloé Martin', 'chloe@example.com', true, LV_CHLOE.stored),
    // 'driver' => 'argon2id' in config/hashing.php.
    user(4, 'Dmitri', 'dmitri@example.com', true, LV_DMITRI.stored),
    user(5, 'Eve', 'eve@example.com', true, LV_EVE.stored),
  ];
}

presetSuite('preset laravel', 'mysql', { ddl: laravelDdl, store: { preset: 'laravel' } }, (s) => {
  test('$2y$ (password_hash) and $argon2id$ values verify by e-mail; email_verified_at set = verified', async () => {
    await checkUser(s.main, { logins: ['Alice@Example.com'], password: LV_ALICE.password, expected: profile({ user_id: '1', email: 'alice@example.com', email_verified: true, name: 'Alice Doe' }) });
    await checkUser(s.main, { logins: ['chloe@example.com'], password: LV_CHLOE.password, expected: profile({ user_id: '3', email: 'chloe@example.com', email_verified: true, name: 'Chloé Martin' }) });
    await checkUser(s.main, { logins: ['dmitri@example.com'], password: LV_DMITRI.password, expected: profile({ user_id: '4', email: 'dmitri@example.com', email_verified: true, name: 'Dmitri' }) });
    await checkUser(s.main, { logins: ['eve@example.com'], password: LV_EVE.password, expected: profile({ user_id: '5', email: 'eve@example.com', email_verified: true, name: 'Eve' }) });
  });

  test('email_verified_at NULL: email_verified is left out (absent, not invented)', async () => {
    await checkUser(s.main, { logins: ['bob@example.com'], password: LV_BOB.password, expected: profile({ user_id: '2', email: 'bob@example.com', name: 'Bob Jones' }) });
  });

  test('there is no user name: the name column is not a login', async () => {
    expectError(await s.main.lookup('Alice Doe'), 404, 'user_not_found', 'name as login');
    await expectTotal(s.main, 5);
  });
});

// =========================================================================================================
// Rails Devise on PostgreSQL: users.encrypted_password, without and with config.pepper
// =========================================================================================================

function deviseDdl(rows: { id: number; email: string; hash: string; confirmed: boolean; locked: boolean }[]): string[] {
  return [
    // db/schema.rb after `rails g devise User` with the Confirmable, Lockable and Trackable columns enabled
    // (Rails 7: bigint ids, timestamp(6), inet for IPs on PostgreSQL).
    `CREATE TABLE users (
      id bigserial PRIMARY KEY,
      email character varying DEFAULT '' NOT NULL,
      encrypted_password character varying DEFAULT '' NOT NULL,
      reset_password_token character varying,
      reset_password_sent_at timestamp(6) without time zone,
      remember_created_at timestamp(6) without time zone,
      sign_in_count integer DEFAULT 0 NOT NULL,
      current_sign_in_at timestamp(6) without time zone,
      last_sign_in_at timestamp(6) without time zone,
      current_sign_in_ip inet,
      last_sign_in_ip inet,
      confirmation_token character varying,
      confirmed_at timestamp(6) without time zone,
      confirmation_sent_at timestamp(6) without time zone,
      unconfirmed_email character varying,
      failed_attempts integer DEFAULT 0 NOT NULL,
      unlock_token character varying,
      locked_at timestamp(6) without time zone,
      created_at timestamp(6) without time zone NOT NULL,
      updated_at timestamp(6) without time zone NOT NULL)`,
    'CREATE UNIQUE INDEX index_users_on_email ON users USING btree (email)',
    'CREATE UNIQUE INDEX index_users_on_reset_password_token ON users USING btree (reset_password_token)',
    'CREATE UNIQUE INDEX index_users_on_confirmation_token ON users USING btree (confirmation_token)',
    'CREATE UNIQUE INDEX index_users_on_unlock_token ON users USING btree (unlock_token)',
    ...rows.map((r) =>
      insert('postgres', 'users', {
        id: r.id, email: r.email, encrypted_password: r.hash, sign_in_count: 3, current_sign_in_ip: '192.0.2.10', last_sign_in_ip: '192.0.2.10',
        confirmation_token: r.confirmed ? null : `confirm-${r.id}`, confirmed_at: r.confirmed ? '2023-04-05 06:07:08.123456' : null,
        confirmation_sent_at: '2023-04-05 06:00:00', failed_attempts: r.locked ? 5 : 0, unlock_token: r.locked ? `unlock-${r.id}` : null,
        locked_at: r.locked ? '2024-10-11 12:13:14.5' : null, created_at: '2023-04-05 06:00:00', updated_at: '2024-10-11 12:13:14',
      }),
    ),
  ];
}

const DV_ALICE = presetVec('devise', PHRASE, { peppered: false });
const DV_BOB = presetVec('devise', LATIN, { peppered: false });
const DV_CAROL = presetVec('devise', 'hunter2-but-longer', { peppered: false });

presetSuite(
  'preset devise (no pepper)',
  'postgres',
  {
    ddl: () =>
      deviseDdl([
        { id: 1, email: 'alice@example.com', hash: DV_ALICE.stored, confirmed: true, locked: false },
        { id: 2, email: 'Bob@Example.com', hash: DV_BOB.stored, confirmed: false, locked: false },
        { id: 3, email: 'carol@example.com', hash: DV_CAROL.stored, confirmed: true, locked: true },
      ]),
    store: { preset: 'devise' },
  },
  (s) => {
    test('$2a$ values verify by e-mail; confirmed_at set = verified, NULL = left out', async () => {
      await checkUser(s.main, { logins: ['ALICE@example.com'], password: DV_ALICE.password, expected: profile({ user_id: '1', email: 'alice@example.com', email_verified: true }) });
      await checkUser(s.main, { logins: ['bob@example.com'], password: DV_BOB.password, expected: profile({ user_id: '2', email: 'bob@example.com' }) });
    });

    test('locked_at set blocks', async () => {
      await checkUser(s.main, { logins: ['carol@example.com'], password: DV_CAROL.password, expected: profile({ user_id: '3', email: 'carol@example.com', email_verified: true, blocked: true }) });
      await expectTotal(s.main, 3);
    });

    test('override columns.blocked: null (unlock_strategy :time / :both, where an old lock has expired)', async () => {
      const timed = await s.start({ preset: 'devise', users: { columns: { blocked: null } } });
      await checkUser(timed, { logins: ['carol@example.com'], password: DV_CAROL.password, expected: profile({ user_id: '3', email: 'carol@example.com', email_verified: true }) });
    });
  },
);

const PEPPERED = PRESET_VECTORS.filter((v) => v.preset === 'devise' && v.expected && typeof v.params?.pepper === 'string');
const PEPPER = PEPPERED[0]!.params!.pepper as string;
const DP_ALICE = presetVec('devise', PHRASE, { peppered: true });
const DP_BOB = presetVec('devise', LATIN, { peppered: true });
const DP_CAROL = presetVec('devise', 'hunter2-but-longer', { peppered: true });
const DP_DMITRI = presetVec('devise', CYRILLIC, { peppered: true });

presetSuite(
  'preset devise + override passwords.params.pepper',
  'postgres',
  {
    ddl: () => {
      assert.ok(PEPPERED.every((v) => v.params?.pepper === PEPPER), 'one pepper for the whole app');
      return deviseDdl([
        { id: 1, email: 'alice@example.com', hash: DP_ALICE.stored, confirmed: true, locked: false },
        { id: 2, email: 'bob@example.com', hash: DP_BOB.stored, confirmed: true, locked: false },
        { id: 3, email: 'carol@example.com', hash: DP_CAROL.stored, confirmed: true, locked: true },
        { id: 4, email: 'dmitri@example.com', hash: DP_DMITRI.stored, confirmed: false, locked: false },
      ]);
    },
    store: { preset: 'devise' },
    passwords: { params: { pepper: PEPPER } },
  },
  (s) => {
    test('bcrypt(password + pepper) verifies with the configured pepper', async () => {
      await checkUser(s.main, { logins: ['alice@example.com'], password: DP_ALICE.password, expected: profile({ user_id: '1', email: 'alice@example.com', email_verified: true }) });
      await checkUser(s.main, { logins: ['bob@example.com'], password: DP_BOB.password, expected: profile({ user_id: '2', email: 'bob@example.com', email_verified: true }) });
      await checkUser(s.main, { logins: ['dmitri@example.com'], password: DP_DMITRI.password, expected: profile({ user_id: '4', email: 'dmitri@example.com' }) });
      await checkUser(s.main, { logins: ['carol@example.com'], password: DP_CAROL.password, expected: profile({ user_id: '3', email: 'carol@example.com', email_verified: true, blocked: true }) });
    });

    test('the same store without the pepper: right passwords verify false', async () => {
      const bare = await s.start({ preset: 'devise' });
      expectError(await bare.verify('alice@example.com', DP_ALICE.password), 401, 'invalid_credentials', 'no pepper configured');
      expectError(await bare.verify('bob@example.com', DP_BOB.password), 401, 'invalid_credentials', 'no pepper configured');
      assert.equal((await bare.lookup('bob@example.com')).status, 200);
    });
  },
);

// =========================================================================================================
// Forums and shops on MariaDB: the stored values of test/fixtures/passwords/forum.json (PHP running each forum's own
// computation, scripts/fixtures/forum.php), in the tables the forums' installers create.
// =========================================================================================================

/** The positive forum.json vector of `scheme` for `password` whose note (none for the plain case) and row match. */
function forumVec(scheme: string, password: string, note?: string, row?: (r: Vector['row']) => boolean): Vector {
  const v = FORUM.find((x) => x.scheme === scheme && x.expected && x.password === password && x.note === note && (!row || row(x.row)));
  assert.ok(v, `no positive ${scheme} vector for ${JSON.stringify(password)} (${note ?? 'plain'})`);
  return v;
}

// SMF 2.0 sha1(strtolower(member_name) . password) and SMF 2.1 bcrypt of the same string.
const SMF_ALICE = forumVec('smf', 'password', undefined, (r) => r?.username === 'alice');
const SMF_BOB = forumVec('smf', 'hashcat', undefined, (r) => r?.username === 'Bob_Smith');
const SMF_JORG = forumVec('smf', 'Tr0ub4dor&3', 'SMF 2.1 bcrypt', (r) => r?.username === 'JÖRG');
const SMF_ANN = forumVec('smf', 'pässwörd✓', 'SMF 2.1 bcrypt', (r) => r?.username === 'Ann Marie');
const SMF_X = forumVec('smf', 'пароль', undefined, (r) => r?.username === 'x');

function smfDdl(): string[] {
  const member = (m: { id: number; name: string; real: string; email: string; passwd: string; activated: number }) =>
    insert('mysql', 'smf_members', {
      id_member: m.id, member_name: m.name, date_registered: 1300000000 + m.id, posts: 0, id_group: 0, lngfile: '', last_login: 0,
      real_name: m.real, buddy_list: '', passwd: m.passwd, email_address: m.email, signature: '', ignore_boards: '',
      password_salt: 'a1b2', is_activated: m.activated,
    });
  return [
    // other/install_2-1_mysql.sql (SMF 2.1): the members table as the installer creates it (some of its indexes left out).
    `CREATE TABLE smf_members (
      id_member MEDIUMINT(8) UNSIGNED AUTO_INCREMENT,
      member_name VARCHAR(80) NOT NULL DEFAULT '',
      date_registered INT(10) UNSIGNED NOT NULL DEFAULT '0',
      posts MEDIUMINT(8) UNSIGNED NOT NULL DEFAULT '0',
      id_group SMALLINT(5) UNSIGNED NOT NULL DEFAULT '0',
      lngfile VARCHAR(255) NOT NULL DEFAULT '',
      last_login INT(10) UNSIGNED NOT NULL DEFAULT '0',
      real_name VARCHAR(255) NOT NULL DEFAULT '',
      instant_messages SMALLINT(5) NOT NULL DEFAULT 0,
      unread_messages SMALLINT(5) NOT NULL DEFAULT 0,
      new_pm TINYINT(3) UNSIGNED NOT NULL DEFAULT '0',
      alerts INT(10) UNSIGNED NOT NULL DEFAULT '0',
      buddy_list TEXT NOT NULL,
      pm_ignore_list VARCHAR(255) NOT NULL DEFAULT '',
      pm_prefs MEDIUMINT(8) NOT NULL DEFAULT '0',
      mod_prefs VARCHAR(20) NOT NULL DEFAULT '',
      passwd VARCHAR(64) NOT NULL DEFAULT '',
      email_address VARCHAR(255) NOT NULL DEFAULT '',
      personal_text VARCHAR(255) NOT NULL DEFAULT '',
      birthdate date NOT NULL DEFAULT '1004-01-01',
      website_title VARCHAR(255) NOT NULL DEFAULT '',
      website_url VARCHAR(255) NOT NULL DEFAULT '',
      hide_email TINYINT(4) NOT NULL DEFAULT '0',
      show_online TINYINT(4) NOT NULL DEFAULT '1',
      signature TEXT NOT NULL,
      time_offset float NOT NULL DEFAULT '0',
      avatar VARCHAR(255) NOT NULL DEFAULT '',
      usertitle VARCHAR(255) NOT NULL DEFAULT '',
      member_ip VARBINARY(16),
      member_ip2 VARBINARY(16),
      secret_question VARCHAR(255) NOT NULL DEFAULT '',
      secret_answer VARCHAR(64) NOT NULL DEFAULT '',
      id_theme TINYINT(4) UNSIGNED NOT NULL DEFAULT '0',
      is_activated TINYINT(3) UNSIGNED NOT NULL DEFAULT '1',
      validation_code VARCHAR(10) NOT NULL DEFAULT '',
      id_msg_last_visit INT(10) UNSIGNED NOT NULL DEFAULT '0',
      additional_groups VARCHAR(255) NOT NULL DEFAULT '',
      smiley_set VARCHAR(48) NOT NULL DEFAULT '',
      id_post_group SMALLINT(5) UNSIGNED NOT NULL DEFAULT '0',
      total_time_logged_in INT(10) UNSIGNED NOT NULL DEFAULT '0',
      password_salt VARCHAR(255) NOT NULL DEFAULT '',
      ignore_boards TEXT NOT NULL,
      warning TINYINT(4) NOT NULL DEFAULT '0',
      passwd_flood VARCHAR(12) NOT NULL DEFAULT '',
      pm_receive_from TINYINT(4) UNSIGNED NOT NULL DEFAULT '1',
      timezone VARCHAR(80) NOT NULL DEFAULT 'UTC',
      location VARCHAR(80) NOT NULL DEFAULT '',
      gender TINYINT(2) NOT NULL DEFAULT '0',
      tmdisplay TINYINT(2) NOT NULL DEFAULT '-1',
      tfa_secret VARCHAR(24) NOT NULL DEFAULT '',
      tfa_backup VARCHAR(64) NOT NULL DEFAULT '',
      gdpr_date INT(10) UNSIGNED NOT NULL DEFAULT '0',
      PRIMARY KEY (id_member),
      INDEX idx_member_name (member_name),
      INDEX idx_real_name (real_name),
      INDEX idx_email_address (email_address)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
    member({ id: 1, name: 'alice', real: 'Alice A.', email: 'alice@example.com', passwd: SMF_ALICE.stored, activated: 1 }),
    member({ id: 2, name: 'Bob_Smith', real: 'Bob', email: 'Bob@Example.com', passwd: SMF_BOB.stored, activated: 1 }),
    member({ id: 3, name: 'JÖRG', real: 'Jörg', email: 'joerg@example.com', passwd: SMF_JORG.stored, activated: 1 }),
    member({ id: 4, name: 'Ann Marie', real: 'Ann Marie', email: 'ann@example.com', passwd: SMF_ANN.stored, activated: 0 }),
    member({ id: 5, name: 'x', real: 'Banned X', email: 'x@example.com', passwd: SMF_X.stored, activated: 11 }),
  ];
}

presetSuite('preset smf', 'mysql', { ddl: smfDdl, store: { preset: 'smf' } }, (s) => {
  const p = (id: number, name: string, email: string, real: string, activated: number) =>
    profile({ user_id: String(id), email, username: name, name: real, app_metadata: { is_activated: activated } });

  test('SMF 2.0 sha1(lower(member_name) . password) verifies by member name (any case) and by email', async () => {
    await checkUser(s.main, { logins: ['alice', 'alice@example.com'], password: SMF_ALICE.password, expected: p(1, 'alice', 'alice@example.com', 'Alice A.', 1) });
    await checkUser(s.main, { logins: ['Bob_Smith', 'bob@example.com'], password: SMF_BOB.password, expected: p(2, 'bob_smith', 'bob@example.com', 'Bob', 1) });
  });

  test('SMF 2.1 bcrypt of lower(member_name) . password verifies, a non-ASCII name lower-cased as SMF 2.1 does', async () => {
    await checkUser(s.main, { logins: ['joerg@example.com'], password: SMF_JORG.password, expected: p(3, 'jörg', 'joerg@example.com', 'Jörg', 1) });
    expectError(await s.main.verify('joerg@example.com', 'tr0ub4dor&3'), 401, 'invalid_credentials', 'case of the password matters');
  });

  test('with the default filter turned off (filter: []), is_activated goes to app_metadata as stored (0 = never activated, 11 = banned): not a blocked flag', async () => {
    const all = await s.start({ preset: 'smf', users: { filter: [] } });
    await checkUser(all, { logins: ['ann@example.com'], password: SMF_ANN.password, expected: p(4, 'ann marie', 'ann@example.com', 'Ann Marie', 0) });
    await checkUser(all, { logins: ['x@example.com'], password: SMF_X.password, expected: p(5, 'x', 'x@example.com', 'Banned X', 11) });
    await expectTotal(all, 5);
  });

  test('by default, is_activated = 1 (as SMF lets members log in) leaves the waiting and banned members out', async () => {
    const strict = s.main;
    await checkUser(strict, { logins: ['alice'], password: SMF_ALICE.password, expected: p(1, 'alice', 'alice@example.com', 'Alice A.', 1) });
    expectError(await strict.lookup('x@example.com'), 404, 'user_not_found', 'banned member');
    expectError(await strict.verify('x@example.com', SMF_X.password), 401, 'invalid_credentials', 'banned member, right password');
    expectError(await strict.verify('ann@example.com', SMF_ANN.password), 401, 'invalid_credentials', 'member never activated');
    await expectTotal(strict, 3);
  });

  test('a member name changed under a hash made with the old one no longer verifies (the name is the salt)', async () => {
    await s.exec(["UPDATE smf_members SET member_name = 'alice2' WHERE id_member = 1"]);
    expectError(await s.main.verify('alice@example.com', SMF_ALICE.password), 401, 'invalid_credentials', 'renamed member');
    await s.exec(["UPDATE smf_members SET member_name = 'alice' WHERE id_member = 1"]);
    assert.equal((await s.main.verify('alice@example.com', SMF_ALICE.password)).status, 200);
  });
});

// OpenCart 3.0 customers: sha1(salt . sha1(salt . sha1(htmlspecialchars(password)))), the md5 branch, OpenCart 4 bcrypt.
const OC_PLAIN = forumVec('opencart', 'password');
const OC_AMP = forumVec('opencart', 'Tr0ub4dor&3');
const OC_HASHCAT = FORUM.find((v) => v.scheme === 'opencart' && v.expected && v.source?.startsWith('hashcat example hash'))!;
const OC_MD5 = forumVec('opencart', 'hashcat', 'md5 legacy');
const OC_BCRYPT = forumVec('opencart', 'pässwörd✓', 'OpenCart 4 bcrypt');

function opencartDdl(): string[] {
  const customer = (c: { id: number; first: string; last: string; email: string; password: string; salt: string; status: number }) =>
    insert('mysql', 'oc_customer', {
      customer_id: c.id, customer_group_id: 1, store_id: 0, language_id: 1, firstname: c.first, lastname: c.last, email: c.email,
      telephone: '555-0100', fax: '', password: c.password, salt: c.salt, cart: null, wishlist: null, newsletter: 0, address_id: 0,
      custom_field: '', ip: '192.0.2.1', status: c.status, safe: 0, token: '', code: '', date_added: '2019-04-05 06:07:08',
    });
  return [
    // upload/install/opencart.sql (OpenCart 3.0), the customer table.
    `CREATE TABLE oc_customer (
      customer_id int(11) NOT NULL AUTO_INCREMENT,
      customer_group_id int(11) NOT NULL,
      store_id int(11) NOT NULL DEFAULT '0',
      language_id int(11) NOT NULL,
      firstname varchar(32) NOT NULL,
      lastname varchar(32) NOT NULL,
      email varchar(96) NOT NULL,
      telephone varchar(32) NOT NULL,
      fax varchar(32) NOT NULL,
      password varchar(40) NOT NULL,
      salt varchar(9) NOT NULL,
      cart text,
      wishlist text,
      newsletter tinyint(1) NOT NULL DEFAULT '0',
      address_id int(11) NOT NULL DEFAULT '0',
      custom_field text NOT NULL,
      ip varchar(40) NOT NULL,
      status tinyint(1) NOT NULL,
      safe tinyint(1) NOT NULL,
      token text NOT NULL,
      code varchar(40) NOT NULL,
      date_added datetime NOT NULL,
      PRIMARY KEY (customer_id)
    ) ENGINE=MyISAM DEFAULT CHARSET=utf8`,
    customer({ id: 1, first: 'Alice', last: 'Archer', email: 'alice@example.com', password: OC_PLAIN.stored, salt: OC_PLAIN.row!.salt!, status: 1 }),
    customer({ id: 2, first: 'Trou', last: 'Bador', email: 'Trou@Example.com', password: OC_AMP.stored, salt: OC_AMP.row!.salt!, status: 1 }),
    customer({ id: 3, first: 'Hash', last: 'Cat', email: 'hashcat@example.com', password: OC_HASHCAT.stored, salt: OC_HASHCAT.row!.salt!, status: 0 }),
    customer({ id: 4, first: 'Old', last: 'Timer', email: 'old@example.com', password: OC_MD5.stored, salt: '', status: 1 }),
  ];
}

presetSuite('preset opencart', 'mysql', { ddl: opencartDdl, store: { preset: 'opencart' } }, (s) => {
  const p = (id: number, email: string, first: string, last: string, blocked = false) =>
    profile({ user_id: String(id), email, given_name: first, family_name: last, blocked });

  test('sha1(salt . sha1(salt . sha1(password))) verifies by email; `&` is hashed HTML-escaped, as OpenCart stored it', async () => {
    await checkUser(s.main, { logins: ['alice@example.com', 'ALICE@example.com'], password: OC_PLAIN.password, expected: p(1, 'alice@example.com', 'Alice', 'Archer') });
    await checkUser(s.main, { logins: ['trou@example.com'], password: OC_AMP.password, expected: p(2, 'trou@example.com', 'Trou', 'Bador') });
    expectError(await s.main.verify('trou@example.com', 'Tr0ub4dor&amp;3'), 401, 'invalid_credentials', 'the escaped text is not the password');
  });

  test("status = 0 blocks (hashcat's published OpenCart example as the stored value)", async () => {
    await checkUser(s.main, { logins: ['hashcat@example.com'], password: 'hashcat', expected: p(3, 'hashcat@example.com', 'Hash', 'Cat', true) });
  });

  test("the md5 branch of OpenCart's login, and an OpenCart 4 bcrypt value written after the migration started", async () => {
    await checkUser(s.main, { logins: ['old@example.com'], password: OC_MD5.password, expected: p(4, 'old@example.com', 'Old', 'Timer') });
    // OpenCart 4 widens password to varchar(255) and rehashes with password_hash() at login.
    await s.exec([
      'ALTER TABLE oc_customer MODIFY password varchar(255) NOT NULL',
      insert('mysql', 'oc_customer', {
        customer_id: 5, customer_group_id: 1, store_id: 0, language_id: 1, firstname: 'Päivi', lastname: 'Öberg', email: 'paivi@example.com',
        telephone: '', fax: '', password: OC_BCRYPT.stored, salt: '', custom_field: '', ip: '', status: 1, safe: 0, token: '', code: '',
        date_added: '2024-01-02 03:04:05',
      }),
    ]);
    await checkUser(s.main, { logins: ['paivi@example.com'], password: OC_BCRYPT.password, expected: p(5, 'paivi@example.com', 'Päivi', 'Öberg') });
    await expectTotal(s.main, 5);
  });
});
