/**
 * passport-local-mongoose (src/passwords/plm.ts) against vectors made by an independent implementation:
 * test/fixtures/passwords/plm.json, written by `/usr/bin/python3 scripts/fixtures/plm.py` (Python's
 * hashlib.pbkdf2_hmac, plus the 3.x vector published in passport-local-mongoose's own test suite).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getScheme } from '../../../src/passwords/index.js';
import { parseSchemeParams, type SchemeParams } from '../../../src/passwords/params.js';
import { PLM_DEFAULTS, plmParams, schemes } from '../../../src/passwords/plm.js';
import type { PasswordScheme, VerifyContext } from '../../../src/passwords/types.js';
import { loadVectors, maxLoopGap, type Vector } from '../../helpers/vectors.js';


const vectors = loadVectors('plm');
const byName = new Map(schemes.map((s) => [s.name, s]));
const NAMES = ['passport_local_mongoose', 'passport_local_mongoose_sha1'];
const DEFAULT_PARAMS = parseSchemeParams({}).params;

/**
 * passwords.params as the verifier sees them. passport_local_mongoose is not (yet) a key of params.ts's schema, so
 * it is added to the parsed defaults here, exactly as it will arrive once the schema declares it.
 */
function ctx(row: Vector['row'], params?: Record<string, unknown>): VerifyContext {
  return { row: row ?? {}, params: { ...DEFAULT_PARAMS, ...(params ?? {}) } as SchemeParams };
}

function scheme(name: string): PasswordScheme {
  const s = byName.get(name);
  assert.ok(s, `plm.ts exports ${name}`);
  return s;
}


describe('plm: registry', () => {
  test('exports the two schemes, by name only (no detect: the format is not self-describing)', () => {
    assert.deepEqual(schemes.map((s) => s.name).sort(), [...NAMES].sort());
    for (const s of schemes) assert.equal(s.detect, undefined, s.name);
  });

  test('defaults are the plugin defaults: sha256, 25000 iterations, hex', () => {
    assert.deepEqual({ ...PLM_DEFAULTS }, { iterations: 25000, digest: 'sha256', encoding: 'hex' });
  });

  test('the fixture has positives and negatives, non-ASCII passwords, and records its source and command', () => {
    for (const name of NAMES) {
      const vs = vectors.filter((v) => v.scheme === name);
      assert.ok(vs.some((v) => v.expected), `${name}: a positive`);
      assert.ok(vs.some((v) => !v.expected), `${name}: a negative`);
      assert.ok(vs.some((v) => v.expected && /[^\x00-\x7f]/.test(v.password)), `${name}: a non-ASCII positive`);
    }
    for (const v of vectors) {
      assert.ok(byName.has(v.scheme), v.scheme);
      assert.match(v.source, /hashlib|passport-local-mongoose|empty/);
      assert.equal(v.command, '/usr/bin/python3 scripts/fixtures/plm.py');
    }
    const published = vectors.find((v) => v.note === 'published by passport-local-mongoose');
    assert.ok(published && published.expected && published.scheme === 'passport_local_mongoose_sha1');
    // The default layout: a 64-hex-character salt and a 1024-hex-character (512-byte) hash.
    const first = vectors.find((v) => v.scheme === 'passport_local_mongoose' && v.expected)!;
    assert.match(first.row?.salt ?? '', /^[0-9a-f]{64}$/);
    assert.match(first.stored, /^[0-9a-f]{1024}$/);
  });
});

for (const name of NAMES) {
  describe(`plm: ${name} vectors`, () => {
    const s = scheme(name);
    vectors
      .filter((v) => v.scheme === name)
      .forEach((v, i) => {
        test(`#${i} ${v.note} ${JSON.stringify(v.password.slice(0, 24))} → ${v.expected}`, async () => {
          assert.equal(await s.verify(v.password, v.stored, ctx(v.row, v.params)), v.expected, `${v.stored.slice(0, 64)}…\nsource: ${v.source}`);
        });
      });
  });
}

describe('plm: robustness', () => {
  const s = scheme('passport_local_mongoose');
  const v = vectors.find((x) => x.scheme === 'passport_local_mongoose' && x.expected && x.note === 'positive')!;

  test('malformed input verifies false, never throws', async () => {
    const cases: [string, string, VerifyContext][] = [
      [v.password, v.stored, ctx({})],
      [v.password, v.stored, ctx({ salt: undefined })],
      [v.password, v.stored, ctx({ salt: null as unknown as string })],
      [v.password, 'not hex at all', ctx(v.row)],
      [v.password, ' ' + v.stored, ctx(v.row)],
      [v.password, v.stored, ctx(v.row, { passport_local_mongoose: 'sha256' })],
      [v.password, v.stored, ctx(v.row, { passport_local_mongoose: { iterations: -1 } })],
      [v.password, v.stored, ctx(v.row, { passport_local_mongoose: { iterations: 1.5 } })],
      [v.password, v.stored, ctx(v.row, { passport_local_mongoose: { encoding: 'latin1' } })],
      ['', v.stored, ctx(v.row)],
    ];
    for (const [pw, stored, c] of cases) assert.equal(await s.verify(pw, stored, c), false, `${JSON.stringify(c.row)} ${stored.slice(0, 20)}`);
  });

  test('absurd costs are refused before deriving anything (KDF_LIMITS)', async () => {
    const t0 = performance.now();
    assert.equal(await s.verify(v.password, v.stored, ctx(v.row, { passport_local_mongoose: { iterations: 50_000_000 } })), false);
    assert.ok(performance.now() - t0 < 200, 'refused without running 50M iterations');
  });

  test('plmParams: defaults, overrides, and fail-closed on unusable values', () => {
    assert.deepEqual(plmParams({ params: DEFAULT_PARAMS }, PLM_DEFAULTS), PLM_DEFAULTS);
    assert.deepEqual(plmParams(ctx({}, { passport_local_mongoose: { digest: 'sha1' } }), PLM_DEFAULTS), { ...PLM_DEFAULTS, digest: 'sha1' });
    assert.equal(plmParams(ctx({}, { passport_local_mongoose: { digest: 'md5' } }), PLM_DEFAULTS), null);
    assert.equal(plmParams(ctx({}, { passport_local_mongoose: [] }), PLM_DEFAULTS), null);
  });

  test('the derivation runs off the event loop', async () => {
    const { value, gap } = await maxLoopGap(() => s.verify(v.password, v.stored, ctx(v.row)));
    assert.equal(value, true);
    assert.ok(gap < 100, `event loop blocked for ${gap.toFixed(1)} ms`);
  });
});

describe('plm: registration', () => {
  const wired = NAMES.every((n) => getScheme(n));
  test('once wired into src/passwords/index.ts, the registry resolves both names to these schemes', { skip: wired ? false : 'not yet wired into src/passwords/index.ts (import { schemes as plmSchemes } from ./plm.js and add ...plmSchemes to ALL)' }, () => {
    for (const n of NAMES) assert.equal(getScheme(n), byName.get(n));
  });
});
