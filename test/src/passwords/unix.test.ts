/**
 * src/passwords/unix.ts against vectors made by independent implementations (passlib, libxcrypt, PHP, OpenSSL,
 * htpasswd, Django, python3-bcrypt; see scripts/fixtures/unix.py, which writes the fixture), plus malformed and
 * hostile stored values, which must all verify false, quickly, without throwing.
 *
 * Run from the repository root (the fixture is read relative to the working directory).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bcrypt } from '../../../src/passwords/bcrypt.js';
import { aspnetIdentityV2, aspnetIdentityV3, djangoPbkdf2Sha256 } from '../../../src/passwords/kdf.js';
import type { PasswordScheme, VerifyContext } from '../../../src/passwords/types.js';
import { schemes } from '../../../src/passwords/unix.js';
import { loadVectors, type Vector } from '../../helpers/vectors.js';


const ctx: VerifyContext = { row: {}, params: {} } as unknown as VerifyContext;
const vectors = loadVectors('unix');

const NAMES = [
  'wordpress_bcrypt',
  'bcrypt_sha256',
  'django_bcrypt_sha256',
  'drupal7_upgraded',
  'drupal7',
  'phpass',
  'sha512_crypt',
  'sha256_crypt',
  'apr_md5_crypt',
  'md5_crypt',
  'bsdi_crypt',
  'des_crypt',
];
const byName = new Map(schemes.map((s) => [s.name, s]));

function get(name: string): PasswordScheme {
  const s = byName.get(name);
  assert.ok(s, `scheme ${name} is exported`);
  return s;
}

/** A positive vector's stored value for each scheme. */
function sample(name: string, pick: (v: Vector) => boolean = () => true): Vector {
  const v = vectors.find((x) => x.scheme === name && x.expected && pick(x));
  assert.ok(v, `fixture has a positive ${name} vector`);
  return v;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

describe('unix family: exports', () => {
  test('exports exactly the expected schemes, uniquely named, all with detect()', () => {
    assert.deepEqual(
      schemes.map((s) => s.name),
      NAMES,
    );
    for (const s of schemes) assert.equal(typeof s.detect, 'function', s.name);
  });

  test('the fixture covers every scheme with positives and negatives, from named sources', () => {
    assert.ok(vectors.length > 100);
    for (const name of NAMES) {
      const mine = vectors.filter((v) => v.scheme === name);
      assert.ok(mine.filter((v) => v.expected).length >= 5, `${name}: positives`);
      assert.ok(mine.filter((v) => !v.expected).length >= 3, `${name}: negatives`);
    }
    for (const v of vectors) {
      assert.ok(byName.has(v.scheme), `unknown scheme in fixture: ${v.scheme}`);
      assert.match(v.source, /stored: .+; expected: .+/);
    }
  });
});

for (const name of NAMES) {
  describe(`${name}: reference vectors`, () => {
    const scheme = get(name);
    const mine = vectors.filter((v) => v.scheme === name);
    for (const [i, v] of mine.entries()) {
      test(`#${i} ${v.expected ? 'accepts' : 'rejects'} ${JSON.stringify(v.password).slice(0, 40)} — ${v.source.split('; expected')[0]!.slice(8, 90)}`, async () => {
        assert.equal(await scheme.verify(v.password, v.stored, ctx), v.expected, v.source);
      });
    }
  });
}

describe('unix family: detect()', () => {
  test("each positive vector's stored value is detected by its scheme and by no other", () => {
    for (const v of vectors.filter((x) => x.expected)) {
      const claimed = schemes.filter((s) => s.detect!(v.stored)).map((s) => s.name);
      assert.deepEqual(claimed, [v.scheme], `${v.stored} is claimed by ${claimed.join(', ')}`);
    }
  });

  test('surrounding whitespace in the stored value is ignored by detect() and verify()', async () => {
    for (const name of NAMES) {
      const v = sample(name);
      const padded = ` \t${v.stored}\r\n `;
      assert.equal(get(name).detect!(padded), true, name);
      assert.equal(await get(name).verify(v.password, padded, ctx), true, name);
    }
  });

  test("the repository's other formats are not claimed by this family, nor ours by them", async () => {
    const { hash } = await import('@node-rs/bcrypt');
    const others = [
      await hash('password', 4),
      '$2y$10$' + 'a'.repeat(53),
      'pbkdf2_sha256$600000$salt$' + Buffer.alloc(32).toString('base64'),
      Buffer.concat([Buffer.from([1, 0, 0, 0, 1, 0, 0, 0x27, 0x10, 0, 0, 0, 16]), Buffer.alloc(48)]).toString('base64'),
      Buffer.concat([Buffer.from([0]), Buffer.alloc(48)]).toString('base64'),
      '5f4dcc3b5aa765d61d8327deb882cf99', // plain md5 hex
      '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19', // mysql41
      '{SSHA}' + Buffer.alloc(24).toString('base64'),
      '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$' + 'A'.repeat(43),
      '',
      '   ',
    ];
    for (const o of others) {
      const claimed = schemes.filter((s) => s.detect!(o)).map((s) => s.name);
      assert.deepEqual(claimed, [], `${o} is claimed by ${claimed.join(', ')}`);
    }
    for (const v of vectors.filter((x) => x.expected)) {
      for (const s of [bcrypt, djangoPbkdf2Sha256, aspnetIdentityV3, aspnetIdentityV2]) {
        assert.equal(s.detect!(v.stored), false, `${s.name} claims ${v.scheme} value ${v.stored}`);
      }
    }
  });

  test('des_crypt detection is specific: 13 characters, canonical last character', () => {
    const des = get('des_crypt');
    assert.equal(des.detect!('abJnggxhB/yWI'), true);
    assert.equal(des.detect!('abJnggxhB/yWJ'), false); // 'J' carries bits crypt never sets
    assert.equal(des.detect!('abJnggxhB/yW'), false);
    assert.equal(des.detect!('abJnggxhB/yWIx'), false);
    assert.equal(des.detect!('ab$nggxhB/yWI'), false);
    assert.equal(des.detect!('john.smith@ex'), false);
    // Inherent to the format (passlib's identify() behaves the same): any 13 alphabet characters with a canonical
    // last one look like DES crypt, so a deployment with such plain values should name its scheme explicitly.
    assert.equal(des.detect!('john.smith.ok'), true);
  });
});

describe('unix family: semantics', () => {
  test('crypt(3) schemes refuse passwords containing NUL (C would stop reading there)', async () => {
    for (const name of ['md5_crypt', 'apr_md5_crypt', 'sha256_crypt', 'sha512_crypt', 'des_crypt', 'bsdi_crypt']) {
      const v = sample(name, (x) => x.password.length > 0);
      assert.equal(await get(name).verify(v.password, v.stored, ctx), true, name);
      assert.equal(await get(name).verify(`${v.password}\0junk`, v.stored, ctx), false, name);
    }
  });

  test('passwords are UTF-8: NFC and NFD spellings are different passwords', async () => {
    const v = sample('sha512_crypt', (x) => x.password === 'pässwörd✓');
    assert.equal(await get('sha512_crypt').verify(v.password.normalize('NFD'), v.stored, ctx), false);
    assert.equal(await get('sha512_crypt').verify(v.password.normalize('NFC'), v.stored, ctx), true);
  });

  test('phpass refuses passwords over 4096 bytes, Drupal 7 over 512 (as their sources do)', async () => {
    // A correct hash of a 600-byte password is still refused by drupal7 but accepted by phpass.
    const { createHash } = await import('node:crypto');
    const pw = 'p'.repeat(600);
    const enc = (b: Buffer) => {
      const A = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
      let o = '';
      for (let i = 0; i < b.length; i += 3) {
        const n = Math.min(3, b.length - i);
        const v = b[i]! | (n > 1 ? b[i + 1]! << 8 : 0) | (n > 2 ? b[i + 2]! << 16 : 0);
        for (let k = 0; k <= n; k++) o += A[(v >>> (6 * k)) & 63];
      }
      return o;
    };
    const stretch = (alg: string) => {
      let h = createHash(alg).update('saltsalt').update(pw).digest();
      for (let i = 0; i < 128; i++) h = createHash(alg).update(h).update(pw).digest();
      return enc(h);
    };
    assert.equal(await get('phpass').verify(pw, `$P$5saltsalt${stretch('md5')}`, ctx), true);
    assert.equal(await get('phpass').verify('p'.repeat(4097), `$P$5saltsalt${stretch('md5')}`, ctx), false);
    assert.equal(await get('drupal7').verify(pw, `$S$5saltsalt${stretch('sha512').slice(0, 43)}`, ctx), false);
  });
});

describe('unix family: malformed and hostile stored values', () => {
  const malformed: [string, string[]][] = [
    ['md5_crypt', ['$1$', '$1$saltsalt$', '$1$toolongsalt$qjXMvbEw8oaL.CzflDtaK/', '$1$saltsalt$qjXMvbEw8oaL.CzflDtaK', '$1$saltsalt$qjXMvbEw8oaL.Czfl!taK/', '$1$salt$salt$qjXMvbEw8oaL.CzflDtaK/']],
    ['apr_md5_crypt', ['$apr1$', '$apr1$saltsalt$yAAkm4libquA.ZWLHbSBq', '$apr$saltsalt$yAAkm4libquA.ZWLHbSBq/', '$apr1$salt salt$yAAkm4libquA.ZWLHbSB/']],
    [
      'sha256_crypt',
      [
        '$5$',
        '$5$rounds=$salt$' + 'a'.repeat(43),
        '$5$rounds=999$salt$' + 'a'.repeat(43), // below the spec's minimum (glibc would rewrite it as 1000)
        '$5$rounds=01000$salt$' + 'a'.repeat(43), // leading zero: never produced by crypt(3)
        '$5$rounds=1000000000$salt$' + 'a'.repeat(43), // above the spec's maximum
        '$5$rounds=999999999$salt$' + 'a'.repeat(43), // legal, but beyond our cap
        '$5$rounds=-5000$salt$' + 'a'.repeat(43),
        '$5$saltsaltsaltsaltX$' + 'a'.repeat(43), // 17-character salt
        '$5$salt$' + 'a'.repeat(42),
        '$5$salt$' + 'a'.repeat(42) + '_',
      ],
    ],
    ['sha512_crypt', ['$6$', '$6$rounds=99999999999$salt$' + 'a'.repeat(86), '$6$rounds=1e6$salt$' + 'a'.repeat(86), '$6$salt$' + 'a'.repeat(85), '$6$salt$' + 'a'.repeat(87)]],
    ['des_crypt', ['', 'ab', 'abJnggxhB/yW', 'a bJnggxhB/yW', 'ab!nggxhB/yWI', 'abJnggxhB/yWJ']],
    [
      'bsdi_crypt',
      [
        '_', '_J9..abcd', '_J9..abcdyGuz0ZsEn4I.', '_J9..ab!dyGuz0ZsEn4I',
        '_....abcdyGuz0ZsEn4I', // zero rounds: crypt-des.c refuses
        '_zzzzabcdyGuz0ZsEn4I', // 16,777,215 rounds: beyond our cap
      ],
    ],
    [
      'phpass',
      [
        '$P$', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0x', '$X$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0',
        '$P$/IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0', // 2^1 < phpass minimum 2^7
        '$P$zIQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0', // 2^63
        '$P$SIQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0', // 2^30: legal, beyond our budget
        '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L!',
      ],
    ],
    ['drupal7', ['$S$', '$S$C33783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzL', '$S$S33783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzLf', '$S$433783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzLf']],
    ['drupal7_upgraded', ['U$', 'U$S$', 'U$$S$C33783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzLf', 'U$S$S33783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzLf']],
    [
      'wordpress_bcrypt',
      [
        '$wp', '$wp$2y$04$', '$wp$2y$31$' + 'a'.repeat(53), '$wp$2y$03$' + 'a'.repeat(53), '$wp$2z$04$' + 'a'.repeat(53),
        '$wp$2y$04$' + 'a'.repeat(52), '$wp2y$04$' + 'a'.repeat(53), '$wp$2y$04$' + 'a'.repeat(52) + '!',
      ],
    ],
    [
      'bcrypt_sha256',
      [
        '$bcrypt-sha256$', '$bcrypt-sha256$v=2,t=2b,r=31$n79VH.0Q2TMWmt3Oqt9uku$' + 'a'.repeat(31),
        '$bcrypt-sha256$v=3,t=2b,r=4$n79VH.0Q2TMWmt3Oqt9uku$' + 'a'.repeat(31),
        '$bcrypt-sha256$v=2,t=2y,r=4$n79VH.0Q2TMWmt3Oqt9uku$' + 'a'.repeat(31),
        '$bcrypt-sha256$v=2,t=2b,r=4$n79VH.0Q2TMWmt3Oqt9uk$' + 'a'.repeat(31),
        '$bcrypt-sha256$2b,99$n79VH.0Q2TMWmt3Oqt9uku$' + 'a'.repeat(31),
      ],
    ],
    ['django_bcrypt_sha256', ['bcrypt_sha256$', 'bcrypt_sha256$$2b$31$' + 'a'.repeat(53), 'bcrypt_sha256$2b$04$' + 'a'.repeat(53), 'bcrypt$$2b$04$' + 'a'.repeat(53)]],
  ];

  for (const [name, values] of malformed) {
    test(`${name}: truncated, bad alphabet, absurd cost → false, fast`, async () => {
      const s = get(name);
      for (const stored of values) {
        const [ok, ms] = await timed(() => s.verify('password', stored, ctx));
        assert.equal(ok, false, stored);
        assert.ok(ms < 500, `${stored} took ${ms.toFixed(0)} ms`);
      }
    });
  }

  test('every scheme: a truncated or altered positive is false', async () => {
    for (const name of NAMES) {
      const v = sample(name);
      const s = get(name);
      const last = v.stored.at(-1)!;
      const altered = v.stored.slice(0, -2) + (v.stored.at(-2) === 'a' ? 'b' : 'a') + last;
      assert.equal(await s.verify(v.password, v.stored.slice(0, -1), ctx), false, `${name} truncated`);
      assert.equal(await s.verify(v.password, altered, ctx), false, `${name} altered`);
    }
  });

  test('a huge password against an expensive setting is refused by the work budget, not computed', async () => {
    const stored = '$6$rounds=1000000$salt$' + 'a'.repeat(86);
    const [ok, ms] = await timed(() => get('sha512_crypt').verify('x'.repeat(1 << 16), stored, ctx));
    assert.equal(ok, false);
    assert.ok(ms < 500, `took ${ms.toFixed(0)} ms`);
  });

  test('garbage never throws and is never true', async () => {
    const junk: unknown[] = [undefined, null, 42, {}, [], '\0', '$', '$$$$', '$1$$$', '_'.repeat(20), '\u{1F600}'.repeat(13), 'x'.repeat(100_000)];
    for (const s of schemes) {
      for (const j of junk) {
        assert.equal(await s.verify('password', j as string, ctx), false, `${s.name} ${String(j).slice(0, 20)}`);
        assert.equal(s.detect!(j as string), false, `${s.name} detect ${String(j).slice(0, 20)}`);
        assert.equal(await s.verify(j as string, sample(s.name).stored, ctx), false, `${s.name} password ${String(j).slice(0, 20)}`);
      }
    }
  });
});

describe('unix family: event loop', () => {
  test('an expensive SHA-crypt verify runs off the event loop', async () => {
    const v = sample('sha512_crypt', (x) => x.password === 'pässwörd✓');
    // The same password and salt at 100,000 rounds (not in the fixture; only the non-blocking matters here).
    const stored = '$6$rounds=100000$x3Zq/9.a$' + 'A'.repeat(86);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const [ok, ms] = await timed(() => get('sha512_crypt').verify(v.password, stored, ctx));
    clearInterval(timer);
    assert.equal(ok, false);
    // Blocking the loop for the whole computation would allow at most one tick.
    assert.ok(ticks >= 3 || ms < 20, `only ${ticks} timer ticks during ${ms.toFixed(0)} ms`);
  });

  test('concurrent verifies all complete correctly', async () => {
    const picks = vectors.filter((v) => ['sha256_crypt', 'sha512_crypt', 'phpass', 'drupal7', 'bsdi_crypt', 'md5_crypt'].includes(v.scheme));
    const results = await Promise.all(picks.map((v) => get(v.scheme).verify(v.password, v.stored, ctx)));
    assert.deepEqual(
      results,
      picks.map((v) => v.expected),
    );
  });
});
