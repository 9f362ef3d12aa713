import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LegacyUser } from '../../adapters/types.js';
import { legacyIdFrom, toBool, toProfile } from '../../src/profile.js';

function user(over: Partial<LegacyUser> = {}): LegacyUser {
  return { id: '42', appMetadata: {}, userMetadata: {}, migratedAt: null, ...over };
}

describe('toBool: legacy flag forms', () => {
  const truthy: unknown[] = [true, 1, -1, 2, 1n, '1', 't', 'T', 'true', 'TRUE', 'True', 'y', 'Y', 'yes', 'on', ' Y ', Buffer.from([0x01]), Buffer.from([0x00, 0x01])];
  const falsy: unknown[] = [false, 0, 0n, '0', 'f', 'F', 'false', 'FALSE', 'n', 'N', 'no', 'off', ' N ', Buffer.from([0x00])];
  const unknown: unknown[] = [null, undefined, 'garbage', 'maybe', 'tru', '2', {}, [], Symbol('x')];

  for (const v of truthy) {
    test(`${describeValue(v)} → true`, () => assert.equal(toBool(v), true));
  }
  for (const v of falsy) {
    test(`${describeValue(v)} → false`, () => assert.equal(toBool(v), false));
  }
  for (const v of unknown) {
    test(`${describeValue(v)} → undefined`, () => assert.equal(toBool(v), undefined));
  }
});

function describeValue(v: unknown): string {
  if (Buffer.isBuffer(v)) return `Buffer[${[...v].join(',')}]`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'undefined';
  return `${typeof v} ${JSON.stringify(v)}`;
}

describe('toProfile', () => {
  test('full row: lower-cases email/username, trims text, applies the prefix, keeps §2 key order', () => {
    const p = toProfile(
      user({
        id: '42',
        email: '  Alice@Example.COM ',
        username: ' Alice ',
        emailVerified: 't',
        name: ' Alice Doe ',
        givenName: 'Alice',
        familyName: 'Doe',
        nickname: 'AliceD',
        picture: 'https://img.example.com/a.png',
        blocked: 0,
        appMetadata: { plan: 'gold' },
        userMetadata: { lang: 'fr' },
      }),
      'legacy|',
    );
    assert.deepEqual(p, {
      user_id: 'legacy|42',
      email: 'alice@example.com',
      email_verified: true,
      username: 'alice',
      name: 'Alice Doe',
      given_name: 'Alice',
      family_name: 'Doe',
      nickname: 'AliceD', // only email and username are lower-cased
      picture: 'https://img.example.com/a.png',
      blocked: false,
      app_metadata: { plan: 'gold' },
      user_metadata: { lang: 'fr' },
    });
    assert.deepEqual(Object.keys(p), [
      'user_id', 'email', 'email_verified', 'username', 'name', 'given_name', 'family_name',
      'nickname', 'picture', 'blocked', 'app_metadata', 'user_metadata',
    ]);
  });

  test('absent, empty and whitespace-only values are omitted entirely (no key, not null)', () => {
    const p = toProfile(user({ email: 'bob@example.com', username: '', name: '   ', givenName: undefined, emailVerified: null }), '');
    assert.deepEqual(p, { user_id: '42', email: 'bob@example.com', blocked: false, app_metadata: {}, user_metadata: {} });
    for (const k of ['username', 'name', 'given_name', 'family_name', 'nickname', 'picture', 'email_verified']) {
      assert.equal(Object.hasOwn(p, k), false, `key ${k} should be absent`);
    }
    assert.ok(!Object.values(p).includes(null as never));
    assert.ok(!JSON.stringify(p).includes('null'));
  });

  test('an unrecognised email_verified value is omitted, not invented', () => {
    const p = toProfile(user({ email: 'x@example.com', emailVerified: 'garbage' }), '');
    assert.equal(Object.hasOwn(p, 'email_verified'), false);
  });

  test('email_verified false is kept (false is a value, not an absence)', () => {
    const p = toProfile(user({ email: 'x@example.com', emailVerified: 0 }), '');
    assert.equal(p.email_verified, false);
  });

  test('blocked defaults to false when absent or unreadable, and follows the legacy flag otherwise', () => {
    assert.equal(toProfile(user(), '').blocked, false);
    assert.equal(toProfile(user({ blocked: null }), '').blocked, false);
    assert.equal(toProfile(user({ blocked: 'garbage' }), '').blocked, false);
    assert.equal(toProfile(user({ blocked: 1 }), '').blocked, true);
    assert.equal(toProfile(user({ blocked: 'Y' }), '').blocked, true);
    assert.equal(toProfile(user({ blocked: Buffer.from([1]) }), '').blocked, true);
    assert.equal(toProfile(user({ blocked: 0n }), '').blocked, false);
  });

  test('metadata is copied, not shared by reference', () => {
    const appMetadata = { plan: 'gold' };
    const userMetadata: Record<string, unknown> = { lang: 'fr' };
    const p = toProfile(user({ appMetadata, userMetadata }), '');
    assert.deepEqual(p.app_metadata, { plan: 'gold' });
    assert.deepEqual(p.user_metadata, { lang: 'fr' });
    assert.notEqual(p.app_metadata, appMetadata);
    assert.notEqual(p.user_metadata, userMetadata);
    p.app_metadata.plan = 'changed';
    (p.user_metadata as Record<string, unknown>).extra = 1; // (cast: deepEqual narrowed the type)
    assert.equal(appMetadata.plan, 'gold');
    assert.equal(Object.hasOwn(userMetadata, 'extra'), false);
  });

  test('never carries password, salt, passwordScheme or migratedAt, even when the row has them', () => {
    const p = toProfile(
      user({
        email: 'carol@example.com',
        password: '$2b$10$abcdefghijklmnopqrstuuN0tARealHashButSecretLooking1234',
        salt: 'NaCl-salt-value',
        passwordScheme: 'bcrypt',
        migratedAt: '2024-01-01T00:00:00.000Z',
      }),
      '',
    );
    for (const k of ['password', 'salt', 'passwordScheme', 'password_scheme', 'migratedAt', 'migrated_at', 'id']) {
      assert.equal(Object.hasOwn(p, k), false, `profile has forbidden key ${k}`);
    }
    const json = JSON.stringify(p);
    assert.ok(!json.includes('NaCl-salt-value'));
    assert.ok(!json.includes('SecretLooking'));
    assert.ok(!json.includes('2024-01-01'));
  });

  test('extra unexpected fields on the row do not leak into the profile', () => {
    const row = { ...user({ email: 'd@example.com' }), secret_answer: 'blue', hash: 'xyz' } as LegacyUser;
    const p = toProfile(row, '');
    assert.deepEqual(Object.keys(p).sort(), ['app_metadata', 'blocked', 'email', 'user_id', 'user_metadata']);
  });

  test('user_id comes from the id only, with or without prefix', () => {
    assert.equal(toProfile(user({ id: '7', email: 'E@x.com' }), '').user_id, '7');
    assert.equal(toProfile(user({ id: '7' }), 'legacy|').user_id, 'legacy|7');
    // The id is not lower-cased or trimmed: it is the legacy key verbatim.
    assert.equal(toProfile(user({ id: 'AbC-1' }), 'p:').user_id, 'p:AbC-1');
  });
});

describe('legacyIdFrom', () => {
  test('without a prefix the public id is the legacy id', () => {
    assert.equal(legacyIdFrom('42', ''), '42');
    assert.equal(legacyIdFrom('legacy|42', ''), 'legacy|42');
  });

  test('with a prefix it is stripped', () => {
    assert.equal(legacyIdFrom('legacy|42', 'legacy|'), '42');
    assert.equal(legacyIdFrom('legacy|', 'legacy|'), '');
  });

  test('with a prefix, an id that does not carry it is null', () => {
    assert.equal(legacyIdFrom('42', 'legacy|'), null);
    assert.equal(legacyIdFrom('LEGACY|42', 'legacy|'), null);
    assert.equal(legacyIdFrom('xlegacy|42', 'legacy|'), null);
  });

  test('round-trips with toProfile', () => {
    for (const prefix of ['', 'legacy|', 'auth0|legacy-']) {
      const p = toProfile(user({ id: '9001' }), prefix);
      assert.equal(legacyIdFrom(p.user_id, prefix), '9001');
    }
  });
});
