import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { bcrypt } from '../../../src/passwords/bcrypt.js';
import * as passwords from '../../../src/passwords/index.js';
import {
  detectScheme,
  getScheme,
  identify,
  resolveScheme,
  schemeNames,
  validatePolicy,
  verifyWith,
  type PasswordScheme,
  type VerifyContext,
} from '../../../src/passwords/index.js';
import { aspnetIdentityV2, aspnetIdentityV3, djangoPbkdf2Sha1, djangoPbkdf2Sha256 } from '../../../src/passwords/kdf.js';

/** Default (parsed) scheme params: through compilePolicy when the module has it, else the raw empty object. */
const compilePolicy = (passwords as Record<string, unknown>).compilePolicy as
  | ((p: { scheme: string; params: Record<string, unknown> }) => { params: VerifyContext['params'] })
  | undefined;
const ctx: VerifyContext = {
  row: {},
  params: compilePolicy ? compilePolicy({ scheme: 'auto', params: {} }).params : ({} as VerifyContext['params']),
};
/** A passwords.* policy (a variable, so it fits both the raw and the parsed policy types). */
function policy(scheme: string) {
  const p = { scheme, params: {} };
  return p;
}
const AUTO = policy('auto');

/**
 * Independent reference implementation: Python's hashlib, via child_process.
 * Returns null when python3 is not available (those tests are then skipped).
 */
function pythonPbkdf2(digest: string, password: string, salt: Buffer, iterations: number, dklen?: number): Buffer | null {
  const script = [
    'import hashlib, sys',
    'd, pw, salt, it, dk = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3]), int(sys.argv[4]), sys.argv[5]',
    'print(hashlib.pbkdf2_hmac(d, pw, salt, it, int(dk) if dk else None).hex())',
  ].join('\n');
  try {
    const out = execFileSync(
      'python3',
      ['-c', script, digest, Buffer.from(password, 'utf8').toString('hex'), salt.toString('hex'), String(iterations), dklen ? String(dklen) : ''],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 },
    );
    return Buffer.from(out.trim(), 'hex');
  } catch {
    return null;
  }
}

const HAVE_PYTHON = pythonPbkdf2('sha256', 'pw', Buffer.from('salt'), 1) !== null;
const skipNoPython = HAVE_PYTHON ? false : 'python3 not available for independent PBKDF2 vectors';

/** Sanity-check the reference itself against RFC 6070 (PBKDF2-HMAC-SHA1, "password"/"salt", c=1 and c=2). */
test('reference PBKDF2 (python3 hashlib) reproduces RFC 6070 vectors', { skip: skipNoPython }, () => {
  assert.equal(pythonPbkdf2('sha1', 'password', Buffer.from('salt'), 1, 20)!.toString('hex'), '0c60c80f961f0e71f3a9b524af6012062fe037a6');
  assert.equal(pythonPbkdf2('sha1', 'password', Buffer.from('salt'), 2, 20)!.toString('hex'), 'ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957');
});

/** Time an async call. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

describe('registry', () => {
  test('schemes are registered under passlib / framework names', () => {
    const names = schemeNames();
    for (const n of ['bcrypt', 'django_pbkdf2_sha256', 'django_pbkdf2_sha1', 'aspnet_identity_v3', 'aspnet_identity_v2']) {
      assert.ok(names.includes(n), `missing scheme ${n}`);
      assert.equal(getScheme(n)?.name, n);
    }
    assert.equal(getScheme('nope'), undefined);
  });

  test('validatePolicy accepts auto and known names, refuses an unknown scheme name', () => {
    assert.deepEqual(validatePolicy({ scheme: 'auto', params: {} }), []);
    assert.deepEqual(validatePolicy({ scheme: 'bcrypt', params: {} }), []);
    const problems = validatePolicy({ scheme: 'md5_plain_lol', params: {} });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^passwords\.scheme: /);
    assert.match(problems[0]!, /md5_plain_lol/);
    assert.match(problems[0]!, /bcrypt/, 'lists the known schemes');
  });
});

describe('resolveScheme', () => {
  const bcryptLike = '$2b$10$' + 'a'.repeat(53);
  const djangoLike = 'pbkdf2_sha256$1000$salt$' + Buffer.alloc(32, 1).toString('base64');

  test('detection when nothing is named', () => {
    assert.equal((resolveScheme({ password: bcryptLike }, AUTO).scheme as PasswordScheme).name, 'bcrypt');
    assert.equal((resolveScheme({ password: djangoLike }, AUTO).scheme as PasswordScheme).name, 'django_pbkdf2_sha256');
  });

  test('the configured scheme wins over detection', () => {
    const r = resolveScheme({ password: bcryptLike }, policy('django_pbkdf2_sha256'));
    assert.equal(r.scheme?.name, 'django_pbkdf2_sha256');
  });

  test("the row's own passwordScheme wins over the configured scheme and detection", () => {
    const r = resolveScheme({ password: bcryptLike, passwordScheme: 'aspnet_identity_v3' }, policy('django_pbkdf2_sha256'));
    assert.equal(r.scheme?.name, 'aspnet_identity_v3');
    const r2 = resolveScheme({ password: djangoLike, passwordScheme: ' bcrypt ' }, AUTO);
    assert.equal(r2.scheme?.name, 'bcrypt', 'the row scheme is trimmed');
  });

  test('a blank row scheme falls back to the configured scheme', () => {
    const r = resolveScheme({ password: bcryptLike, passwordScheme: '  ' }, policy('django_pbkdf2_sha256'));
    assert.equal(r.scheme?.name, 'django_pbkdf2_sha256');
  });

  test("unknown names → 'unknown_scheme' (row or configured), never falling back to detection", () => {
    assert.deepEqual(resolveScheme({ password: bcryptLike, passwordScheme: 'md5' }, AUTO), { scheme: null, reason: 'unknown_scheme' });
    assert.deepEqual(resolveScheme({ password: bcryptLike }, policy('nope')), { scheme: null, reason: 'unknown_scheme' });
  });

  test("empty or absent password → 'no_password', whatever else is named", () => {
    for (const password of [undefined, '']) {
      assert.deepEqual(resolveScheme({ password }, AUTO), { scheme: null, reason: 'no_password' });
      assert.deepEqual(resolveScheme({ password, passwordScheme: 'bcrypt' }, policy('bcrypt')), { scheme: null, reason: 'no_password' });
    }
  });

  test("unrecognised stored values → 'unrecognised'", () => {
    for (const password of ['plain text', 'hunter2', '5f4dcc3b5aa765d61d8327deb882cf9' /* 31 hex: no digest has that length */, '$1$abc$def', '$2b$10$short']) {
      assert.deepEqual(resolveScheme({ password }, AUTO), { scheme: null, reason: 'unrecognised' }, password);
    }
  });
});

describe('identify / detectScheme', () => {
  test('names bcrypt for a bcrypt hash (all prefixes)', async () => {
    const h = await bcryptHash('pw', 4);
    assert.deepEqual(identify(h), ['bcrypt']);
    for (const p of ['$2a$', '$2y$', '$2b$']) assert.deepEqual(identify(p + h.slice(4)), ['bcrypt']);
    assert.equal(detectScheme(h)?.name, 'bcrypt');
  });

  test('names nothing for plain text', () => {
    assert.deepEqual(identify('plain text'), []);
    assert.deepEqual(identify(''), []);
    assert.equal(detectScheme('plain text'), undefined);
  });

  test('names the django and aspnet formats', () => {
    assert.deepEqual(identify('pbkdf2_sha256$260000$abc$' + Buffer.alloc(32, 7).toString('base64')), ['django_pbkdf2_sha256']);
    assert.deepEqual(identify('pbkdf2_sha1$10000$abc$' + Buffer.alloc(20, 7).toString('base64')), ['django_pbkdf2_sha1']);
    const v3 = Buffer.concat([Buffer.from([1]), u32(1), u32(10000), u32(16), Buffer.alloc(16, 2), Buffer.alloc(32, 3)]).toString('base64');
    assert.ok(identify(v3).includes('aspnet_identity_v3'));
    const v2 = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 2), Buffer.alloc(32, 3)]).toString('base64');
    assert.ok(identify(v2).includes('aspnet_identity_v2'));
  });
});

describe('verifyWith: malformed stored values are false, never a throw', () => {
  const cases: [PasswordScheme, string][] = [
    [bcrypt, ''],
    [bcrypt, 'plain text'],
    [bcrypt, '$2b$10$tooShort'],
    [bcrypt, '$2b$99$' + 'a'.repeat(53)],
    [bcrypt, '$2b$00$' + 'a'.repeat(53)],
    [bcrypt, '$2b$10$' + '!'.repeat(53)],
    [djangoPbkdf2Sha256, ''],
    [djangoPbkdf2Sha256, 'pbkdf2_sha256$'],
    [djangoPbkdf2Sha256, 'pbkdf2_sha256$abc$salt$aGFzaA=='],
    [djangoPbkdf2Sha256, 'pbkdf2_sha256$0$salt$aGFzaA=='],
    [djangoPbkdf2Sha256, 'pbkdf2_sha256$1000$salt$'],
    [djangoPbkdf2Sha256, 'pbkdf2_sha256$1000$salt$!!!!'],
    [djangoPbkdf2Sha256, 'pbkdf2_sha256$99999999999999999999999$salt$aGFzaA=='],
    [aspnetIdentityV3, ''],
    [aspnetIdentityV3, 'not base64 at all!!'],
    [aspnetIdentityV3, '@@@@====####'],
    [aspnetIdentityV3, 'AQAAAA=='], // 0x01 then too short
    [aspnetIdentityV3, Buffer.concat([Buffer.from([1]), u32(9), u32(1000), u32(16), Buffer.alloc(48)]).toString('base64')], // unknown prf
    [aspnetIdentityV3, Buffer.concat([Buffer.from([1]), u32(1), u32(1000), u32(0xffffffff), Buffer.alloc(48)]).toString('base64')], // salt length past the end
    [aspnetIdentityV3, Buffer.concat([Buffer.from([1]), u32(1), u32(1000), u32(0), Buffer.alloc(48)]).toString('base64')], // zero salt
    [aspnetIdentityV3, Buffer.concat([Buffer.from([1]), u32(1), u32(0), u32(16), Buffer.alloc(48)]).toString('base64')], // zero iterations
    [aspnetIdentityV2, 'AAAA'],
    [aspnetIdentityV2, Buffer.alloc(49, 0).toString('base64').slice(0, -4)],
  ];
  for (const [scheme, stored] of cases) {
    test(`${scheme.name}: ${JSON.stringify(stored.slice(0, 60))}`, async () => {
      assert.equal(await verifyWith(scheme, 'password', stored, ctx), false);
      assert.equal(await verifyWith(scheme, '', stored, ctx), false);
    });
  }

  test('a verifier that throws is turned into false', async () => {
    const boom: PasswordScheme = {
      name: 'boom',
      verify: async () => {
        throw new Error('kaboom');
      },
    };
    assert.equal(await verifyWith(boom, 'pw', 'x', ctx), false);
  });

  test('a verifier returning a truthy non-boolean is not a success', async () => {
    const sloppy: PasswordScheme = { name: 'sloppy', verify: async () => 1 as unknown as boolean };
    assert.equal(await verifyWith(sloppy, 'pw', 'x', ctx), false);
  });

  test('huge django iteration counts return false quickly, without running the KDF', async () => {
    const stored = 'pbkdf2_sha256$999999999$salt$' + Buffer.alloc(32, 9).toString('base64');
    const { value, ms } = await timed(() => verifyWith(djangoPbkdf2Sha256, 'pw', stored, ctx));
    assert.equal(value, false);
    assert.ok(ms < 200, `took ${ms.toFixed(0)} ms`);
  });

  test('huge aspnet v3 iteration counts return false quickly, without running the KDF', async () => {
    const stored = Buffer.concat([Buffer.from([1]), u32(1), u32(0xffffffff), u32(16), Buffer.alloc(16, 1), Buffer.alloc(32, 2)]).toString('base64');
    const { value, ms } = await timed(() => verifyWith(aspnetIdentityV3, 'pw', stored, ctx));
    assert.equal(value, false);
    assert.ok(ms < 200, `took ${ms.toFixed(0)} ms`);
  });

  test('a huge derived-key length (very long stored subkey) returns false quickly', async () => {
    const stored = 'pbkdf2_sha256$1000$salt$' + Buffer.alloc(1_000_000, 9).toString('base64');
    const { value, ms } = await timed(() => verifyWith(djangoPbkdf2Sha256, 'pw', stored, ctx));
    assert.equal(value, false);
    assert.ok(ms < 1_000, `took ${ms.toFixed(0)} ms`);
  });
});

describe('bcrypt', () => {
  test('a hash made with @node-rs/bcrypt verifies; near misses do not', async () => {
    const password = 'correct horse battery staple';
    const h = await bcryptHash(password, 4);
    assert.equal(await verifyWith(bcrypt, password, h, ctx), true);
    assert.equal(await verifyWith(bcrypt, password.slice(0, -1) + 'f', h, ctx), false, 'one char off');
    assert.equal(await verifyWith(bcrypt, password + ' ', h, ctx), false, 'one char added');
    assert.equal(await verifyWith(bcrypt, '', h, ctx), false, 'empty');
    assert.equal(await verifyWith(bcrypt, password.toUpperCase(), h, ctx), false, 'case changed');
    assert.equal(await verifyWith(bcrypt, 'Correct horse battery staple', h, ctx), false, 'first letter case changed');
  });

  test('a one-character change in the stored hash does not verify', async () => {
    const h = await bcryptHash('pw', 4);
    const last = h.at(-1) === 'a' ? 'b' : 'a';
    assert.equal(await verifyWith(bcrypt, 'pw', h.slice(0, -1) + last, ctx), false);
    assert.equal(await verifyWith(bcrypt, 'pw', h.slice(0, -1), ctx), false, 'truncated');
  });

  test('$2y$ and $2a$ prefixes of the same hash verify (PHP and older libraries)', async () => {
    const h = await bcryptHash('s3cret', 4);
    assert.ok(h.startsWith('$2b$'));
    for (const prefix of ['$2y$', '$2a$', '$2b$']) {
      assert.equal(await verifyWith(bcrypt, 's3cret', prefix + h.slice(4), ctx), true, prefix);
      assert.equal(await verifyWith(bcrypt, 's3creT', prefix + h.slice(4), ctx), false, prefix);
    }
  });

  test('a stored value with surrounding whitespace (CHAR columns) still verifies', async () => {
    const h = await bcryptHash('pw', 4);
    assert.equal(await verifyWith(bcrypt, 'pw', `${h}   `, ctx), true);
  });

  test('non-ASCII passwords', async () => {
    const h = await bcryptHash('lètmein', 4);
    assert.equal(await verifyWith(bcrypt, 'lètmein', h, ctx), true);
    assert.equal(await verifyWith(bcrypt, 'letmein', h, ctx), false);
  });
});

describe('django pbkdf2 (vectors from python3 hashlib)', { skip: skipNoPython }, () => {
  function djangoString(tag: string, digest: string, password: string, salt: string, iterations: number, dklen: number): string {
    const key = pythonPbkdf2(digest, password, Buffer.from(salt, 'utf8'), iterations, dklen)!;
    return `${tag}$${iterations}$${salt}$${key.toString('base64')}`;
  }

  test('pbkdf2_sha256: a Django-format string built from an independent PBKDF2 verifies', async () => {
    const stored = djangoString('pbkdf2_sha256', 'sha256', 'lètmein', 'seasalt', 1000, 32);
    assert.equal(djangoPbkdf2Sha256.detect?.(stored), true);
    assert.equal(detectScheme(stored)?.name, 'django_pbkdf2_sha256');
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'lètmein', stored, ctx), true);
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'letmein', stored, ctx), false);
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'lètmein ', stored, ctx), false);
    assert.equal(await verifyWith(djangoPbkdf2Sha256, '', stored, ctx), false);
    // Through resolveScheme, as the gateway does it.
    const r = resolveScheme({ password: stored }, AUTO);
    assert.ok(r.scheme);
    assert.equal(await verifyWith(r.scheme, 'lètmein', stored, ctx), true);
  });

  test('pbkdf2_sha256: tampering with iterations, salt or hash breaks it', async () => {
    const stored = djangoString('pbkdf2_sha256', 'sha256', 'pw', 'salt', 1000, 32);
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'pw', stored, ctx), true);
    const [tag, it, salt, b64] = stored.split('$') as [string, string, string, string];
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'pw', [tag, '1001', salt, b64].join('$'), ctx), false);
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'pw', [tag, it, 'salT', b64].join('$'), ctx), false);
    const key = Buffer.from(b64, 'base64');
    key[31] = key[31]! ^ 1;
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'pw', [tag, it, salt, key.toString('base64')].join('$'), ctx), false);
  });

  test('pbkdf2_sha256 at a realistic Django iteration count', async () => {
    const stored = djangoString('pbkdf2_sha256', 'sha256', 'correct horse', 'Zr8t1kD0qWmE', 260000, 32);
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'correct horse', stored, ctx), true);
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'correct horsE', stored, ctx), false);
  });

  test('pbkdf2_sha1 (older Django)', async () => {
    const stored = djangoString('pbkdf2_sha1', 'sha1', 'pw', 'oldsalt', 10000, 20);
    assert.equal(detectScheme(stored)?.name, 'django_pbkdf2_sha1');
    assert.equal(await verifyWith(djangoPbkdf2Sha1, 'pw', stored, ctx), true);
    assert.equal(await verifyWith(djangoPbkdf2Sha1, 'pW', stored, ctx), false);
    // The sha256 verifier refuses a sha1 string (different tag).
    assert.equal(await verifyWith(djangoPbkdf2Sha256, 'pw', stored, ctx), false);
  });
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

describe('aspnet identity (layout built here, key from python3 hashlib)', { skip: skipNoPython }, () => {
  /** ASP.NET Core Identity v3: 0x01 | prf u32 BE | iterations u32 BE | saltLen u32 BE | salt | subkey. */
  function v3(password: string, prf: number, digest: string, iterations: number, salt: Buffer, subkeyLen = 32): string {
    const subkey = pythonPbkdf2(digest, password, salt, iterations, subkeyLen)!;
    return Buffer.concat([Buffer.from([0x01]), u32(prf), u32(iterations), u32(salt.length), salt, subkey]).toString('base64');
  }

  test('v3 HMAC-SHA256 (the .NET Core 2+ default shape) verifies', async () => {
    const salt = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const stored = v3('P@ssw0rd!', 1, 'sha256', 10000, salt);
    assert.equal(Buffer.from(stored, 'base64').length, 1 + 12 + 16 + 32);
    assert.equal(aspnetIdentityV3.detect?.(stored), true);
    assert.equal(await verifyWith(aspnetIdentityV3, 'P@ssw0rd!', stored, ctx), true);
    assert.equal(await verifyWith(aspnetIdentityV3, 'P@ssw0rd', stored, ctx), false);
    assert.equal(await verifyWith(aspnetIdentityV3, 'p@ssw0rd!', stored, ctx), false);
    assert.equal(await verifyWith(aspnetIdentityV3, '', stored, ctx), false);
    const r = resolveScheme({ password: stored }, AUTO);
    assert.equal(r.scheme?.name, 'aspnet_identity_v3');
  });

  test('v3 HMAC-SHA512 with 100k iterations (the .NET 7+ default) and HMAC-SHA1', async () => {
    const salt = Buffer.alloc(16, 0xab);
    const s512 = v3('hunter2', 2, 'sha512', 100000, salt);
    assert.equal(await verifyWith(aspnetIdentityV3, 'hunter2', s512, ctx), true);
    assert.equal(await verifyWith(aspnetIdentityV3, 'hunter3', s512, ctx), false);
    const s1 = v3('hunter2', 0, 'sha1', 1000, salt);
    assert.equal(await verifyWith(aspnetIdentityV3, 'hunter2', s1, ctx), true);
  });

  test('v3: a wrong prf byte in an otherwise valid string does not verify', async () => {
    const salt = Buffer.alloc(16, 5);
    const stored = Buffer.from(v3('pw', 1, 'sha256', 1000, salt), 'base64');
    stored.writeUInt32BE(2, 1); // claims SHA-512, key was SHA-256
    assert.equal(await verifyWith(aspnetIdentityV3, 'pw', stored.toString('base64'), ctx), false);
  });

  test('v2 (0x00 | salt16 | subkey32, HMAC-SHA1, 1000 iterations) verifies', async () => {
    const salt = Buffer.alloc(16, 0x11);
    const subkey = pythonPbkdf2('sha1', 'Secret123', salt, 1000, 32)!;
    const stored = Buffer.concat([Buffer.from([0x00]), salt, subkey]).toString('base64');
    assert.equal(detectScheme(stored)?.name, 'aspnet_identity_v2');
    assert.equal(await verifyWith(aspnetIdentityV2, 'Secret123', stored, ctx), true);
    assert.equal(await verifyWith(aspnetIdentityV2, 'secret123', stored, ctx), false);
  });
});
