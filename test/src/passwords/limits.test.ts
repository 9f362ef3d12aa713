/**
 * The cost caps of src/passwords/limits.ts, each AT and PAST its boundary, through the real verifiers, with stored
 * values whose format is otherwise valid.
 *
 * - At the cap: a correct hash verifies true (the cap does not refuse legitimate values).
 * - Past the cap: a CORRECT hash one step over verifies false, so removing or raising the cap makes the assertion
 *   fail without any clock; absurd values (bcrypt 15..31, argon2 256 MiB × 16) run under { timeout: 5000 }, which an
 *   uncapped verify exceeds.
 *
 * Vectors: test/fixtures/passwords/limits.json (scripts/fixtures/limits.py: libxcrypt, hashlib) for bcrypt and its
 * wrappers, SHA-crypt, BSDi, phpass/Drupal 7, the crypt(3) work budget, PBKDF2 and scrypt; argon2 and Magento 2
 * values are made here with @node-rs/argon2 (no independent argon2 is installed), and the Magento helper is first
 * checked against the PHP-made Magento vector of digest.json.
 */
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { hash as argon2Hash, hashRaw, type Algorithm, type Version } from '@node-rs/argon2';
import { getScheme } from '../../../src/passwords/index.js';
import {
  argon2Allowed,
  bcryptCostAllowed,
  bsdiRoundsAllowed,
  LIMITS,
  pbkdf2Allowed,
  phpassLog2Allowed,
  scryptAllowed,
  shaCryptRoundsAllowed,
  unixWorkAllowed,
} from '../../../src/passwords/limits.js';
import type { PasswordScheme, VerifyContext } from '../../../src/passwords/types.js';
import { loadVectors } from '../../helpers/vectors.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CapVector {
  cap: keyof typeof LIMITS;
  at: 'at' | 'over';
  scheme: string;
  password: string;
  stored: string;
  expected: boolean;
  source: string;
}
const fixture = JSON.parse(readFileSync(path.resolve(process.cwd(), 'test/fixtures/passwords/limits.json'), 'utf8')) as {
  caps: Partial<Record<keyof typeof LIMITS, number>>;
  vectors: CapVector[];
};

/**
 * The caps as literals: the verifier tests below use these numbers, never LIMITS, so that raising a cap in limits.ts
 * cannot silently move the tests' boundary with it.
 */
const CAPS = { bcryptMaxCost: 14, argon2MaxMemoryKiB: 262144, argon2MaxWork: 524288, argon2MaxParallelism: 64, pbkdf2MaxKeyLen: 1024 } as const;

const ctx: VerifyContext = { row: {}, params: {} } as unknown as VerifyContext;
const PW = 'correct horse';
/** Generous for at-the-cap work (a few seconds by design, more on a busy 2-core box). */
const AT_CAP = { timeout: 60_000 };
/** Refused values must be refused before any work: an uncapped verify of these takes longer than this. */
const FAST = { timeout: 5000 };

function scheme(name: string): PasswordScheme {
  const s = getScheme(name);
  assert.ok(s, `scheme ${name} is registered`);
  return s;
}

describe('limits.ts: pure checks', () => {
  test('the fixture and this file were made for these caps', () => {
    for (const [k, v] of Object.entries(CAPS)) assert.equal(LIMITS[k as keyof typeof LIMITS], v, `LIMITS.${k}`);
    for (const [k, v] of Object.entries(fixture.caps)) assert.equal(LIMITS[k as keyof typeof LIMITS], v, `LIMITS.${k}`);
  });

  test('one bcrypt cap, 14, for every wrapper', () => {
    assert.equal(LIMITS.bcryptMaxCost, 14);
    for (let c = 4; c <= 14; c++) assert.equal(bcryptCostAllowed(c), true, String(c));
    for (let c = 15; c <= 99; c++) assert.equal(bcryptCostAllowed(c), false, String(c));
    assert.equal(bcryptCostAllowed('14'), true);
    assert.equal(bcryptCostAllowed('04'), true);
    for (const bad of [3, 0, -1, 4.5, NaN, '15', '1e1', '', ' 9']) assert.equal(bcryptCostAllowed(bad), false, String(bad));
  });

  test('each check admits its boundary and refuses one step past it', () => {
    const L = LIMITS;
    assert.ok(argon2Allowed({ memoryKiB: L.argon2MaxMemoryKiB, passes: 2, lanes: 1 }));
    assert.ok(!argon2Allowed({ memoryKiB: L.argon2MaxMemoryKiB + 1, passes: 1, lanes: 1 }), 'memory');
    assert.ok(!argon2Allowed({ memoryKiB: 174763, passes: 3, lanes: 1 }), 'memory × passes 524289');
    assert.ok(argon2Allowed({ memoryKiB: 512, passes: 1, lanes: L.argon2MaxParallelism }));
    assert.ok(!argon2Allowed({ memoryKiB: 520, passes: 1, lanes: L.argon2MaxParallelism + 1 }), 'lanes');
    assert.ok(!argon2Allowed({ memoryKiB: 262144, passes: 16, lanes: 1 }), '256 MiB × 16');
    const interactive = { memoryKiB: 65536, passes: 2, lanes: 1 };
    assert.ok(argon2Allowed([interactive, interactive, interactive, interactive]), 'a chain is summed: 4 × INTERACTIVE = cap');
    assert.ok(!argon2Allowed([interactive, interactive, interactive, interactive, { memoryKiB: 8, passes: 1, lanes: 1 }]));
    assert.ok(!argon2Allowed({ memoryKiB: 0, passes: 1, lanes: 1 }) && !argon2Allowed({ memoryKiB: 8, passes: 1.5, lanes: 1 }));
    assert.ok(pbkdf2Allowed({ iterations: L.pbkdf2MaxWork, keylen: 32, digest: 'sha256' }));
    assert.ok(!pbkdf2Allowed({ iterations: L.pbkdf2MaxWork + 1, keylen: 32, digest: 'sha256' }));
    assert.ok(!pbkdf2Allowed({ iterations: L.pbkdf2MaxWork / 2 + 1, keylen: 64, digest: 'sha256' }), 'blocks count');
    assert.ok(!pbkdf2Allowed({ iterations: L.pbkdf2MaxWork / 2 + 1, keylen: 64, digest: 'sha512' }), 'SHA-512 weighs 2');
    assert.ok(pbkdf2Allowed({ iterations: 1, keylen: L.pbkdf2MaxKeyLen, digest: 'sha1' }));
    assert.ok(!pbkdf2Allowed({ iterations: 1, keylen: L.pbkdf2MaxKeyLen + 1, digest: 'sha1' }));
    assert.ok(scryptAllowed({ N: 2 ** 17, r: 8, p: 1, keylen: 32 }) && scryptAllowed({ N: 2 ** 16, r: 8, p: 2, keylen: 32 }));
    assert.ok(!scryptAllowed({ N: 2 ** 17, r: 9, p: 1, keylen: 32 }) && !scryptAllowed({ N: 2 ** 16, r: 8, p: 3, keylen: 32 }));
    assert.ok(shaCryptRoundsAllowed(L.shaCryptMaxRounds) && !shaCryptRoundsAllowed(L.shaCryptMaxRounds + 1));
    assert.ok(bsdiRoundsAllowed(L.bsdiMaxRounds) && !bsdiRoundsAllowed(L.bsdiMaxRounds + 1) && !bsdiRoundsAllowed(0));
    assert.ok(phpassLog2Allowed(7) && phpassLog2Allowed(L.phpassMaxLog2) && !phpassLog2Allowed(L.phpassMaxLog2 + 1) && !phpassLog2Allowed(6));
    assert.ok(unixWorkAllowed(L.unixWorkBudget) && !unixWorkAllowed(L.unixWorkBudget + 1) && !unixWorkAllowed(NaN));
  });
});

describe('limits: fixture vectors through the real verifiers (correct hashes at and one step past each cap)', () => {
  test('every cap of the fixture has an at-the-cap and a past-the-cap vector', () => {
    for (const cap of new Set(fixture.vectors.map((v) => v.cap))) {
      assert.ok(fixture.vectors.some((v) => v.cap === cap && v.at === 'at' && v.expected));
      assert.ok(fixture.vectors.some((v) => v.cap === cap && v.at === 'over' && !v.expected));
    }
    const bcryptWrappers = new Set(fixture.vectors.filter((v) => v.cap === 'bcryptMaxCost').map((v) => v.scheme));
    assert.deepEqual([...bcryptWrappers].sort(), ['bcrypt', 'bcrypt_sha256', 'django_bcrypt_sha256', 'ldap_crypt', 'wordpress_bcrypt']);
  });

  for (const v of fixture.vectors) {
    test(`${v.cap} ${v.at}: ${v.scheme} ${v.stored.slice(0, 48)}… → ${v.expected}`, v.at === 'at' ? AT_CAP : FAST, async () => {
      const s = scheme(v.scheme);
      assert.equal(s.detect?.(v.stored), true, 'the format is valid');
      assert.equal(await s.verify(v.password, v.stored, ctx), v.expected, v.source);
    });
  }
});

/**
 * A bcrypt value at `cost` for each wrapper: wrong digest, but canonical salt and digest encodings, so that an
 * uncapped @node-rs/bcrypt really runs 2^cost rounds (with a non-canonical last character it refuses at once).
 */
const SALT22 = 'n79VH.0Q2TMWmt3Oqt9uku';
const DIGEST31 = 'a'.repeat(30) + 'u';
const BCRYPT_AT: Record<string, (cost: number) => string> = {
  bcrypt: (c) => `$2b$${String(c).padStart(2, '0')}$${SALT22}${DIGEST31}`,
  ldap_crypt: (c) => `{CRYPT}$2b$${String(c).padStart(2, '0')}$${SALT22}${DIGEST31}`,
  wordpress_bcrypt: (c) => `$wp$2y$${String(c).padStart(2, '0')}$${SALT22}${DIGEST31}`,
  bcrypt_sha256: (c) => `$bcrypt-sha256$v=2,t=2b,r=${c}$${SALT22}$${DIGEST31}`,
  bcrypt_sha256_v1: (c) => `$bcrypt-sha256$2b,${c}$${SALT22}$${DIGEST31}`,
  django_bcrypt_sha256: (c) => `bcrypt_sha256$$2b$${String(c).padStart(2, '0')}$${SALT22}${DIGEST31}`,
};

describe('limits: bcrypt costs past the cap, in every wrapper', () => {
  for (const [name, make] of Object.entries(BCRYPT_AT)) {
    // Uncapped, cost 15 alone takes ~2.5 s here, 16 ~5 s, 17 ~10 s: the 5 s timeout fails the test.
    test(`${name}: costs ${CAPS.bcryptMaxCost + 1}..31 → false, refused before hashing`, FAST, async (t: TestContext) => {
      const s = scheme(name === 'bcrypt_sha256_v1' ? 'bcrypt_sha256' : name);
      for (let cost = CAPS.bcryptMaxCost + 1; cost <= 31; cost++) {
        if (t.signal.aborted) return; // timed out (cap missing): start no more native work
        const stored = make(cost);
        assert.equal(s.detect?.(stored), true, `${stored} is well-formed`);
        assert.equal(await s.verify(PW, stored, ctx), false, stored);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// argon2 (PHC, Django) and Magento 2

const argon2Phc = (memoryCost: number, timeCost: number, parallelism: number) =>
  argon2Hash(PW, { memoryCost, timeCost, parallelism, algorithm: 2 as Algorithm, salt: Buffer.from('capsaltcapsalt12') });

/** Magento's getArgonHash step (salt repeated/cut to 16 bytes, Argon2id 1.3, 1 lane, hex out); checked below. */
async function magentoArgonHex(data: string, salt: string, bytes: number, ops: number, mem: number): Promise<string> {
  const s = Buffer.alloc(16);
  const sb = Buffer.from(salt, 'utf8');
  for (let i = 0; i < 16; i++) s[i] = sb[i % sb.length]!;
  const raw = await hashRaw(Buffer.from(data, 'utf8'), {
    salt: s, timeCost: ops, memoryCost: Math.floor(mem / 1024), parallelism: 1, outputLen: bytes, algorithm: 2 as Algorithm, version: 1 as Version,
  });
  return raw.toString('hex');
}
const INTERACTIVE: [number, number, number] = [32, 2, 64 * 1024 * 1024];

describe('limits: argon2', () => {
  test('at the memory and work caps (m=256 MiB, t=2, p=1): true', AT_CAP, async () => {
    const phc = await argon2Phc(CAPS.argon2MaxMemoryKiB, CAPS.argon2MaxWork / CAPS.argon2MaxMemoryKiB, 1);
    assert.match(phc, /m=262144,t=2,p=1/);
    assert.equal(await scheme('argon2').verify(PW, phc, ctx), true);
    assert.equal(await scheme('django_argon2').verify(PW, `argon2${phc}`, ctx), true);
  });

  test('one KiB over the memory cap (t=1, work within): a correct hash is false', AT_CAP, async () => {
    const phc = await argon2Phc(CAPS.argon2MaxMemoryKiB + 1, 1, 1);
    assert.equal(await scheme('argon2').verify(PW, phc, ctx), false);
  });

  test('one unit over the m×t work cap (m=174763 KiB, t=3): a correct hash is false', AT_CAP, async () => {
    const phc = await argon2Phc(174763, 3, 1);
    assert.equal(174763 * 3, CAPS.argon2MaxWork + 1);
    assert.equal(await scheme('argon2').verify(PW, phc, ctx), false);
    assert.equal(await scheme('django_argon2').verify(PW, `argon2${phc}`, ctx), false);
  });

  test('lanes: p=64 (cap) true, p=65 false (correct hashes)', AT_CAP, async () => {
    assert.equal(await scheme('argon2').verify(PW, await argon2Phc(512, 1, CAPS.argon2MaxParallelism), ctx), true);
    assert.equal(await scheme('argon2').verify(PW, await argon2Phc(520, 1, CAPS.argon2MaxParallelism + 1), ctx), false);
  });

  test('hostile PHC values (256 MiB × 16, 4 GiB) are false, refused before hashing', FAST, async () => {
    for (const params of ['m=262144,t=16,p=1', 'm=4194304,t=1,p=1', 'm=262144,t=3,p=1', 'm=65536,t=9,p=1']) {
      const stored = `$argon2id$v=19$${params}$Y2Fwc2FsdGNhcHNhbHQxMg$${'A'.repeat(43)}`;
      assert.equal(scheme('argon2').detect?.(stored), true);
      assert.equal(await scheme('argon2').verify(PW, stored, ctx), false, params);
    }
  });
});

describe('limits: magento2 argon2 steps go through the same argon2 check', () => {
  const SALT = 'capsaltcapsalt12capsaltcapsalt12';

  test('the test helper reproduces the PHP-made Magento argon2 vector of digest.json', async () => {
    const v = loadVectors('digest').find((x) => x.scheme === 'magento2' && x.expected && x.stored.endsWith(':3_32_2_67108864'));
    assert.ok(v, 'digest.json has a positive 3_32_2_67108864 vector');
    const [hashHex, salt] = v.stored.split(':');
    assert.equal(await magentoArgonHex(v.password, salt!, ...INTERACTIVE), hashHex);
  });

  test('one step at the work cap (3_32_2_268435456 = 256 MiB × 2): true', AT_CAP, async () => {
    const h = await magentoArgonHex(PW, SALT, 32, 2, 268435456);
    assert.equal(await scheme('magento2').verify(PW, `${h}:${SALT}:3_32_2_268435456`, ctx), true);
  });

  test('a chain at the work cap in total (2:2:2:2 = 4 × 64 MiB × 2): true', AT_CAP, async () => {
    let h = PW;
    for (let i = 0; i < 4; i++) h = await magentoArgonHex(h, SALT, ...INTERACTIVE);
    assert.equal(await scheme('magento2').verify(PW, `${h}:${SALT}:2:2:2:2`, ctx), true);
  });

  test('a chain one KiB·pass over the total (2:2:2 + 128 MiB+1 KiB × 1): a correct hash is false', AT_CAP, async () => {
    const mem = (CAPS.argon2MaxWork - 3 * 131072 + 1) * 1024; // each step alone is within the caps
    let h = PW;
    for (let i = 0; i < 3; i++) h = await magentoArgonHex(h, SALT, ...INTERACTIVE);
    h = await magentoArgonHex(h, SALT, 32, 1, mem);
    assert.equal(await scheme('magento2').verify(PW, `${h}:${SALT}:2:2:2:3_32_1_${mem}`, ctx), false);
  });

  test('one KiB over the memory cap (3_32_1_268436480): a correct hash is false', AT_CAP, async () => {
    const h = await magentoArgonHex(PW, SALT, 32, 1, 268436480);
    assert.equal(await scheme('magento2').verify(PW, `${h}:${SALT}:3_32_1_268436480`, ctx), false);
  });

  test('regression: 3_64_16_268435456 (16 passes × 256 MiB) and variants are false, refused before hashing', FAST, async () => {
    const hex = 'ab'.repeat(64);
    for (const versions of [
      '3_64_16_268435456',
      '1:3_64_16_268435456',
      '2:3_64_16_268435456',
      '3_64_16_268435456:3_64_16_268435456:3_64_16_268435456:3_64_16_268435456',
      '3_32_2_268435456:3_32_2_268435456', // each step at the cap, twice the cap in total
      '2:2:2:2:2', // more steps than magentoMaxSteps
      '3_64_1_4294967296', // 4 GiB
    ]) {
      const stored = `${hex}:${SALT}:${versions}`;
      assert.equal(scheme('magento2').detect?.(stored), true, versions);
      assert.equal(await scheme('magento2').verify(PW, stored, ctx), false, versions);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// PBKDF2 derived-key length (the work cap is in the fixture)

describe('limits: PBKDF2 key length', () => {
  const v3 = (keylen: number) => {
    const salt = Buffer.alloc(16, 7);
    const key = pbkdf2Sync(PW, salt, 1, keylen, 'sha256');
    const head = Buffer.alloc(13);
    head[0] = 0x01;
    head.writeUInt32BE(1, 1); // HMACSHA256
    head.writeUInt32BE(1, 5); // 1 iteration
    head.writeUInt32BE(16, 9);
    return Buffer.concat([head, salt, key]).toString('base64');
  };
  test(`aspnet_identity_v3: a ${CAPS.pbkdf2MaxKeyLen}-byte subkey is true, one byte more is false (correct hashes)`, async () => {
    assert.equal(await scheme('aspnet_identity_v3').verify(PW, v3(CAPS.pbkdf2MaxKeyLen), ctx), true);
    assert.equal(await scheme('aspnet_identity_v3').verify(PW, v3(CAPS.pbkdf2MaxKeyLen + 1), ctx), false);
  });
});
