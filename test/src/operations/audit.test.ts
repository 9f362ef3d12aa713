/**
 * `legacy-gateway audit` on real PostgreSQL and MariaDB: a users table seeded with one user per problem (and a few
 * clean ones, migrated ones, and near misses), audited through the real adapter's streaming scan. Every planted
 * problem must be reported under its rule, for its user, with the other user of a pair — and nothing else may be.
 * Then the command itself: exit 1 on blockers, --json, the human form, never a hash in the output.
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { createStore } from '../../../adapters/index.js';
import type { LegacyUser } from '../../../adapters/types.js';
import { parseConfig, type Config } from '../../../src/config.js';
import { audit, formatAudit, recordRule, RULES, run, type AuditReport, type Finding, type RuleId } from '../../../src/operations/audit.js';
import { UsageError } from '../../../src/operations/cli.js';
import { availability, createMysqlDatabase, createPostgresDatabase, lit, type TestDatabase } from '../../helpers/databases.js';
import { captureIO } from '../../helpers/cli-io.js';

const BCRYPT = hashSync('a-fine-password', 4);
const PHPASS = '$P$B12345678abcdefghijklmnopqrstuv';
const LONG_ID = `u17${'x'.repeat(260)}`;

interface Row {
  id: string;
  email?: string | null;
  username?: string | null;
  password_hash?: string | null;
  password_scheme?: string;
  given_name?: string;
  is_disabled?: number;
  is_active?: number;
  locked_until?: string;
  metadata?: string;
  plan?: string;
  migrated_at?: string;
}

/** One user per problem; the comment names what it plants (nothing: a clean user, or a near miss). */
const ROWS: Row[] = [
  { id: 'u01', email: 'ok1@example.com', username: 'ok1' }, // clean (and the email u15 uses as a username)
  { id: 'u02', email: 'ok2@example.com', username: 'ok2', plan: 'gold' }, // clean, with app_metadata
  { id: 'u03', email: null, username: 'nomail' }, // email_missing
  { id: 'u04', email: 'not-an-email', username: 'bademail' }, // email_invalid
  { id: 'u05', email: 'dup@example.com', username: 'dupa' },
  { id: 'u06', email: 'dup@example.com', username: 'dupb' }, // email_duplicate of u05
  { id: 'u07', email: 'case@example.com', username: 'casea' },
  { id: 'u08', email: 'Case@Example.com', username: 'caseb' }, // email_duplicate_case of u07
  { id: 'u09', email: 'un1@example.com', username: 'samename' },
  { id: 'u10', email: 'un2@example.com', username: 'samename' }, // username_duplicate of u09
  { id: 'u11', email: 'un3@example.com', username: 'mixed' },
  { id: 'u12', email: 'un4@example.com', username: 'MIXED' }, // username_duplicate_case of u11
  { id: 'u13', email: 'nouser@example.com', username: null }, // username_missing (with --require-username)
  { id: 'u14', email: 'un5@example.com', username: 'bad user' }, // username_invalid (a space)
  { id: 'u15', email: 'coll@example.com', username: 'ok1@example.com' }, // login_collision with u01; username_invalid (an email)
  { id: 'u16 x', email: 'sp@example.com', username: 'spaceid' }, // user_id_invalid (whitespace)
  { id: LONG_ID, email: 'longid@example.com', username: 'longid' }, // user_id_invalid (over 255)
  { id: 'u18', email: `${'a'.repeat(65)}@example.com`, username: 'longmail' }, // profile_over_limit (local part > 64)
  { id: 'u19', email: 'longun@example.com', username: 'u'.repeat(129) }, // profile_over_limit (username > 128)
  { id: 'u20', email: 'pw1@example.com', username: 'pw1', password_hash: 'not-a-hash-at-all!!' }, // password_unverifiable
  { id: 'u21', email: 'pw2@example.com', username: 'pw2', password_scheme: 'no_such_scheme' }, // password_unverifiable
  { id: 'u22', email: 'pw3@example.com', username: 'pw3', password_hash: 'not-bcrypt', password_scheme: 'bcrypt' }, // password_unverifiable
  { id: 'u23', email: 'meta@example.com', username: 'meta', metadata: 'x' }, // app_metadata_reserved_key
  { id: 'u24', email: 'given@example.com', username: 'given', given_name: 'g'.repeat(151) }, // profile_adjusted
  { id: 'u25', email: 'sixteen@example.com', username: 'sixteen-chars-xx' }, // profile_adjusted (16 > 15)
  { id: 'auth0|u26', email: 'prefixed@example.com', username: 'prefixed' }, // profile_adjusted (auth0| prefix)
  { id: 'u27', email: 'clear@example.com', username: 'clear', password_hash: 'hunter2', password_scheme: 'plaintext' }, // password_cleartext
  { id: 'u28', email: 'nopw@example.com', username: 'nopw', password_hash: null }, // password_missing
  { id: 'u29', email: 'unusable@example.com', username: 'unusable', password_hash: `!${'a'.repeat(40)}` }, // password_missing (unusable)
  { id: 'u30', email: 'phpass@example.com', username: 'phpass', password_hash: PHPASS }, // password_not_importable
  { id: 'u31', email: 'blocked@example.com', username: 'blocked', is_disabled: 1 }, // account_blocked
  { id: 'u32', email: 'inactive@example.com', username: 'inactive', is_active: 0 }, // account_blocked (not active)
  { id: 'u33', email: 'locked@example.com', username: 'locked', locked_until: '2999-01-01 00:00:00' }, // account_locked
  { id: 'u34', email: 'unlocked@example.com', username: 'unlocked', locked_until: '2000-01-01 00:00:00' }, // nothing: the lock is over
  { id: 'u35', email: 'also-bad', username: 'mig0', password_hash: PHPASS, migrated_at: '2025-01-01 00:00:00' }, // nothing: migrated
  { id: 'u36', email: 'mig@example.com', username: 'mig1', migrated_at: '2025-01-02 00:00:00' },
  { id: 'u37', email: 'mig@example.com', username: 'mig2' }, // email_duplicate of u36 (migrated: still a conflict)
  { id: 'u38', email: 'both@example.com', username: 'mig3', migrated_at: '2025-01-03 00:00:00' },
  { id: 'u39', email: 'both@example.com', username: 'mig4', migrated_at: '2025-01-04 00:00:00' }, // nothing: both migrated
  // password_unverifiable: bcrypt cost 31 is over the gateway's cap (it refuses to verify it), so not importable either
  { id: 'u40', email: 'cost@example.com', username: 'cost', password_hash: '$2b$31$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K' },
  { id: 'u41', email: ' lead@example.com', username: 'lead' }, // login_untrimmed (email)
  { id: 'u42', email: 'trail@example.com', username: 'trail\t' }, // login_untrimmed (username)
];

const f = (id: string, extra: Omit<Finding, 'id'> = {}): Finding => ({ id, ...extra });

/** What the audit must find, rule by rule, in primary-key order. Every other rule: nothing. */
const EXPECTED: Partial<Record<RuleId, Finding[]>> = {
  email_missing: [f('u03')],
  email_invalid: [f('u04')],
  email_duplicate: [f('u06', { same_as: 'u05' }), f('u37', { same_as: 'u36' })],
  email_duplicate_case: [f('u08', { same_as: 'u07' })],
  username_missing: [f('u13')],
  username_invalid: [f('u14'), f('u15', { detail: 'username: username_is_email' })],
  username_duplicate: [f('u10', { same_as: 'u09' })],
  username_duplicate_case: [f('u12', { same_as: 'u11' })],
  login_collision: [f('u15', { same_as: 'u01' })],
  login_untrimmed: [f('u41', { detail: 'email' }), f('u42', { detail: 'username' })],
  user_id_invalid: [f('u16 x'), f(LONG_ID, { detail: 'user_id: user_id_too_long' })],
  profile_over_limit: [f('u18', { detail: 'email: email_too_long' }), f('u19', { detail: 'username: username_too_long' })],
  password_unverifiable: [f('u20', { detail: 'unrecognised' }), f('u21', { detail: 'unknown_scheme' }), f('u22', { detail: 'malformed_hash:bcrypt' }), f('u40', { detail: 'over_limits:bcrypt' })],
  app_metadata_reserved_key: [f('u23', { detail: 'app_metadata.metadata' })],
  profile_adjusted: [
    f('auth0|u26', { detail: 'user_id: user_id_auth0_prefix' }),
    f('u24', { detail: 'given_name: given_name_too_long' }),
    f('u25', { detail: 'username: username_over_default_length' }),
  ],
  password_cleartext: [f('u27', { detail: 'plaintext' })],
  password_missing: [f('u28'), f('u29', { detail: 'unusable_password' })],
  password_not_importable: [f('u30', { detail: 'unsupported_scheme:phpass' })],
  account_blocked: [f('u31'), f('u32')],
  account_locked: [f('u33')],
};

const BLOCKERS = new Set<RuleId>(RULES.filter((r) => r[1] === 'blocker').map((r) => r[0]));

function usersWith(severity: 'blocker' | 'warning', requireUsername: boolean): number {
  const ids = new Set<string>();
  for (const [rule, list] of Object.entries(EXPECTED) as [RuleId, Finding[]][]) {
    if (rule === 'username_missing' && !requireUsername) continue;
    if (BLOCKERS.has(rule) === (severity === 'blocker')) for (const x of list) ids.add(x.id);
  }
  return ids.size;
}

function assertFindings(r: AuditReport, requireUsername: boolean): void {
  assert.equal(r.scanned, ROWS.length);
  assert.equal(r.migrated, ROWS.filter((x) => x.migrated_at).length);
  assert.deepEqual(
    r.rules.map((x) => x.rule),
    RULES.map((x) => x[0]),
    'every rule, in a stable order',
  );
  for (const rule of r.rules) {
    const expected = rule.rule === 'username_missing' && !requireUsername ? [] : (EXPECTED[rule.rule] ?? []);
    assert.deepEqual(rule.users, expected, `rule ${rule.rule}`);
    assert.equal(rule.count, expected.length);
    assert.equal(rule.checked, rule.rule !== 'username_missing' || requireUsername);
  }
  assert.equal(r.users_with_blockers, usersWith('blocker', requireUsername));
  assert.equal(r.users_with_warnings, usersWith('warning', requireUsername));
}


const COLUMNS = ['id', 'email', 'username', 'password_hash', 'password_scheme', 'given_name', 'is_disabled', 'is_active', 'locked_until', 'metadata', 'plan', 'migrated_at'] as const;

function seed(kind: 'postgres' | 'mysql'): string[] {
  const ts = kind === 'postgres' ? 'TIMESTAMP' : 'DATETIME';
  const ddl = `CREATE TABLE users (id VARCHAR(300) PRIMARY KEY, email VARCHAR(320), username VARCHAR(200), password_hash VARCHAR(200),
    password_scheme VARCHAR(50), given_name VARCHAR(300), is_disabled INT NOT NULL DEFAULT 0, is_active INT NOT NULL DEFAULT 1,
    locked_until ${ts} NULL, metadata VARCHAR(50), plan VARCHAR(20), migrated_at ${ts} NULL)`;
  const rows = ROWS.map((r) => {
    const v = { ...r, password_hash: 'password_hash' in r ? r.password_hash : BCRYPT, is_disabled: r.is_disabled ?? 0, is_active: r.is_active ?? 1 };
    return `(${COLUMNS.map((c) => lit((v as Record<string, unknown>)[c])).join(', ')})`;
  });
  return [ddl, `INSERT INTO users (${COLUMNS.join(', ')}) VALUES ${rows.join(',\n')}`];
}

function rawConfig(kind: 'postgres' | 'mysql', url: string) {
  return {
    auth: { issuer: 'https://issuer.test/', audience: 'https://legacy-gateway.test' },
    store: {
      adapter: kind,
      url,
      users: {
        table: 'users',
        columns: {
          id: 'id', email: 'email', username: 'username', password: 'password_hash', password_scheme: 'password_scheme',
          given_name: 'given_name', blocked: 'is_disabled', active: 'is_active', locked_until: 'locked_until',
        },
        app_metadata: ['plan', 'metadata'],
      },
      migration: { column: 'migrated_at' },
    },
  };
}

for (const kind of ['postgres', 'mysql'] as const) {
  describe(`audit on ${kind === 'postgres' ? 'PostgreSQL' : 'MariaDB'}: every planted problem under its rule, nothing else`, async () => {
    const skip = await availability(kind);
    let db: TestDatabase | undefined;
    let config: Config;
    let dir: string;
    let configFile: string;
    before(async () => {
      if (skip) return;
      db = kind === 'postgres' ? await createPostgresDatabase() : await createMysqlDatabase();
      await db.exec(seed(kind));
      config = parseConfig(rawConfig(kind, db.url), {});
      dir = mkdtempSync(path.join(tmpdir(), 'lg-audit-'));
      configFile = path.join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify(rawConfig(kind, db.url)));
    });
    after(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('with --require-username', { skip }, async () => {
      const store = await createStore(config.store);
      try {
        assertFindings(await audit(store, config, { requireUsername: true }), true);
      } finally {
        await store.close();
      }
    });

    test('without it: username_missing is not checked, the rest is the same', { skip }, async () => {
      const store = await createStore(config.store);
      try {
        assertFindings(await audit(store, config), false);
      } finally {
        await store.close();
      }
    });

    test('the command: exit 1 on blockers; --json is the report; no hash or password in any output', { skip }, async () => {
      const json = captureIO();
      assert.equal(await run(['--json', '--require-username', '--config', configFile], json), 1);
      const report = JSON.parse(json.out()) as AuditReport;
      assertFindings(report, true);
      assert.match(json.err(), new RegExp(`^audit: ${ROWS.length}/${ROWS.length} \\(100%\\)`, 'm'), 'progress on stderr, plain lines when not a TTY');

      const human = captureIO();
      assert.equal(await run(['--config', configFile], human), 1);
      const text = human.out();
      assert.match(text, new RegExp(`^Audited ${ROWS.length} users \\(4 already migrated`, 'm'));
      assert.match(text, /^ {2}email_duplicate: Same email address as another user \(2\)\n {4}u06 \(same as u05\), u37 \(same as u36\)$/m);
      assert.match(text, /^ {2}password_not_importable: .* \(1\)\n {4}u30 \(unsupported_scheme:phpass\)$/m);
      assert.match(text, /^Not checked: username_missing/m);
      assert.match(text, /^Result: blockers found \(exit 1\)\.$/m);
      for (const secret of [BCRYPT, PHPASS, 'hunter2', 'not-a-hash-at-all!!', 'not-bcrypt', ROWS.at(-1)!.password_hash!]) {
        assert.ok(!json.out().includes(secret) && !text.includes(secret) && !json.err().includes(secret), 'no stored password value in the output');
      }
    });

    test('a store without blockers: exit 0', { skip }, async () => {
      const clean = await (kind === 'postgres' ? createPostgresDatabase() : createMysqlDatabase());
      try {
        await clean.exec([
          seed(kind)[0]!,
          `INSERT INTO users (id, email, username, password_hash) VALUES ('a1', 'a1@example.com', 'a1', ${lit(BCRYPT)}), ('a2', 'a2@example.com', 'a2', ${lit(PHPASS)})`,
        ]);
        const file = path.join(dir, 'clean.json');
        writeFileSync(file, JSON.stringify(rawConfig(kind, clean.url)));
        const io = captureIO();
        assert.equal(await run(['--json', '--config', file], io), 0);
        const r = JSON.parse(io.out()) as AuditReport;
        assert.equal(r.users_with_blockers, 0);
        assert.equal(r.users_with_warnings, 1);
        assert.deepEqual(r.rules.find((x) => x.rule === 'password_not_importable')!.users, [{ id: 'a2', detail: 'unsupported_scheme:phpass' }]);
      } finally {
        await clean.drop();
      }
    });
  });
}

describe('audit without a database', () => {
  const config = parseConfig(rawConfig('postgres', 'postgres://unused@127.0.0.1:1/x'), {});
  const user = (id: string, over: Partial<LegacyUser> = {}): LegacyUser => ({
    id,
    email: `${id}@example.com`,
    username: id,
    password: BCRYPT,
    appMetadata: {},
    userMetadata: {},
    migratedAt: null,
    ...over,
  });
  const storeOf = (users: LegacyUser[]) => ({
    async *scan() {
      yield* users;
    },
  });

  test('a problem code with no rule of its own: a blocker when the IdP refuses the user for it, a warning otherwise', () => {
    assert.equal(recordRule({ code: 'something_new', blocking: true }), 'profile_invalid');
    assert.equal(recordRule({ code: 'something_new', blocking: false }), 'profile_adjusted');
    assert.equal(recordRule({ code: 'username_is_email', blocking: true }), 'username_invalid');
  });

  test('an email that is also a username of the same user is not a collision; a three-way duplicate names the first each time', async () => {
    const r = await audit(
      storeOf([user('a', { username: 'same@example.com', email: 'same@example.com' }), user('b', { email: 'X@example.com' }), user('c', { email: 'x@example.com' }), user('d', { email: 'x@example.com' })]),
      config,
    );
    const by = (rule: RuleId) => r.rules.find((x) => x.rule === rule)!.users;
    assert.deepEqual(by('login_collision'), []);
    assert.deepEqual(by('email_duplicate_case'), [f('c', { same_as: 'b' }), f('d', { same_as: 'b' })]);
    // d is spelled like c, not like b (the first): compared with the first, it differs in case only
    assert.deepEqual(by('email_duplicate'), []);
  });

  test('a lock that ends in the future, judged at the time given', async () => {
    const u = [user('l', { lockedUntil: '2030-01-01T00:00:00Z' })];
    const before2030 = await audit(storeOf(u), config, { now: Date.parse('2029-12-31T00:00:00Z') });
    const after2030 = await audit(storeOf(u), config, { now: Date.parse('2030-01-02T00:00:00Z') });
    assert.equal(before2030.rules.find((x) => x.rule === 'account_locked')!.count, 1);
    assert.equal(after2030.rules.find((x) => x.rule === 'account_locked')!.count, 0);
  });

  test('a store that checks passwords itself (a legacy service): no password rule is applied, and the report says so', async () => {
    const users = [user('s1', { password: undefined }), user('s2', { password: undefined, email: 'bad' })];
    const r = await audit({ ...storeOf(users), verifyCredentials: async () => null }, config);
    for (const rule of ['password_unverifiable', 'password_cleartext', 'password_missing', 'password_not_importable'] as const) {
      assert.deepEqual(
        r.rules.filter((x) => x.rule === rule).map((x) => [x.checked, x.count]),
        [[false, 0]],
        rule,
      );
    }
    assert.deepEqual(r.rules.find((x) => x.rule === 'email_invalid')!.users, [f('s2')]);
    assert.match(formatAudit(r), /the legacy service checks passwords itself/);
  });

  test('human output lists at most 100 users per rule and points to --json for the rest', async () => {
    const users = Array.from({ length: 150 }, (_, i) => user(`n${String(i).padStart(3, '0')}`, { email: undefined }));
    const text = formatAudit(await audit(storeOf(users), config));
    assert.match(text, /email_missing: No email address \(150\)/);
    assert.match(text, /n099, … and 50 more \(--json lists them all\)/);
    assert.doesNotMatch(text, /n100/);
  });

  test('usage: an unknown flag, no config', async () => {
    await assert.rejects(run(['--bogus'], captureIO()), UsageError);
    await assert.rejects(run([], captureIO()), (e: Error) => e instanceof UsageError && /--config/.test(e.message));
  });
});
