/**
 * The database-server family (src/passwords/dbserver.ts) against vectors made by independent implementations:
 * test/fixtures/passwords/dbserver.json, written by scripts/fixtures/dbserver.py (passlib, PostgreSQL's own
 * CREATE ROLE ... PASSWORD, hashcat's example hashes, hashlib; each vector records its source).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { schemes } from '../../../src/passwords/dbserver.js';
import { detectScheme, identify } from '../../../src/passwords/index.js';
import { LIMITS } from '../../../src/passwords/limits.js';
import { parseSchemeParams } from '../../../src/passwords/params.js';
import { saslprep } from '../../../src/passwords/saslprep.js';
import type { PasswordScheme, VerifyContext } from '../../../src/passwords/types.js';
import { assertFixtureCoverage, loadVectors, maxLoopGap } from '../../helpers/vectors.js';

const vectors = loadVectors('dbserver');
const byName = new Map(schemes.map((s) => [s.name, s]));
const EXPECTED_NAMES = ['mssql2000', 'mssql2005', 'mssql2012', 'oracle11', 'postgres_scram_sha256'];
const ctx: VerifyContext = { row: {}, params: parseSchemeParams({}).params };

function scheme(name: string): PasswordScheme {
  const s = byName.get(name);
  assert.ok(s, `scheme ${name} is exported by dbserver.ts`);
  return s;
}

describe('dbserver: registry', () => {
  test('exports exactly the family, with unique names', () => {
    assert.deepEqual(schemes.map((s) => s.name).sort(), [...EXPECTED_NAMES].sort());
  });

  test('the fixture has positives and negatives for every scheme, non-ASCII and long positives, each with a source', () => {
    assertFixtureCoverage(vectors, EXPECTED_NAMES, byName);
  });

  test('the registry, hash identify and detection know every scheme of the family', () => {
    for (const name of EXPECTED_NAMES) {
      const v = vectors.find((x) => x.scheme === name && x.expected)!;
      assert.deepEqual(identify(v.stored), [name], v.stored);
      assert.equal(detectScheme(v.stored)?.name, name);
    }
  });
});

for (const name of EXPECTED_NAMES) {
  describe(`dbserver: ${name} vectors`, () => {
    const s = scheme(name);
    vectors
      .filter((v) => v.scheme === name)
      .forEach((v, i) => {
        test(`#${i} ${v.note ?? ''} ${JSON.stringify(v.password.slice(0, 24))} → ${v.expected}`, async () => {
          assert.equal(await s.verify(v.password, v.stored, ctx), v.expected, `${v.stored}\nsource: ${v.source}`);
        });
      });

    test('detect() accepts every positive (and with surrounding whitespace); no other scheme of the family claims it', () => {
      for (const v of vectors.filter((x) => x.scheme === name && x.expected)) {
        assert.equal(s.detect!(v.stored), true, v.stored);
        assert.equal(s.detect!(`  ${v.stored}\n`), true, v.stored);
        assert.deepEqual(schemes.filter((x) => x.detect?.(v.stored)).map((x) => x.name), [name], v.stored);
      }
      assert.equal(s.detect!(''), false);
      assert.equal(s.detect!('plain text'), false);
    });
  });
}

/** A value of the right shape: a detect() look-alike that must not be claimed (or verify). */
const HEX = (n: number) => 'ab'.repeat(n / 2);
const LOOKALIKES: [string, string][] = [
  ['mssql2000', `0x0100${HEX(90)}`], // one digit short
  ['mssql2000', `0x0200${HEX(88)}`], // 2012 header, 2000 length
  ['mssql2000', `0x0100${HEX(86)}zz`],
  ['mssql2005', `0x0100${HEX(50)}`],
  ['mssql2005', `0x0100${HEX(54)}`],
  ['mssql2005', `0100${HEX(48)}`], // no 0x
  ['mssql2005', `0x0101${HEX(48)}`],
  ['mssql2012', `0x0200${HEX(130)}`],
  ['mssql2012', `0x0100${HEX(136)}`],
  ['oracle11', `S:${HEX(58)}`],
  ['oracle11', `S:${HEX(62)}`],
  ['oracle11', `T:${HEX(60)}`],
  ['oracle11', `S:${HEX(40)}:${HEX(20)}`],
  ['postgres_scram_sha256', `SCRAM-SHA-1$4096:c2FsdA==$${'A'.repeat(43)}=:${'A'.repeat(43)}=`],
  ['postgres_scram_sha256', `SCRAM-SHA-256$0:c2FsdA==$${'A'.repeat(43)}=:${'A'.repeat(43)}=`],
  ['postgres_scram_sha256', `SCRAM-SHA-256$04096:c2FsdA==$${'A'.repeat(43)}=:${'A'.repeat(43)}=`],
  ['postgres_scram_sha256', `SCRAM-SHA-256$4096:c2FsdA==$${'A'.repeat(42)}=:${'A'.repeat(43)}=`], // 31-byte key
  ['postgres_scram_sha256', `SCRAM-SHA-256$4096:c2FsdA==$${'A'.repeat(43)}=`], // no ServerKey
  ['postgres_scram_sha256', `SCRAM-SHA-256$4096:c2Fsd!==$${'A'.repeat(43)}=:${'A'.repeat(43)}=`],
  ['postgres_scram_sha256', `$scram$4096$c2FsdA$sha-256=${'A'.repeat(43)}`], // passlib's scram
];

describe('dbserver: look-alikes and malformed values are refused: false, never a throw', () => {
  for (const [name, stored] of LOOKALIKES) {
    test(`${name}: ${stored.slice(0, 60)}`, async () => {
      const s = scheme(name);
      assert.equal(s.detect!(stored), false);
      assert.equal(await s.verify('password', stored, ctx), false);
    });
  }

  test('every scheme is false for empty, random and wrongly typed input', async () => {
    for (const s of schemes) {
      for (const stored of ['', ' ', 'x', '0x', 'S:', 'SCRAM-SHA-256$', 'a'.repeat(10_000)]) {
        assert.equal(await s.verify('password', stored, ctx), false, `${s.name} ${JSON.stringify(stored.slice(0, 20))}`);
      }
      assert.equal(await s.verify(undefined as unknown as string, vectors.find((v) => v.scheme === s.name)!.stored, ctx), false);
      assert.equal(await s.verify('password', null as unknown as string, ctx), false);
      assert.equal(s.detect!(null as unknown as string), false);
    }
  });

  test('mssql2000 verifies the case-sensitive digest only (passlib would also accept the upper-cased password)', async () => {
    const v = vectors.find((x) => x.scheme === 'mssql2000' && x.expected && x.password === 'correct horse battery staple')!;
    assert.equal(await scheme('mssql2000').verify(v.password.toUpperCase(), v.stored, ctx), false);
  });
});

describe('dbserver: SCRAM iteration count is capped like PBKDF2, and the derivation stays off the event loop', () => {
  const v = vectors.find((x) => x.scheme === 'postgres_scram_sha256' && x.expected)!;
  const over = v.stored.replace(/^SCRAM-SHA-256\$\d+:/, `SCRAM-SHA-256$${LIMITS.pbkdf2MaxWork + 1}:`);
  const huge = v.stored.replace(/^SCRAM-SHA-256\$\d+:/, 'SCRAM-SHA-256$4294967295:');

  test('iterations over limits.ts pbkdf2MaxWork: false at once', async () => {
    for (const stored of [over, huge]) {
      const t0 = performance.now();
      assert.equal(scheme('postgres_scram_sha256').detect!(stored), true, 'well-formed');
      assert.equal(await scheme('postgres_scram_sha256').verify(v.password, stored, ctx), false);
      assert.ok(performance.now() - t0 < 100);
    }
  });

  test('the event loop keeps turning during a verify', async () => {
    await scheme('postgres_scram_sha256').verify(v.password, v.stored, ctx); // warm-up: the first measurement absorbs start-up pauses
    const { value, gap } = await maxLoopGap(() => scheme('postgres_scram_sha256').verify(v.password, v.stored, ctx));
    assert.equal(value, true);
    assert.ok(gap < 50, `longest event-loop gap ${gap.toFixed(0)} ms`);
  });
});

describe('dbserver: SASLprep as PostgreSQL applies it (pg_saslprep)', () => {
  test('ASCII passes as it is, control characters included', () => {
    assert.equal(saslprep('pass word\u0001'), 'pass word\u0001');
  });
  test('mapping and NFKC', () => {
    assert.equal(saslprep('I\u00adX'), 'IX'); // RFC 4013 §3 example 1
    assert.equal(saslprep('\u00aa'), 'a'); // example 4
    assert.equal(saslprep('\u2168'), 'IX'); // example 5
    assert.equal(saslprep('a\u00a0b'), 'a b');
    assert.equal(saslprep('ﬁ'), 'fi');
  });
  test('refusals (PostgreSQL then hashes the raw bytes)', () => {
    assert.equal(saslprep('\u00ad'), null, 'empty after mapping');
    assert.equal(saslprep('a\u0080'), null, 'prohibited control');
    assert.equal(saslprep('é\u0007'), null, 'ASCII control in a non-ASCII string'); // RFC 4013 §3 example 6
    assert.equal(saslprep('\u0627\u0031'), null, 'RandALCat not last'); // example 7
    assert.equal(saslprep('שלוםabc'), null, 'R and L mixed');
    assert.equal(saslprep('x😀'), null, 'unassigned in Unicode 3.2');
    assert.equal(saslprep('\ue000é'), null, 'private use');
  });
});
