/**
 * toAuth0User: one legacy user → one Auth0 import record. Every record produced here is validated with ajv against
 * Auth0's user-import schema (test/fixtures/auth0/auth0-users-import.schema.json, a byte-identical copy of the schema
 * on Auth0's bulk-import schema page; see ./schema.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LegacyUser } from '../../../../adapters/types.js';
import type { Config } from '../../../../src/config.js';
import { RESERVED_APP_METADATA_KEYS, serialiseRecord, toAuth0User } from '../../../../src/operations/auth0/record.js';
import { toProfile } from '../../../../src/profile.js';
import { importRecordErrors } from './schema.js';

const BCRYPT = '$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K';

function user(over: Partial<LegacyUser> = {}): LegacyUser {
  return { id: '42', email: 'Alice@Example.COM', password: BCRYPT, appMetadata: {}, userMetadata: {}, migratedAt: null, ...over };
}

function config(prefix = ''): Pick<Config, 'profile' | 'passwords'> {
  return { profile: { user_id_prefix: prefix }, passwords: { scheme: 'auto', scheme_map: {}, params: {} } };
}

const codes = (r: ReturnType<typeof toAuth0User>) => r.problems.map((p) => `${p.code}${p.blocking ? '!' : ''}`).sort();

describe('toAuth0User', () => {
  test('a full row: the profile mapper values, app_metadata (never metadata), the hash; valid against the schema', () => {
    const u = user({ username: ' Alice ', emailVerified: 1, name: 'Alice Doe', givenName: 'Alice', familyName: 'Doe', nickname: 'ally' });
    Object.assign(u, { picture: 'https://example.com/a.png', blocked: 'N', appMetadata: { plan: 'gold', seats: 3 }, userMetadata: { locale: 'fr' } });
    const r = toAuth0User(u, config('legacy|'));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.record, {
      user_id: 'legacy|42',
      email: 'alice@example.com',
      email_verified: true,
      username: 'alice',
      given_name: 'Alice',
      family_name: 'Doe',
      name: 'Alice Doe',
      nickname: 'ally',
      picture: 'https://example.com/a.png',
      app_metadata: { plan: 'gold', seats: 3 },
      user_metadata: { locale: 'fr' },
      custom_password_hash: { algorithm: 'bcrypt', hash: { value: BCRYPT, encoding: 'utf8' } },
    });
    assert.deepEqual(importRecordErrors(r.record), []);
    assert.equal(r.record!.user_id, toProfile(u, 'legacy|').user_id, 'the user_id login and get_user return');
    assert.ok(!('metadata' in r.record!));
  });

  test('a minimal row: email only, nothing invented (no email_verified, no empty metadata, no password)', () => {
    const r = toAuth0User(user({ password: undefined }), config());
    assert.deepEqual(r.record, { user_id: '42', email: 'alice@example.com' });
    assert.deepEqual(r.password, { ok: false, reason: 'no_password' });
    assert.deepEqual(importRecordErrors(r.record), []);
  });

  test('email_verified as the legacy store knows it: false stays false, unknown is left out', () => {
    assert.equal(toAuth0User(user({ emailVerified: 0 }), config()).record!.email_verified, false);
    assert.equal(toAuth0User(user({ emailVerified: 'f' }), config()).record!.email_verified, false);
    assert.ok(!('email_verified' in toAuth0User(user({ emailVerified: null }), config()).record!));
  });

  test("a configured prefix starting with 'auth0|' is stripped (the import adds it) and reported", () => {
    const r = toAuth0User(user(), config('auth0|legacy|'));
    assert.equal(r.record!.user_id, 'legacy|42');
    assert.deepEqual(codes(r), ['user_id_auth0_prefix']);
  });

  test('blocked: disabled accounts are exported blocked; a lock-out that expires is not a permanent block', () => {
    assert.equal(toAuth0User(user({ blocked: 1 }), config()).record!.blocked, true);
    assert.equal(toAuth0User(user({ active: false }), config()).record!.blocked, true);
    const locked = toAuth0User(user({ lockedUntil: new Date(Date.now() + 3600_000).toISOString() }), config());
    assert.ok(!('blocked' in locked.record!));
    assert.deepEqual(importRecordErrors(toAuth0User(user({ blocked: true }), config()).record), []);
  });

  test('reserved app_metadata keys are dropped and reported; keys with "." or "$" too (in both metadata objects)', () => {
    const app: Record<string, unknown> = { plan: 'gold', 'a.b': 1, nested: { ok: { 'x$': 1 } } };
    for (const k of RESERVED_APP_METADATA_KEYS) app[k] = 'v';
    const r = toAuth0User(user({ appMetadata: app, userMetadata: { 'dotted.key': 1, fine: [{ ok: true }] } }), config());
    assert.deepEqual(r.record!.app_metadata, { plan: 'gold' });
    assert.deepEqual(r.record!.user_metadata, { fine: [{ ok: true }] });
    const fields = r.problems.map((p) => p.field).sort();
    assert.deepEqual(fields, [...[...RESERVED_APP_METADATA_KEYS].map((k) => `app_metadata.${k}`), 'app_metadata.a.b', 'app_metadata.nested', 'user_metadata.dotted.key'].sort());
    assert.ok(r.problems.every((p) => !p.blocking));
    assert.deepEqual(importRecordErrors(r.record), []);
  });

  test("values over Auth0's limits: optional name fields are left out; identifiers keep the user out of the file", () => {
    const long = toAuth0User(user({ name: 'n'.repeat(301), givenName: 'g'.repeat(151), familyName: 'f'.repeat(150), nickname: 'k'.repeat(300) }), config());
    assert.deepEqual(codes(long), ['given_name_too_long', 'name_too_long']);
    assert.equal(long.record!.family_name, 'f'.repeat(150), 'at the limit is fine');
    assert.equal(long.record!.nickname, 'k'.repeat(300));
    assert.ok(!('name' in long.record!) && !('given_name' in long.record!));
    assert.deepEqual(importRecordErrors(long.record), []);

    const blocking: [Partial<LegacyUser>, string[], string?][] = [
      [{ email: undefined }, ['email_missing!']],
      [{ email: 'not-an-email' }, ['email_invalid!']],
      [{ email: 'élodie@exemple.fr' }, ['email_invalid!']],
      [{ email: `${'a'.repeat(65)}@example.com` }, ['email_too_long!']],
      [{ username: 'u'.repeat(129) }, ['username_too_long!']],
      [{ username: 'bad name' }, ['username_invalid!']],
      [{ username: 'bob@example.com' }, ['username_is_email!']],
      [{ id: '1'.repeat(256) }, ['user_id_too_long!']],
      [{ id: 'a b' }, ['user_id_invalid!']],
    ];
    for (const [over, expected] of blocking) {
      const r = toAuth0User(user(over), config());
      assert.deepEqual(codes(r), expected, JSON.stringify(over).slice(0, 60));
      assert.equal(r.record, null);
      for (const p of r.problems) assert.ok(!Object.values(over).some((v) => typeof v === 'string' && v.length > 3 && p.message.includes(v)), 'problems never quote a value');
    }
    const warned = toAuth0User(user({ username: 'sixteen_chars_xx' }), config());
    assert.deepEqual(codes(warned), ['username_over_default_length']);
    assert.equal(warned.record!.username, 'sixteen_chars_xx');
  });

  test('a record that can not be imported still reports its password mapping (for audit)', () => {
    const r = toAuth0User(user({ email: undefined, password: '$P$6saltsaltSWuYlYThcE0b28uJd8gfO0' }), config());
    assert.equal(r.record, null);
    assert.deepEqual(r.password, { ok: false, scheme: 'phpass', reason: 'unsupported_scheme:phpass' });
  });

  test('serialiseRecord: driver bigints become numbers (or strings when too large)', () => {
    const r = toAuth0User(user({ appMetadata: { small: 7n, big: 2n ** 64n } }), config());
    assert.deepEqual(JSON.parse(serialiseRecord(r.record!)).app_metadata, { small: 7, big: '18446744073709551616' });
  });
});
