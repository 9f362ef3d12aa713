/**
 * src/passwords/digest.ts against vectors made by independent implementations (passlib 1.7.4, Python
 * hashlib/hmac, OpenSSL, PHP 8.2 reproducing Joomla/Magento code): test/fixtures/passwords/digest.json,
 * written by scripts/fixtures/digest.py (each vector's `source` names the exact call).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { bcrypt } from '../../../src/passwords/bcrypt.js';
import { isCleartextScheme, ldapCrypt, md4, schemes } from '../../../src/passwords/digest.js';
import type { PasswordScheme, VerifyContext } from '../../../src/passwords/types.js';
import { describeVector, loadVectors, testVectorsByScheme, vectorContext, type Vector } from '../../helpers/vectors.js';


const vectors = loadVectors('digest');

/** {CRYPT} wired to bcrypt only (unix.ts's crypt(3) family is wired in index.ts). */
const ldapCryptBcrypt = ldapCrypt((stored) => (bcrypt.detect?.(stored) ? bcrypt : undefined));
const ALL: PasswordScheme[] = [...schemes, ldapCryptBcrypt];
const BY_NAME = new Map(ALL.map((s) => [s.name, s]));

const ctxOf = vectorContext;

const EMPTY_CTX: VerifyContext = ctxOf({});

function identify(stored: string): string[] {
  return ALL.filter((s) => s.detect?.(stored)).map((s) => s.name);
}


test('fixture is present and covers every scheme of digest.ts', () => {
  assert.ok(vectors.length > 1000, `only ${vectors.length} vectors`);
  const covered = new Set(vectors.map((v) => v.scheme));
  for (const s of ALL) {
    assert.ok(covered.has(s.name), `no vectors for ${s.name}`);
    const vs = vectors.filter((v) => v.scheme === s.name);
    if (s.name !== 'django_disabled') assert.ok(vs.some((v) => v.expected), `no positive vector for ${s.name}`);
    assert.ok(vs.some((v) => !v.expected), `no negative vector for ${s.name}`);
  }
  for (const v of vectors) assert.ok(BY_NAME.has(v.scheme), `fixture names an unknown scheme ${v.scheme}`);
});

test('scheme names are unique and passlib-style', () => {
  assert.equal(BY_NAME.size, ALL.length);
  for (const n of ['ldap_md5', 'ldap_salted_md5', 'ldap_sha1', 'ldap_salted_sha1', 'ldap_salted_sha256', 'ldap_salted_sha512', 'ldap_hex_md5', 'ldap_hex_sha1', 'mysql41', 'mysql323', 'postgres_md5', 'nthash', 'django_salted_sha1', 'django_salted_md5', 'django_disabled', 'hex_md5', 'hex_sha1', 'hex_sha256', 'hex_sha512', 'plaintext']) {
    assert.ok(BY_NAME.has(n), `missing ${n}`);
  }
});

describe('independent vectors', () => {
  testVectorsByScheme(vectors, BY_NAME, [...new Set(vectors.map((v) => v.scheme))]);
});

describe('auto-detection', () => {
  /** Positives that are valid for their scheme but in a shape that scheme does not claim on detection. */
  const undetectedByDesign = (v: Vector) =>
    v.note === 'bare 32 hex (Django accepts it)' || // detected as hex_md5, same answer
    v.note === "empty salt (the shape of Django's unsalted hasher)" || // detected as django_unsalted_*, same answer
    v.note === 'base64 under auto' || // plain digests only detect by hex length
    v.params?.['digest_encoding'] === 'base64';

  test('every positive of a self-describing scheme is detected as that scheme and nothing else', () => {
    const failures: string[] = [];
    for (const v of vectors.filter((x) => x.expected)) {
      const s = BY_NAME.get(v.scheme)!;
      if (!s.detect || undetectedByDesign(v)) continue;
      const ids = identify(v.stored);
      if (ids.length !== 1 || ids[0] !== v.scheme) failures.push(`identify=${JSON.stringify(ids)}: ${describeVector(v)}`);
      const padded = identify(`  ${v.stored}\n`);
      if (padded.length !== 1 || padded[0] !== v.scheme) failures.push(`not detected with surrounding whitespace: ${describeVector(v)}`);
    }
    assert.deepEqual(failures, []);
  });

  test('detect patterns are disjoint on every fixture value', () => {
    for (const v of vectors) {
      const ids = identify(v.stored);
      assert.ok(ids.length <= 1, `${JSON.stringify(v.stored)} detected as ${ids.join(', ')}`);
    }
  });

  test('explicit-only schemes have no detect()', () => {
    for (const n of ['nthash', 'plaintext', 'joomla_md5', 'magento1_md5', 'salted_md5', 'salted_sha1', 'salted_sha256', 'salted_sha512', 'hmac_md5', 'hmac_sha1', 'hmac_sha256', 'hmac_sha512']) {
      assert.equal(BY_NAME.get(n)!.detect, undefined, n);
    }
  });

  test('documented order for bare hex: 32 md5, 40 sha1, 64 sha256, 128 sha512, 16 mysql323', () => {
    assert.deepEqual(identify('8846f7eaee8fb117ad06bdd830b7586c'), ['hex_md5']); // also NT hash of "password"
    assert.deepEqual(identify('5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8'), ['hex_sha1']);
    assert.deepEqual(identify('5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8'), ['hex_sha256']);
    assert.deepEqual(identify('a'.repeat(128)), ['hex_sha512']);
    assert.deepEqual(identify('5d2e19393cc5ef67'), ['mysql323']);
    assert.deepEqual(identify('a'.repeat(48)), []);
    assert.deepEqual(identify('md5' + 'a'.repeat(32)), ['postgres_md5']);
    assert.deepEqual(identify('md5$$' + 'a'.repeat(32)), ['django_unsalted_md5']);
    assert.deepEqual(identify('md5$x$' + 'a'.repeat(32)), ['django_salted_md5']);
    assert.deepEqual(identify('a'.repeat(32) + ':salt'), [], 'Joomla / Magento 1 are explicit-only');
    assert.deepEqual(identify('!'), ['django_disabled']);
    assert.deepEqual(identify('password'), []);
  });
});

describe('malformed input is false, never an exception', () => {
  const garbage = [
    '',
    ' ',
    'x',
    '*',
    '!',
    ':',
    '::',
    '$$',
    'md5',
    'md5$',
    'sha1$$',
    '{SSHA}',
    '{SSHA}!!!!',
    '{SSHA}AAAA',
    '{SSHA}' + 'A'.repeat(27) + '=', // 20 bytes: no salt
    '{SMD5}' + Buffer.alloc(19).toString('base64'), // 3 salt bytes
    '{MD5}' + Buffer.alloc(17).toString('base64'),
    '{SHA}' + 'g'.repeat(40),
    '{CRYPT}',
    '{CRYPT}{CRYPT}$2b$04$aaaaaaaaaaaaaaaaaaaaaeYth2cWkJhEDbk8tK7hfTsaeDVTvfC/e',
    '{CRYPT}$6$salt$' + 'a'.repeat(86),
    '*' + 'g'.repeat(40),
    'md5' + 'g'.repeat(32),
    'z'.repeat(32),
    'a'.repeat(33),
    'a'.repeat(32) + ':a:b',
    'a'.repeat(64) + ':salt:',
    'a'.repeat(64) + ':salt:7',
    'a'.repeat(64) + ':salt:1:1:1:1:1',
    'a'.repeat(64) + ':salt:3_32_2_1073741824',
    'a'.repeat(64) + ':salt:3_8_2_65536',
    'a'.repeat(64) + '::1',
    '\u0000'.repeat(16),
    'ä'.repeat(32),
    'a'.repeat(100_000),
  ];
  for (const scheme of ALL) {
    test(scheme.name, async () => {
      for (const stored of garbage) {
        for (const password of ['password', '', 'a'.repeat(10_000)]) {
          assert.equal(await scheme.verify(password, stored, EMPTY_CTX), false, `${scheme.name} ${JSON.stringify(stored.slice(0, 80))}`);
        }
        assert.doesNotThrow(() => scheme.detect?.(stored));
      }
      const weird = [undefined, null, 42, {}, []] as unknown as string[];
      for (const w of weird) {
        assert.equal(await scheme.verify(w, 'x', EMPTY_CTX), false);
        assert.equal(await scheme.verify('x', w, EMPTY_CTX), false);
        assert.equal(scheme.detect?.(w) ?? false, false);
      }
      assert.equal(await scheme.verify('password', 'password', undefined as unknown as VerifyContext), scheme.name === 'plaintext');
    });
  }
});

describe('behaviour the fixtures cannot express', () => {
  test('MD4 reproduces the RFC 1320 test suite', () => {
    const suite: [string, string][] = [
      ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
      ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
      ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
      ['message digest', 'd9130a8164549fe818874806e1c7014b'],
      ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
      ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
      ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
    ];
    for (const [input, hex] of suite) assert.equal(md4(Buffer.from(input, 'latin1')).toString('hex'), hex, JSON.stringify(input));
  });

  test('salted_* without a salt is false (no silent fallback to unsalted)', async () => {
    const s = BY_NAME.get('salted_md5')!;
    const unsalted = '5f4dcc3b5aa765d61d8327deb882cf99'; // md5("password")
    assert.equal(await s.verify('password', unsalted, EMPTY_CTX), false);
    assert.equal(await s.verify('password', unsalted, { ...EMPTY_CTX, row: { salt: '' } }), false);
    const constantNoValue = ctxOf({ params: { salt: { source: 'constant' } } });
    assert.equal(await s.verify('password', unsalted, constantNoValue), false);
    const badHex = ctxOf({ params: { salt: { encoding: 'hex' } }, row: { salt: 'xyz' } });
    assert.equal(await s.verify('password', unsalted, badHex), false);
  });

  test('hmac_* with a salt configured but missing in the row is false', async () => {
    const s = BY_NAME.get('hmac_sha256')!;
    const ctx = ctxOf({ params: { hmac_key: 'k', salt: { position: 'suffix' } } });
    assert.equal(await s.verify('password', 'a'.repeat(64), ctx), false);
    assert.equal(await s.verify('password', 'a'.repeat(64), ctxOf({ params: { hmac_key: '%%', hmac_key_encoding: 'base64' } })), false);
  });

  test('postgres_md5 without a row username is false', async () => {
    const s = BY_NAME.get('postgres_md5')!;
    const stored = 'md5' + '0'.repeat(32);
    assert.equal(await s.verify('password', stored, EMPTY_CTX), false);
    assert.equal(await s.verify('password', stored, { params: EMPTY_CTX.params } as unknown as VerifyContext), false);
  });

  test('postgres_md5 salts with the row USERNAME, never the email (row with both)', async () => {
    const s = BY_NAME.get('postgres_md5')!;
    const row = { username: 'alice', email: 'alice.smith@example.com' };
    const ctx: VerifyContext = { ...EMPTY_CTX, row };
    // Python: 'md5' + hashlib.md5(b'secret' + b'alice').hexdigest() (PostgreSQL's CREATE ROLE ... PASSWORD 'secret')
    const byUsername = 'md54a0a68b43b6cd5cf266fa02f196e2371';
    assert.equal(byUsername, 'md5' + createHash('md5').update('secretalice').digest('hex'));
    const byEmail = 'md5' + createHash('md5').update('secret').update(row.email).digest('hex');
    assert.notEqual(byUsername, byEmail);
    assert.equal(await s.verify('secret', byUsername, ctx), true, 'md5(password + username)');
    assert.equal(await s.verify('secret', byEmail, ctx), false, 'md5(password + email) must not verify');
    assert.equal(await s.verify('secret', byEmail, { ...EMPTY_CTX, row: { email: row.email } }), false, 'email alone is no username');
  });

  test('plaintext: exact, no trimming, empty stored never verifies; flagged as cleartext', async () => {
    const s = BY_NAME.get('plaintext')!;
    assert.equal(await s.verify('', '', EMPTY_CTX), false);
    assert.equal(await s.verify(' pw ', ' pw ', EMPTY_CTX), true);
    assert.equal(await s.verify('pw', ' pw ', EMPTY_CTX), false);
    assert.equal(isCleartextScheme('plaintext'), true);
    for (const n of ALL.map((x) => x.name).filter((x) => x !== 'plaintext')) assert.equal(isCleartextScheme(n), false, n);
  });

  test('{CRYPT} delegates through the resolver and refuses what it cannot resolve', async () => {
    const stored = '{CRYPT}$2b$04$aaaaaaaaaaaaaaaaaaaaaeYth2cWkJhEDbk8tK7hfTsaeDVTvfC/e'; // passlib ldap_bcrypt("pw")
    assert.equal(await ldapCryptBcrypt.verify('pw', stored, EMPTY_CTX), true);
    assert.equal(await ldapCryptBcrypt.verify('pw', ` ${stored} `, EMPTY_CTX), true);
    assert.equal(ldapCryptBcrypt.detect?.('{CRYPT}$6$salt$' + 'a'.repeat(86)), false, 'no resolver for sha512_crypt here');
    const calls: string[] = [];
    const throwing = ldapCrypt((s) => {
      calls.push(s);
      throw new Error('boom');
    });
    assert.equal(await throwing.verify('pw', stored, EMPTY_CTX), false);
    assert.equal(throwing.detect?.(stored), false);
    assert.deepEqual(calls[0], stored.slice(7));
    const failing = ldapCrypt(() => ({ name: 'x', verify: () => Promise.reject(new Error('inner')) }));
    assert.equal(await failing.verify('pw', stored, EMPTY_CTX), false);
  });

  test('generic digests: password_encoding latin1 refuses what latin1 cannot hold', async () => {
    const s = BY_NAME.get('hex_md5')!;
    const ctx = ctxOf({ params: { password_encoding: 'latin1' } });
    // Buffer.from('п', 'latin1') would silently give 0x3f ('?'): the md5 of '?' must not verify 'п'.
    const qmark = (await import('node:crypto')).createHash('md5').update('?').digest('hex');
    assert.equal(await s.verify('п', qmark, ctx), false, 'no collision through truncation');
    assert.equal(await s.verify('?', qmark, ctx), true);
  });

  test('stored values with surrounding whitespace still verify (CHAR columns)', async () => {
    for (const v of vectors.filter((x) => x.expected && x.scheme !== 'plaintext')) {
      assert.equal(await BY_NAME.get(v.scheme)!.verify(v.password, ` ${v.stored}\t\n`, ctxOf(v)), true, describeVector(v));
    }
  });
});
