/**
 * The KDF family (src/passwords/kdf.ts) against vectors made by independent implementations:
 * test/fixtures/passwords/kdf.json, written by scripts/fixtures/kdf.py (each vector records its source).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KDF_LIMITS, pbkdf2Bounded, schemes, scryptBounded } from '../../../src/passwords/kdf.js';
import { parseSchemeParams } from '../../../src/passwords/params.js';
import type { PasswordScheme, VerifyContext } from '../../../src/passwords/types.js';
import { loadVectors, maxLoopGap, type Vector } from '../../helpers/vectors.js';


const vectors = loadVectors('kdf');
const byName = new Map(schemes.map((s) => [s.name, s]));

const EXPECTED_NAMES = [
  'argon2',
  'django_argon2',
  'scrypt',
  'werkzeug_scrypt',
  'firebase_scrypt',
  'pbkdf2_sha1',
  'pbkdf2_sha256',
  'pbkdf2_sha512',
  'ldap_pbkdf2_sha1',
  'ldap_pbkdf2_sha256',
  'ldap_pbkdf2_sha512',
  'atlassian_pbkdf2_sha1',
  'django_pbkdf2_sha256',
  'django_pbkdf2_sha1',
  'werkzeug_pbkdf2',
  'aspnet_identity_v2',
  'aspnet_identity_v3',
  'aspnet_simple_membership',
  'aspnet_membership_sha1',
  'aspnet_membership_sha256',
  'aspnet_universal',
];

/** Schemes that share one stored format: detection names the first (aspnet_identity_v2), both verify the same way. */
const SHARED_FORMAT = ['aspnet_identity_v2', 'aspnet_simple_membership'];
const sameFormat = (name: string) => (SHARED_FORMAT.includes(name) ? SHARED_FORMAT : [name]);

function ctxFor(params: Record<string, unknown> | undefined, row: Vector['row'] = {}): VerifyContext {
  const parsed = parseSchemeParams(params ?? {});
  assert.deepEqual(parsed.problems, [], 'fixture params must be valid passwords.params');
  return { row, params: parsed.params };
}
const NO_CTX = ctxFor({});

function scheme(name: string): PasswordScheme {
  const s = byName.get(name);
  assert.ok(s, `scheme ${name} is exported by kdf.ts`);
  return s;
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t0 };
}


describe('kdf: registry', () => {
  test('exports exactly the family, with unique names', () => {
    assert.deepEqual([...schemes.map((s) => s.name)].sort(), [...EXPECTED_NAMES].sort());
    assert.equal(new Set(schemes.map((s) => s.name)).size, schemes.length);
  });

  test('the fixture has positives and negatives for every scheme, each with a source', () => {
    for (const name of EXPECTED_NAMES) {
      const vs = vectors.filter((v) => v.scheme === name);
      assert.ok(vs.some((v) => v.expected), `${name}: a positive vector`);
      assert.ok(vs.some((v) => !v.expected), `${name}: a negative vector`);
      assert.ok(vs.filter((v) => v.expected && [...v.password].some((c) => c.charCodeAt(0) > 127)).length > 0, `${name}: a non-ASCII positive`);
    }
    for (const v of vectors) {
      assert.ok(byName.has(v.scheme), `unknown scheme in fixture: ${v.scheme}`);
      assert.ok(v.source.length > 10, `source recorded for ${v.scheme} ${v.stored}`);
    }
  });
});

for (const name of EXPECTED_NAMES) {
  describe(`kdf: ${name} vectors`, () => {
    const s = scheme(name);
    vectors
      .filter((v) => v.scheme === name)
      .forEach((v, i) => {
        const label = `#${i} ${v.note ?? ''} ${JSON.stringify(v.password.slice(0, 24))} → ${v.expected}`;
        test(label, async () => {
          const got = await s.verify(v.password, v.stored, ctxFor(v.params, v.row));
          assert.equal(got, v.expected, `${v.stored}\nsource: ${v.source}`);
        });
      });

    if (s.detect) {
      test('detect() accepts every positive, and no other scheme of the family claims it first', () => {
        for (const v of vectors.filter((x) => x.scheme === name && x.expected)) {
          assert.equal(s.detect!(v.stored), true, v.stored);
          const first = schemes.find((x) => x.detect?.(v.stored));
          assert.equal(first?.name, sameFormat(name)[0], v.stored);
          const claimed = schemes.filter((x) => x.detect?.(v.stored)).map((x) => x.name);
          assert.deepEqual(claimed.sort(), [...sameFormat(name)].sort(), v.stored);
        }
      });
      test('detect() tolerates surrounding whitespace and rejects plain text', () => {
        const v = vectors.find((x) => x.scheme === name && x.expected)!;
        assert.equal(s.detect!(`  ${v.stored}\n`), true);
        assert.equal(s.detect!('plain text'), false);
        assert.equal(s.detect!(''), false);
      });
    } else {
      test('has no detect(): the stored value is not self-describing', () => {
        assert.equal(s.detect, undefined);
      });
    }
  });
}

/** Malformed values and absurd (attacker-sized) costs: false, quickly, never a throw. */
const B = (n: number, fill = 7) => Buffer.alloc(n, fill);
const b64 = (b: Buffer) => b.toString('base64');
const ab64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '').replace(/\+/g, '.');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const v3 = (prf: number, iter: number, saltLen: number, salt: Buffer, sub: Buffer) =>
  b64(Buffer.concat([Buffer.from([1]), u32(prf), u32(iter), u32(saltLen), salt, sub]));
const SALT16 = 'c29tZXNhbHRzb21lc2FsdA';
const HASH32 = 'wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA';
const FB = { firebase: { signer_key: b64(B(64)), salt_separator: 'Bw==', rounds: 8, mem_cost: 14 } };

const MALFORMED: [string, string, Record<string, unknown>?, Vector['row']?][] = [
  // argon2
  ['argon2', ''],
  ['argon2', '$argon2id$'],
  ['argon2', `$argon2id$v=19$m=4294967295,t=1,p=1$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=19$m=65536,t=4294967295,p=1$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=19$m=262144,t=100,p=1$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=19$m=65536,t=1,p=255$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=19$m=99999999999999999999,t=1,p=1$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=20$m=64,t=1,p=1$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=19$m=0,t=1,p=1$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=19$m=8,t=1,p=4$${SALT16}$${HASH32}`], // m < 8p
  ['argon2', `$argon2id$v=19$m=64,t=1,p=1$c2FsdA$${HASH32}`], // 4-byte salt: below argon2's minimum
  ['argon2', `$argon2id$v=19$m=64,t=1,p=1$${SALT16}$!!!!`],
  ['argon2', `$argon2x$v=19$m=64,t=1,p=1$${SALT16}$${HASH32}`],
  ['argon2', `$argon2id$v=19$m=64,t=1,p=1,keyid=abc$${SALT16}$${HASH32}`],
  ['django_argon2', `argon2$argon2id$v=19$m=4294967295,t=1,p=1$${SALT16}$${HASH32}`],
  ['django_argon2', `$argon2id$v=19$m=64,t=1,p=1$${SALT16}$${HASH32}`],
  ['django_argon2', 'argon2$'],
  // scrypt
  ['scrypt', `$scrypt$ln=31,r=8,p=1$${SALT16}$${HASH32}`],
  ['scrypt', `$scrypt$ln=20,r=8,p=1$${SALT16}$${HASH32}`], // 1 GiB
  ['scrypt', `$scrypt$ln=4,r=1,p=4294967295$${SALT16}$${HASH32}`],
  ['scrypt', `$scrypt$ln=16,r=8,p=64$${SALT16}$${HASH32}`], // work
  ['scrypt', `$scrypt$ln=0,r=8,p=1$${SALT16}$${HASH32}`], // N = 1
  ['scrypt', `$scrypt$ln=04,r=8,p=1$${SALT16}$${HASH32}`], // zero-padded
  ['scrypt', `$scrypt$ln=4,r=0,p=1$${SALT16}$${HASH32}`],
  ['scrypt', `$scrypt$ln=4,r=8,p=1$${SALT16}$A`],
  ['scrypt', `$7$z6..../....salt$${'a'.repeat(43)}`], // N = 2^63
  ['scrypt', `$7$Czzzzz/....salt$${'a'.repeat(43)}`], // r huge
  ['scrypt', `$7$C6....zzzzzsalt$${'a'.repeat(43)}`], // p huge
  ['scrypt', `$7$C6..../....salt$${'a'.repeat(42)}`],
  ['werkzeug_scrypt', `scrypt:1000:8:1$salt$${'ab'.repeat(64)}`], // N not a power of two
  ['werkzeug_scrypt', `scrypt:1048576:8:1$salt$${'ab'.repeat(64)}`],
  ['werkzeug_scrypt', `scrypt:16384:8:1000000$salt$${'ab'.repeat(64)}`],
  ['werkzeug_scrypt', `scrypt:16384:8:1$salt$${'ab'.repeat(32)}`], // 32-byte key
  ['werkzeug_scrypt', `scrypt:16384:8:1$salt$${'AB'.repeat(64)}`], // Werkzeug compares lower-case hex
  ['werkzeug_scrypt', `scrypt:16384:8$salt$${'ab'.repeat(64)}`],
  ['firebase_scrypt', '', FB, { salt: 'c2FsdA==' }],
  ['firebase_scrypt', 'not base64!', FB, { salt: 'c2FsdA==' }],
  ['firebase_scrypt', b64(B(64)), FB, { salt: 'not base64!' }],
  ['firebase_scrypt', b64(B(64)), { firebase: { ...FB.firebase, signer_key: '!!!!' } }, { salt: 'c2FsdA==' }],
  // PBKDF2
  ['pbkdf2_sha256', `$pbkdf2-sha256$0$${ab64(B(16))}$${ab64(B(32))}`],
  ['pbkdf2_sha256', `$pbkdf2-sha256$01000$${ab64(B(16))}$${ab64(B(32))}`],
  ['pbkdf2_sha256', `$pbkdf2-sha256$4294967295$${ab64(B(16))}$${ab64(B(32))}`],
  ['pbkdf2_sha256', `$pbkdf2-sha256$99999999999999999999$${ab64(B(16))}$${ab64(B(32))}`],
  ['pbkdf2_sha256', `$pbkdf2-sha256$1000$${ab64(B(16))}$${ab64(B(20))}`], // checksum of the wrong size
  ['pbkdf2_sha512', `$pbkdf2-sha512$1500000$${ab64(B(16))}$${ab64(B(64))}`], // over the SHA-512 work cap
  ['pbkdf2_sha1', `$pbkdf2$1000$${ab64(B(16))}$${ab64(B(32))}`],
  ['pbkdf2_sha1', `$pbkdf2$1000$bad*salt$${ab64(B(20))}`],
  ['ldap_pbkdf2_sha1', `{PBKDF2}3000000$${ab64(B(16))}$${ab64(B(20))}`],
  ['ldap_pbkdf2_sha512', `{PBKDF2-SHA512}1000$${ab64(B(16))}$${ab64(B(32))}`],
  ['ldap_pbkdf2_sha256', `{PBKDF2-SHA384}1000$${ab64(B(16))}$${ab64(B(48))}`],
  ['atlassian_pbkdf2_sha1', `{PKCS5S2}${b64(B(47))}`],
  ['atlassian_pbkdf2_sha1', `{PKCS5S2}${b64(B(49))}`],
  ['atlassian_pbkdf2_sha1', '{PKCS5S2}'],
  ['django_pbkdf2_sha256', `pbkdf2_sha256$999999999$salt$${b64(B(32))}`],
  ['django_pbkdf2_sha256', `pbkdf2_sha256$1000$salt$${b64(B(1_000_000))}`],
  ['django_pbkdf2_sha256', 'pbkdf2_sha256$1000$salt$'],
  ['django_pbkdf2_sha1', `pbkdf2_sha1$0$salt$${b64(B(20))}`],
  ['werkzeug_pbkdf2', `pbkdf2:sha256$salt$${'ab'.repeat(32)}`], // no iteration count: the default depends on the Werkzeug version
  ['werkzeug_pbkdf2', `pbkdf2:sha256:99999999$salt$${'ab'.repeat(32)}`],
  ['werkzeug_pbkdf2', `pbkdf2:sha256:1000$salt$${'ab'.repeat(20)}`],
  ['werkzeug_pbkdf2', `pbkdf2:md4:1000$salt$${'ab'.repeat(16)}`],
  ['werkzeug_pbkdf2', `pbkdf2:sha256:1000$salt$${'AB'.repeat(32)}`],
  // ASP.NET
  ['aspnet_identity_v2', 'AAAA'],
  ['aspnet_identity_v2', b64(Buffer.concat([Buffer.from([1]), B(48)]))],
  ['aspnet_identity_v2', b64(Buffer.concat([Buffer.from([0]), B(48)])).slice(0, -4)],
  ['aspnet_simple_membership', b64(Buffer.concat([Buffer.from([0]), B(47)]))],
  ['aspnet_identity_v3', ''],
  ['aspnet_identity_v3', 'not base64 at all!!'],
  ['aspnet_identity_v3', 'AQAAAA=='],
  ['aspnet_identity_v3', v3(3, 1000, 16, B(16), B(32))], // unknown PRF
  ['aspnet_identity_v3', v3(1, 0xffffffff, 16, B(16), B(32))],
  ['aspnet_identity_v3', v3(2, 1_500_000, 16, B(16), B(64))], // over the SHA-512 work cap
  ['aspnet_identity_v3', v3(1, 0, 16, B(16), B(32))],
  ['aspnet_identity_v3', v3(1, 1000, 8, B(8), B(32))], // salt < 128 bits
  ['aspnet_identity_v3', v3(1, 1000, 16, B(16), B(8))], // subkey < 128 bits
  ['aspnet_identity_v3', v3(1, 1000, 0xffffffff, B(16), B(32))],
  ['aspnet_membership_sha1', 'not base64!', {}, { salt: 'c2FsdA==' }],
  ['aspnet_membership_sha1', b64(B(32)), {}, { salt: 'c2FsdA==' }],
  ['aspnet_membership_sha1', b64(B(20)), {}, { salt: '%%%' }],
  ['aspnet_membership_sha256', b64(B(20)), {}, { salt: 'c2FsdA==' }],
  ['aspnet_universal', b64(B(32)), {}, { salt: '' }], // an empty salt would never terminate in .NET
  ['aspnet_universal', b64(B(32)), {}, {}],
  ['aspnet_universal', b64(B(20)), {}, { salt: 'c2FsdA==' }],
];

describe('kdf: malformed values and absurd costs are false, quickly, without throwing', () => {
  for (const [name, stored, params, row] of MALFORMED) {
    test(`${name}: ${JSON.stringify(stored.slice(0, 70))}`, async () => {
      const s = scheme(name);
      const ctx = ctxFor(params, row ?? {});
      for (const pw of ['password', '']) {
        const { value, ms } = await timed(() => s.verify(pw, stored, ctx));
        assert.equal(value, false);
        assert.ok(ms < 300, `took ${ms.toFixed(0)} ms`);
      }
    });
  }

  test('every scheme is false for an empty or random stored value, with and without row salt and params', async () => {
    for (const s of schemes) {
      for (const stored of ['', ' ', 'x', '$', '$$$', b64(B(49, 0)), 'a'.repeat(10_000)]) {
        for (const ctx of [NO_CTX, ctxFor(FB, { salt: 'c2FsdA==' })]) {
          assert.equal(await s.verify('password', stored, ctx), false, `${s.name} ${JSON.stringify(stored.slice(0, 20))}`);
        }
      }
    }
  });
});

describe('kdf: cost limits', () => {
  test('pbkdf2Bounded refuses work over the cap before running anything', async () => {
    const { value, ms } = await timed(() => pbkdf2Bounded('pw', B(16), KDF_LIMITS.pbkdf2MaxWork + 1, 32, 'sha256'));
    assert.equal(value, null);
    assert.ok(ms < 50);
    assert.equal(await pbkdf2Bounded('pw', B(16), KDF_LIMITS.pbkdf2MaxWork / 2 + 1, 64, 'sha256'), null, 'two blocks count twice');
    assert.equal(await pbkdf2Bounded('pw', B(16), KDF_LIMITS.pbkdf2MaxWork / 2 + 1, 64, 'sha512'), null, 'SHA-512 weighs two');
    assert.equal(await pbkdf2Bounded('pw', B(16), 1000, KDF_LIMITS.pbkdf2MaxKeyLen + 1, 'sha256'), null);
    assert.equal(await pbkdf2Bounded('pw', B(16), 1.5, 32, 'sha256'), null);
    assert.ok(await pbkdf2Bounded('pw', B(16), 1, 32, 'sha256'));
  });

  test('the caps admit the largest real framework defaults', () => {
    // Django 6.0 PBKDF2-SHA256 1,200,000 (one block); ASP.NET Core Identity v3 .NET 7+ SHA512 100,000 (64-byte subkey)
    assert.ok(1_200_000 * 1 * 1 <= KDF_LIMITS.pbkdf2MaxWork);
    assert.ok(100_000 * 1 * 2 <= KDF_LIMITS.pbkdf2MaxWork);
    // passlib scrypt default ln=16 r=8 p=1; argon2-cffi RFC 9106 high-memory profile m=2 GiB is refused, its low-memory
    // profile (m=64 MiB, t=3, p=4) and Django's (m=100 MiB, t=2, p=8) are admitted
    assert.ok(128 * 2 ** 16 * 8 <= KDF_LIMITS.scryptMaxMemory);
    assert.ok(65536 * 3 <= KDF_LIMITS.argon2MaxWork && 102400 * 2 <= KDF_LIMITS.argon2MaxWork);
    assert.ok(102400 <= KDF_LIMITS.argon2MaxMemoryKiB && 2 * 1024 * 1024 > KDF_LIMITS.argon2MaxMemoryKiB);
  });

  test('scryptBounded refuses memory or work over the cap, and invalid N', async () => {
    assert.equal(await scryptBounded('pw', B(16), 2 ** 20, 8, 1, 32), null);
    assert.equal(await scryptBounded('pw', B(16), 2 ** 16, 8, 8, 32), null);
    assert.equal(await scryptBounded('pw', B(16), 1000, 8, 1, 32), null);
    assert.equal(await scryptBounded('pw', B(16), 1, 8, 1, 32), null);
    assert.ok(await scryptBounded('pw', B(16), 16, 1, 1, 32));
  });
});

describe('kdf: slow work stays off the event loop', () => {
  const cases: [string, (v: Vector) => boolean][] = [
    ['pbkdf2_sha1', (v) => v.stored.startsWith('$pbkdf2$131000$')],
    ['scrypt', (v) => v.stored.startsWith('$scrypt$ln=14,')],
    ['argon2', (v) => v.stored.startsWith('$argon2id$v=19$m=65536,t=3')],
    ['firebase_scrypt', (v) => v.stored.startsWith('lSrfV15c')],
  ];
  for (const [name, pick] of cases) {
    test(`${name}: the event loop keeps turning during a verify`, async () => {
      const v = vectors.find((x) => x.scheme === name && x.expected && pick(x));
      assert.ok(v, 'vector present');
      const t0 = performance.now();
      const { value, gap } = await maxLoopGap(() => scheme(name).verify(v.password, v.stored, ctxFor(v.params, v.row)));
      const total = performance.now() - t0;
      assert.equal(value, true);
      assert.ok(gap < Math.max(50, total / 3), `longest event-loop gap ${gap.toFixed(0)} ms of ${total.toFixed(0)} ms`);
    });
  }
});
