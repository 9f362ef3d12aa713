/**
 * src/passwords/forum.ts against vectors made by PHP 8.2 running each forum's own computation (quoted in
 * scripts/fixtures/forum.php) and hashcat's published example hashes: test/fixtures/passwords/forum.json (each
 * vector's `source` names the exact call).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { asciiLower, htmlspecialcharsCompat, schemes } from '../../../src/passwords/forum.js';
import { getScheme, identify, resolveScheme, schemeNames } from '../../../src/passwords/index.js';
import { parseSchemeParams } from '../../../src/passwords/params.js';
import type { VerifyContext } from '../../../src/passwords/types.js';
import { loadVectors, testVectorsByScheme, vectorContext } from '../../helpers/vectors.js';

const vectors = loadVectors('forum');
const BY_NAME = new Map(schemes.map((s) => [s.name, s]));
const NAMES = ['vbulletin', 'mybb', 'punbb', 'smf', 'opencart'];

const ctxOf = vectorContext;

test('fixture is present and covers every scheme of forum.ts with positives and negatives', () => {
  assert.ok(vectors.length > 300, `only ${vectors.length} vectors`);
  assert.deepEqual([...BY_NAME.keys()], NAMES);
  for (const name of NAMES) {
    const vs = vectors.filter((v) => v.scheme === name);
    assert.ok(vs.some((v) => v.expected), `no positive vector for ${name}`);
    for (const note of ['one character off', 'case changed', 'empty password']) {
      assert.ok(vs.some((v) => !v.expected && v.note === note), `${name}: no "${note}" negative`);
    }
    assert.ok(vs.some((v) => v.expected && /[^\x00-\x7f]/.test(v.password)), `${name}: no non-ASCII positive`);
    assert.ok(vs.some((v) => v.expected && v.password.length > 100), `${name}: no long positive`);
    assert.ok(vs.some((v) => v.expected && v.source.startsWith('hashcat example hash')), `${name}: no hashcat example`);
  }
  for (const v of vectors) assert.ok(BY_NAME.has(v.scheme), `fixture names an unknown scheme ${v.scheme}`);
});

describe('independent vectors', () => {
  testVectorsByScheme(vectors, BY_NAME, NAMES);

  test('SMF: a different member name is a negative, the same name in another case a positive', () => {
    const smf = vectors.filter((v) => v.scheme === 'smf');
    assert.ok(smf.some((v) => !v.expected && /different member name/.test(v.note ?? '')));
    assert.ok(smf.some((v) => v.expected && /upper-cased/.test(v.note ?? '')));
    assert.ok(smf.some((v) => v.expected && /SMF 2\.1 bcrypt/.test(v.note ?? '') && /[^\x00-\x7f]/.test(v.row?.username ?? '')), 'an SMF 2.1 vector with a non-ASCII name');
  });
});

describe('registry', () => {
  test('every forum scheme is registered under its name', () => {
    for (const name of NAMES) {
      assert.ok(schemeNames().includes(name), name);
      assert.equal(getScheme(name), BY_NAME.get(name));
    }
  });

  test('never auto-detected: bare hex stays with the plain digests, named use picks the forum scheme', () => {
    for (const s of schemes) assert.equal(s.detect, undefined, s.name);
    for (const v of vectors.filter((x) => x.expected)) {
      for (const name of identify(v.stored)) assert.ok(!NAMES.includes(name), `${name} claimed ${v.stored}`);
    }
    const stored = vectors.find((v) => v.scheme === 'vbulletin' && v.expected)!.stored;
    assert.equal(resolveScheme({ password: stored }, { scheme: 'auto' }).scheme?.name, 'hex_md5');
    assert.equal(resolveScheme({ password: stored }, { scheme: 'vbulletin' }).scheme?.name, 'vbulletin');
    assert.equal(resolveScheme({ password: stored, passwordScheme: 'mybb' }, { scheme: 'auto' }).scheme?.name, 'mybb');
  });
});

describe('details of the formats', () => {
  test("PHP's strtolower (ASCII only) and htmlspecialchars(ENT_COMPAT)", () => {
    assert.equal(asciiLower('JÖRG Ann'), 'jÖrg ann');
    assert.equal(htmlspecialcharsCompat(`a&b"c'<d>&amp;`), `a&amp;b&quot;c'&lt;d&gt;&amp;amp;`);
  });

  test('latin1 boards: password_encoding latin1 hashes the ISO-8859-1 bytes; characters it lacks verify false', async () => {
    const { createHash } = await import('node:crypto');
    const md5 = (b: Buffer | string) => createHash('md5').update(typeof b === 'string' ? Buffer.from(b, 'latin1') : b).digest('hex');
    const pw = 'pässwörd';
    const stored = md5(md5(Buffer.from(pw, 'latin1')) + 'abc');
    const latin1: VerifyContext = { row: { salt: 'abc' }, params: parseSchemeParams({ password_encoding: 'latin1' }).params };
    assert.equal(await BY_NAME.get('vbulletin')!.verify(pw, stored, latin1), true);
    assert.equal(await BY_NAME.get('vbulletin')!.verify(pw, stored, ctxOf({ row: { salt: 'abc' } })), false, 'UTF-8 bytes differ');
    assert.equal(await BY_NAME.get('vbulletin')!.verify('пароль', stored, latin1), false);
  });
});

describe('malformed input is false, never an exception', () => {
  const garbage = ['', ' ', 'x', 'a'.repeat(31), 'g'.repeat(32), 'a'.repeat(33), 'A'.repeat(40), '$2y$04$short', '$2y$31$' + 'a'.repeat(53), ':', '\u0000'.repeat(40)];
  for (const name of NAMES) {
    test(name, async () => {
      const s = BY_NAME.get(name)!;
      for (const g of garbage) {
        for (const row of [{}, { salt: 'abc', username: 'bob' }]) {
          assert.equal(await s.verify('password', g, { row, params: parseSchemeParams({}).params }), false, JSON.stringify(g));
        }
      }
      // Wrong types from a careless caller.
      assert.equal(await s.verify(undefined as unknown as string, 'a'.repeat(40), ctxOf({})), false);
      assert.equal(await s.verify('password', null as unknown as string, ctxOf({})), false);
      assert.equal(await s.verify('password', 'a'.repeat(40), undefined as unknown as VerifyContext), false);
    });
  }
});
