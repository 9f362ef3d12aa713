import { pbkdf2 as pbkdf2Cb } from 'node:crypto';
import { promisify } from 'node:util';
import { safeEqual } from './compare.js';
import type { PasswordScheme } from './types.js';

const pbkdf2 = promisify(pbkdf2Cb);

/** Upper bound on iterations we will run for one login attempt (a stored value is data, not trusted). */
const MAX_ITERATIONS = 10_000_000;

async function derive(password: Buffer | string, salt: Buffer, iterations: number, keylen: number, digest: string) {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) return null;
  if (keylen < 1 || keylen > 1024) return null;
  return pbkdf2(password, salt, iterations, keylen, digest);
}

/** Django: pbkdf2_sha256$<iterations>$<salt>$<base64 hash> (and pbkdf2_sha1). */
function django(name: string, tag: string, digest: string): PasswordScheme {
  const re = new RegExp(`^${tag}\\$(\\d+)\\$([^$]*)\\$([A-Za-z0-9+/]+={0,2})$`);
  return {
    name,
    detect: (stored) => re.test(stored.trim()),
    async verify(password, stored) {
      const m = re.exec(stored.trim());
      if (!m) return false;
      const expected = Buffer.from(m[3]!, 'base64');
      const got = await derive(password, Buffer.from(m[2]!, 'utf8'), Number(m[1]), expected.length, digest);
      return got !== null && safeEqual(got, expected);
    },
  };
}

export const djangoPbkdf2Sha256 = django('django_pbkdf2_sha256', 'pbkdf2_sha256', 'sha256');
export const djangoPbkdf2Sha1 = django('django_pbkdf2_sha1', 'pbkdf2_sha1', 'sha1');

/**
 * ASP.NET Core Identity v3: base64( 0x01 | prf(u32 BE) | iter(u32 BE) | saltLen(u32 BE) | salt | subkey ).
 * prf: 0 = HMACSHA1, 1 = HMACSHA256, 2 = HMACSHA512.
 */
const PRF = ['sha1', 'sha256', 'sha512'] as const;
function decodeBase64Strict(s: string): Buffer | null {
  const t = s.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t) || t.length % 4 !== 0) return null;
  return Buffer.from(t, 'base64');
}

export const aspnetIdentityV3: PasswordScheme = {
  name: 'aspnet_identity_v3',
  detect(stored) {
    const b = decodeBase64Strict(stored);
    return b !== null && b.length >= 13 && b[0] === 0x01 && b.readUInt32BE(1) < PRF.length;
  },
  async verify(password, stored) {
    const b = decodeBase64Strict(stored);
    if (!b || b.length < 13 || b[0] !== 0x01) return false;
    const digest = PRF[b.readUInt32BE(1)];
    const iterations = b.readUInt32BE(5);
    const saltLen = b.readUInt32BE(9);
    if (!digest || saltLen < 1 || 13 + saltLen >= b.length) return false;
    const salt = b.subarray(13, 13 + saltLen);
    const expected = b.subarray(13 + saltLen);
    const got = await derive(password, salt, iterations, expected.length, digest);
    return got !== null && safeEqual(got, expected);
  },
};

/** ASP.NET Identity v2 / Simple Membership style: base64( 0x00 | salt(16) | subkey(32) ), PBKDF2-HMAC-SHA1, 1000 iterations. */
export const aspnetIdentityV2: PasswordScheme = {
  name: 'aspnet_identity_v2',
  detect(stored) {
    const b = decodeBase64Strict(stored);
    return b !== null && b.length === 49 && b[0] === 0x00;
  },
  async verify(password, stored) {
    const b = decodeBase64Strict(stored);
    if (!b || b.length !== 49 || b[0] !== 0x00) return false;
    const got = await derive(password, b.subarray(1, 17), 1000, 32, 'sha1');
    return got !== null && safeEqual(got, b.subarray(17));
  },
};
