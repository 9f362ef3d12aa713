/**
 * The framework family (src/passwords/framework.ts) against vectors made by independent implementations:
 * test/fixtures/passwords/framework.json and framework-bcrypt72.json, written by scripts/fixtures/framework.py (passlib, Django's published vector,
 * Symfony's own PHP hasher, Authlogic's algorithm in Ruby and Devise's published Authlogic vector).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { schemes } from '../../../src/passwords/framework.js';
import { detectScheme, getScheme, identify } from '../../../src/passwords/index.js';
import { parseSchemeParams } from '../../../src/passwords/params.js';
import type { PasswordScheme, VerifyContext } from '../../../src/passwords/types.js';
import { assertFixtureCoverage, loadVectors, maxLoopGap, type Vector } from '../../helpers/vectors.js';

/**
 * framework-bcrypt72.json holds the django_bcrypt vectors at and over bcrypt's 72 bytes, kept out of the export
 * re-verification (which probes a positive with password + "x": bcrypt's truncation accepts that).
 */
const vectors = [...loadVectors('framework'), ...loadVectors('framework-bcrypt72')];
const byName = new Map(schemes.map((s) => [s.name, s]));
const DETECTED = ['django_bcrypt', 'django_scrypt'];
const NAMED_ONLY = ['symfony_sha512', 'authlogic_sha512'];
const EXPECTED_NAMES = [...DETECTED, ...NAMED_ONLY];

function ctxFor(row: Vector['row'] = {}): VerifyContext {
  return { row, params: parseSchemeParams({}).params };
}

function scheme(name: string): PasswordScheme {
  const s = byName.get(name);
  assert.ok(s, `scheme ${name} is exported by framework.ts`);
  return s;
}

describe('framework: registry', () => {
  test('exports exactly the family, registered under the same names', () => {
    assert.deepEqual(schemes.map((s) => s.name).sort(), [...EXPECTED_NAMES].sort());
    for (const name of EXPECTED_NAMES) assert.equal(getScheme(name), byName.get(name));
  });

  test('the fixture has positives and negatives for every scheme, non-ASCII and long positives, each with a source', () => {
    assertFixtureCoverage(vectors, EXPECTED_NAMES, byName);
  });
});

for (const name of EXPECTED_NAMES) {
  describe(`framework: ${name} vectors`, () => {
    const s = scheme(name);
    vectors
      .filter((v) => v.scheme === name)
      .forEach((v, i) => {
        test(`#${i} ${v.note ?? ''} ${JSON.stringify(v.password.slice(0, 24))} → ${v.expected}`, async () => {
          assert.equal(await s.verify(v.password, v.stored, ctxFor(v.row)), v.expected, `${v.stored}\nsource: ${v.source}`);
        });
      });

    if (DETECTED.includes(name)) {
      test('detect() accepts every positive; identify() and detection name this scheme alone', () => {
        for (const v of vectors.filter((x) => x.scheme === name && x.expected)) {
          assert.equal(s.detect!(` ${v.stored}\n`), true, v.stored);
          assert.deepEqual(identify(v.stored), [name], v.stored);
          assert.equal(detectScheme(v.stored)?.name, name);
        }
        assert.equal(s.detect!(''), false);
        assert.equal(s.detect!('plain text'), false);
      });
    } else {
      test('has no detect(): the stored value is not self-describing', () => {
        assert.equal(s.detect, undefined);
        const v = vectors.find((x) => x.scheme === name && x.expected)!;
        assert.ok(!identify(v.stored).includes(name));
      });
    }
  });
}

const SALT22 = 'n79VH.0Q2TMWmt3Oqt9uku';
const DIGEST31 = 'a'.repeat(30) + 'u';
const B64KEY = Buffer.alloc(64, 7).toString('base64');
const MALFORMED: [string, string, Vector['row']?][] = [
  ['django_bcrypt', `bcrypt$$2b$15$${SALT22}${DIGEST31}`], // over the bcrypt cost cap
  ['django_bcrypt', `bcrypt$$2b$31$${SALT22}${DIGEST31}`],
  ['django_bcrypt', `bcrypt$$2x$04$${SALT22}${DIGEST31}`],
  ['django_bcrypt', `bcrypt$2b$04$${SALT22}${DIGEST31}`],
  ['django_bcrypt', `$2b$04$${SALT22}${DIGEST31}`], // a bare bcrypt value is the bcrypt scheme's
  ['django_bcrypt', `bcrypt_sha256$$2b$04$${SALT22}${DIGEST31}`],
  ['django_bcrypt', 'bcrypt$'],
  ['django_scrypt', `scrypt$1048576$salt$8$1$${B64KEY}`], // 1 GiB
  ['django_scrypt', `scrypt$16384$salt$8$64$${B64KEY}`], // work
  ['django_scrypt', `scrypt$1000$salt$8$1$${B64KEY}`], // N not a power of two
  ['django_scrypt', `scrypt$1$salt$8$1$${B64KEY}`],
  ['django_scrypt', `scrypt$016384$salt$8$1$${B64KEY}`], // Django writes %d
  ['django_scrypt', `scrypt$16384$salt$0$1$${B64KEY}`],
  ['django_scrypt', `scrypt$16384$salt$8$1$${Buffer.alloc(32, 7).toString('base64')}`], // 32-byte key
  ['django_scrypt', `scrypt$16384$sa$lt$8$1$${B64KEY}`],
  ['django_scrypt', `scrypt$99999999999999999999$salt$8$1$${B64KEY}`],
  ['django_scrypt', 'scrypt$16384$salt$8$1$'],
  ['symfony_sha512', Buffer.alloc(64, 1).toString('base64').slice(0, -1), { salt: 'salt' }], // 87 characters
  ['symfony_sha512', Buffer.alloc(64, 1).toString('hex'), { salt: 'salt' }], // hex output (encodeHashAsBase64 false)
  ['symfony_sha512', `$${Buffer.alloc(64, 1).toString('base64').slice(1)}`, { salt: 'salt' }],
  ['symfony_sha512', Buffer.alloc(64, 1).toString('base64'), { salt: 'sa{lt' }], // Symfony throws on { or }
  ['authlogic_sha512', 'ab'.repeat(63), { salt: 'salt' }],
  ['authlogic_sha512', Buffer.alloc(64, 1).toString('base64'), { salt: 'salt' }],
];

describe('framework: malformed values and absurd costs are false, quickly, without throwing', () => {
  for (const [name, stored, row] of MALFORMED) {
    test(`${name}: ${JSON.stringify(stored.slice(0, 70))}`, async () => {
      const t0 = performance.now();
      for (const pw of ['password', '']) assert.equal(await scheme(name).verify(pw, stored, ctxFor(row)), false);
      assert.ok(performance.now() - t0 < 300, `took ${(performance.now() - t0).toFixed(0)} ms`);
    });
  }

  test('every scheme is false for empty, random and wrongly typed input, with and without a row salt', async () => {
    for (const s of schemes) {
      for (const stored of ['', ' ', 'x', '$', 'bcrypt$', 'scrypt$', 'a'.repeat(10_000)]) {
        for (const row of [{}, { salt: 'salt' }]) assert.equal(await s.verify('password', stored, ctxFor(row)), false, `${s.name} ${stored.slice(0, 20)}`);
      }
      const v = vectors.find((x) => x.scheme === s.name && x.expected)!;
      assert.equal(await s.verify(undefined as unknown as string, v.stored, ctxFor(v.row)), false);
      assert.equal(await s.verify(v.password, null as unknown as string, ctxFor(v.row)), false);
    }
  });

  test('symfony_sha512 refuses passwords over 4096 bytes (Symfony CheckPasswordLengthTrait)', async () => {
    const v = vectors.find((x) => x.scheme === 'symfony_sha512' && x.expected)!;
    assert.equal(await scheme('symfony_sha512').verify('a'.repeat(4097), v.stored, ctxFor(v.row)), false);
  });
});

describe('framework: slow work stays off the event loop', () => {
  for (const name of ['django_scrypt', 'symfony_sha512', 'django_bcrypt']) {
    test(`${name}: the event loop keeps turning during a verify`, async () => {
      const v = vectors.find((x) => x.scheme === name && x.expected && Buffer.byteLength(x.password) > 128)!;
      await scheme(name).verify(v.password, v.stored, ctxFor(v.row)); // warm-up: the first measurement absorbs start-up pauses
      const { value, gap } = await maxLoopGap(() => scheme(name).verify(v.password, v.stored, ctxFor(v.row)));
      assert.equal(value, true);
      assert.ok(gap < 50, `longest event-loop gap ${gap.toFixed(0)} ms`);
    });
  }
});
