/**
 * Key-derivation-function password schemes: argon2, scrypt, PBKDF2 in their framework
 * formats, and the ASP.NET Membership digests that share their salt handling.
 *
 * Rules every verifier here follows:
 * - true/false only; a malformed stored value (or missing salt/params) is false, never a throw;
 * - the comparison is constant-time (safeEqual, or @node-rs/argon2's own constant-time verify);
 * - the slow work runs off the event loop (node:crypto's async pbkdf2/scrypt on the libuv pool,
 *   @node-rs/argon2's async verify on its own thread);
 * - cost parameters read from a stored value are data, not trusted: they are checked against limits.ts
 *   before anything is derived, so one verify stays bounded in time and memory.
 *
 * Vectors: test/fixtures/passwords/kdf.json (made by scripts/fixtures/kdf.py from passlib, argon2-cffi,
 * Werkzeug, and the vectors published by hashcat, Firebase, the Argon2 reference code and ASP.NET Core).
 */
import { createCipheriv, createHash, createHmac, pbkdf2 as pbkdf2Cb, scrypt as scryptCb } from 'node:crypto';
import type * as Argon2 from '@node-rs/argon2';
// @node-rs/argon2 (a native addon) is loaded on the first argon2 verification, not at start-up.
let argon2Module: Promise<typeof Argon2> | undefined;
const argon2Verify: typeof Argon2.verify = async (...args) => (await (argon2Module ??= import('@node-rs/argon2'))).verify(...args);
import { safeEqual } from './compare.js';
import { argon2Allowed, pbkdf2Allowed, scryptAllowed, type Pbkdf2Digest } from './limits.js';
import type { PasswordScheme, VerifyContext } from './types.js';

/** Old name of the shared caps (limits.ts), kept for importers of KDF_LIMITS. */
export { LIMITS as KDF_LIMITS } from './limits.js';

// ---------------------------------------------------------------------------------------------------------
// Primitives

type Digest = Pbkdf2Digest;
const DIGEST_BYTES: Record<Digest, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

function pbkdf2Async(password: Buffer, salt: Buffer, iterations: number, keylen: number, digest: Digest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2Cb(password, salt, iterations, keylen, digest, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** PBKDF2 within limits.ts, on the libuv pool; null when the parameters are out of bounds. */
export async function pbkdf2Bounded(
  password: Buffer | string,
  salt: Buffer,
  iterations: number,
  keylen: number,
  digest: Digest,
): Promise<Buffer | null> {
  if (!pbkdf2Allowed({ iterations, keylen, digest })) return null;
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  return pbkdf2Async(pw, salt, iterations, keylen, digest);
}

/** scrypt within limits.ts, on the libuv pool; null when the parameters are out of bounds or invalid. */
export async function scryptBounded(password: Buffer | string, salt: Buffer, N: number, r: number, p: number, keylen: number): Promise<Buffer | null> {
  for (const v of [N, r, p, keylen]) if (!Number.isSafeInteger(v) || v < 1) return null;
  if (N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 30) return null; // a power of two > 1
  if (!scryptAllowed({ N, r, p, keylen })) return null;
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  // OpenSSL's own accounting: 128·r·(N+2) for V plus 128·r·p for B, plus slack.
  const maxmem = 128 * r * (N + 2) + 128 * r * p + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scryptCb(pw, salt, keylen, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Standard base64 (+/), padding optional but, when present, canonical; null when not base64. */
function b64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  const body = s.replace(/=+$/, '');
  if (body.length % 4 === 1) return null;
  if (s.length !== body.length && s.length % 4 !== 0) return null;
  return Buffer.from(body, 'base64');
}

/** Standard base64 with padding required (what .NET's Convert.ToBase64String and Python's b64encode write). */
function b64Padded(s: string): Buffer | null {
  return s.length % 4 === 0 ? b64(s) : null;
}

/** passlib's "adapted base64" (ab64): ./ alphabet, no padding; passlib also accepts + for . when decoding. */
function ab64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9./+]*$/.test(s) || s.length % 4 === 1) return null;
  return Buffer.from(s.replace(/\./g, '+'), 'base64');
}

const H64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** crypt(3)'s little-endian hash64 of bytes (passlib h64.decode_bytes); null when malformed. */
function h64Bytes(s: string): Buffer | null {
  if (s.length % 4 === 1) return null;
  const out: number[] = [];
  for (let i = 0; i < s.length; i += 4) {
    const chunk = s.slice(i, i + 4);
    let v = 0;
    for (let j = 0; j < chunk.length; j++) {
      const c = H64.indexOf(chunk[j]!);
      if (c < 0) return null;
      v |= c << (6 * j);
    }
    const n = chunk.length - 1; // 4 chars → 3 bytes, 3 → 2, 2 → 1
    for (let k = 0; k < n; k++) out.push((v >>> (8 * k)) & 0xff);
  }
  return Buffer.from(out);
}

/** Little-endian hash64 integer (passlib h64.decode_int6 / decode_int30). */
function h64Int(s: string): number | null {
  let v = 0;
  for (let j = 0; j < s.length; j++) {
    const c = H64.indexOf(s[j]!);
    if (c < 0) return null;
    v += c * 2 ** (6 * j);
  }
  return v;
}

function hexLower(s: string): Buffer | null {
  return /^(?:[0-9a-f]{2})+$/.test(s) ? Buffer.from(s, 'hex') : null;
}

/** A decimal count without sign or leading zeros (passlib rejects zero-padded rounds). */
function count(s: string | undefined): number | null {
  if (s === undefined || !/^[1-9][0-9]{0,15}$/.test(s)) return null;
  return Number(s);
}

/** .NET's Encoding.Unicode: UTF-16LE with lone surrogates replaced by U+FFFD. */
function utf16le(password: string): Buffer {
  return Buffer.from(password.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'), 'utf16le');
}

/** The row's separate salt column (base64, as ASP.NET Membership and Firebase export it). */
function rowSaltB64(ctx: VerifyContext): Buffer | null {
  const s = ctx.row.salt;
  if (typeof s !== 'string') return null;
  return b64(s.trim());
}

// ---------------------------------------------------------------------------------------------------------
// argon2 (PHC strings) and Django's argon2 wrapper

const ARGON2_BODY = '\\$argon2(id|i|d)\\$(?:v=(\\d+)\\$)?m=(\\d+),t=(\\d+),p=(\\d+)\\$[A-Za-z0-9+/]+\\$[A-Za-z0-9+/]+';
const ARGON2_RE = new RegExp(`^${ARGON2_BODY}$`);
const DJANGO_ARGON2_RE = new RegExp(`^argon2${ARGON2_BODY}$`);

function argon2Within(m: RegExpExecArray): boolean {
  const version = m[2] === undefined ? 16 : count(m[2]);
  const mem = count(m[3]);
  const t = count(m[4]);
  const p = count(m[5]);
  if ((version !== 16 && version !== 19) || mem === null || t === null || p === null) return false;
  return argon2Allowed({ memoryKiB: mem, passes: t, lanes: p });
}

async function argon2Check(password: string, phc: string): Promise<boolean> {
  const m = ARGON2_RE.exec(phc);
  if (!m || !argon2Within(m)) return false;
  try {
    return (await argon2Verify(phc, password)) === true;
  } catch {
    return false;
  }
}

/** argon2i / argon2d / argon2id PHC strings ($argon2id$v=19$m=..,t=..,p=..$salt$hash; v= absent means 0x10). */
export const argon2: PasswordScheme = {
  name: 'argon2',
  detect: (stored) => ARGON2_RE.test(stored.trim()),
  verify: (password, stored) => argon2Check(password, stored.trim()),
};

/** Django's Argon2PasswordHasher: "argon2" + the argon2-cffi PHC string. */
export const djangoArgon2: PasswordScheme = {
  name: 'django_argon2',
  detect: (stored) => DJANGO_ARGON2_RE.test(stored.trim()),
  async verify(password, stored) {
    const s = stored.trim();
    if (!DJANGO_ARGON2_RE.test(s)) return false;
    return argon2Check(password, s.slice('argon2'.length));
  },
};

// ---------------------------------------------------------------------------------------------------------
// scrypt

const PASSLIB_SCRYPT_RE = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/.]*)\$([A-Za-z0-9+/.]+)$/;
const SCRYPT7_RE = /^\$7\$([./0-9A-Za-z])([./0-9A-Za-z]{5})([./0-9A-Za-z]{5})([!-#%-~]*)\$([./0-9A-Za-z]{43})$/;

/** passlib's scrypt: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<b64 salt>$<b64 key> (and its $7$ form). */
export const scrypt: PasswordScheme = {
  name: 'scrypt',
  detect(stored) {
    const s = stored.trim();
    return PASSLIB_SCRYPT_RE.test(s) || SCRYPT7_RE.test(s);
  },
  async verify(password, stored) {
    const s = stored.trim();
    let m = PASSLIB_SCRYPT_RE.exec(s);
    if (m) {
      const ln = count(m[1]);
      const r = count(m[2]);
      const p = count(m[3]);
      const salt = ab64(m[4]!);
      const expected = ab64(m[5]!);
      if (ln === null || r === null || p === null || !salt || !expected || ln > 30) return false;
      const got = await scryptBounded(password, salt, 2 ** ln, r, p, expected.length);
      return got !== null && safeEqual(got, expected);
    }
    m = SCRYPT7_RE.exec(s);
    if (m) {
      // $7$ <N: 1 char> <r: 5 chars> <p: 5 chars> <salt, used as its own ASCII bytes> $ <hash64 key>
      const ln = h64Int(m[1]!);
      const r = h64Int(m[2]!);
      const p = h64Int(m[3]!);
      const expected = h64Bytes(m[5]!);
      if (ln === null || r === null || p === null || !expected || ln > 30) return false;
      const got = await scryptBounded(password, Buffer.from(m[4]!, 'latin1'), 2 ** ln, r, p, expected.length);
      return got !== null && safeEqual(got, expected);
    }
    return false;
  },
};

const WERKZEUG_SCRYPT_RE = /^scrypt(?::(\d+):(\d+):(\d+))?\$([^$]*)\$([0-9a-f]+)$/;

/** Werkzeug ≥ 3.0: scrypt:<N>:<r>:<p>$<salt text>$<hex of 64-byte key>; bare "scrypt" means 32768:8:1. */
export const werkzeugScrypt: PasswordScheme = {
  name: 'werkzeug_scrypt',
  detect: (stored) => WERKZEUG_SCRYPT_RE.test(stored.trim()),
  async verify(password, stored) {
    const m = WERKZEUG_SCRYPT_RE.exec(stored.trim());
    if (!m) return false;
    const [N, r, p] = m[1] === undefined ? [32768, 8, 1] : [count(m[1]), count(m[2]), count(m[3])];
    const expected = hexLower(m[5]!);
    if (N == null || r == null || p == null || !expected || expected.length !== 64) return false;
    const got = await scryptBounded(password, Buffer.from(m[4]!, 'utf8'), N, r, p, 64);
    return got !== null && safeEqual(got, expected);
  },
};

/**
 * Firebase Authentication's modified scrypt. Project parameters come from passwords.params.firebase
 * (signer_key, salt_separator: base64; rounds; mem_cost); the row's salt column holds the user's base64 salt
 * and the stored value is the base64 hash. key = scrypt(pw, salt ‖ separator, N = 2^mem_cost, r = rounds,
 * p = 1, 32); hash = AES-256-CTR(key, IV = 16 zero bytes) of the decoded signer key.
 */
export const firebaseScrypt: PasswordScheme = {
  name: 'firebase_scrypt',
  async verify(password, stored, ctx) {
    const fb = ctx.params.firebase;
    if (!fb) return false;
    const signerKey = b64(fb.signer_key.trim());
    const separator = b64(fb.salt_separator.trim());
    const salt = rowSaltB64(ctx);
    const expected = b64(stored.trim());
    if (!signerKey || !separator || !salt || !expected || signerKey.length === 0 || expected.length === 0) return false;
    const key = await scryptBounded(password, Buffer.concat([salt, separator]), 2 ** fb.mem_cost, fb.rounds, 1, 32);
    if (!key) return false;
    const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0));
    const got = Buffer.concat([cipher.update(signerKey), cipher.final()]);
    return safeEqual(got, expected);
  },
};

// ---------------------------------------------------------------------------------------------------------
// PBKDF2

/** passlib's pbkdf2_* body: <rounds>$<ab64 salt>$<ab64 checksum>, checksum of the digest's size. */
function passlibBody(name: string, prefix: RegExp, digest: Digest): PasswordScheme {
  const re = new RegExp(`^${prefix.source}(\\d+)\\$([A-Za-z0-9./+]*)\\$([A-Za-z0-9./+]+)$`, prefix.flags);
  return {
    name,
    detect: (stored) => re.test(stored.trim()),
    async verify(password, stored) {
      const m = re.exec(stored.trim());
      if (!m) return false;
      const rounds = count(m[1]);
      const salt = ab64(m[2]!);
      const expected = ab64(m[3]!);
      if (rounds === null || !salt || !expected || expected.length !== DIGEST_BYTES[digest]) return false;
      const got = await pbkdf2Bounded(password, salt, rounds, expected.length, digest);
      return got !== null && safeEqual(got, expected);
    },
  };
}

export const pbkdf2Sha1 = passlibBody('pbkdf2_sha1', /\$pbkdf2\$/, 'sha1');
export const pbkdf2Sha256 = passlibBody('pbkdf2_sha256', /\$pbkdf2-sha256\$/, 'sha256');
export const pbkdf2Sha512 = passlibBody('pbkdf2_sha512', /\$pbkdf2-sha512\$/, 'sha512');
/** LDAP {PBKDF2}… (passlib ldap_pbkdf2_*, OpenLDAP pw-pbkdf2, which also writes {PBKDF2-SHA1}); scheme tag case-insensitive. */
export const ldapPbkdf2Sha1 = passlibBody('ldap_pbkdf2_sha1', /\{PBKDF2(?:-SHA1)?\}/i, 'sha1');
export const ldapPbkdf2Sha256 = passlibBody('ldap_pbkdf2_sha256', /\{PBKDF2-SHA256\}/i, 'sha256');
export const ldapPbkdf2Sha512 = passlibBody('ldap_pbkdf2_sha512', /\{PBKDF2-SHA512\}/i, 'sha512');

const ATLASSIAN_RE = /^\{PKCS5S2\}([A-Za-z0-9+/]{64})$/;

/** Atlassian (Crowd/Jira/Confluence): {PKCS5S2}base64(salt16 ‖ key32), PBKDF2-HMAC-SHA1, 10000 iterations. */
export const atlassianPbkdf2Sha1: PasswordScheme = {
  name: 'atlassian_pbkdf2_sha1',
  detect: (stored) => ATLASSIAN_RE.test(stored.trim()),
  async verify(password, stored) {
    const m = ATLASSIAN_RE.exec(stored.trim());
    const raw = m ? b64(m[1]!) : null;
    if (!raw || raw.length !== 48) return false;
    const got = await pbkdf2Bounded(password, raw.subarray(0, 16), 10_000, 32, 'sha1');
    return got !== null && safeEqual(got, raw.subarray(16));
  },
};

/** Django: <algorithm>$<iterations>$<salt text>$<base64 key>. */
function django(name: string, tag: string, digest: Digest): PasswordScheme {
  const re = new RegExp(`^${tag}\\$(\\d+)\\$([^$]*)\\$([A-Za-z0-9+/]+={0,2})$`);
  return {
    name,
    detect: (stored) => re.test(stored.trim()),
    async verify(password, stored) {
      const m = re.exec(stored.trim());
      if (!m) return false;
      const expected = b64(m[3]!);
      if (!expected || expected.length === 0) return false;
      const got = await pbkdf2Bounded(password, Buffer.from(m[2]!, 'utf8'), Number(m[1]), expected.length, digest);
      return got !== null && safeEqual(got, expected);
    },
  };
}

export const djangoPbkdf2Sha256 = django('django_pbkdf2_sha256', 'pbkdf2_sha256', 'sha256');
export const djangoPbkdf2Sha1 = django('django_pbkdf2_sha1', 'pbkdf2_sha1', 'sha1');

const WERKZEUG_PBKDF2_RE = /^pbkdf2:(sha1|sha224|sha256|sha384|sha512):(\d+)\$([^$]*)\$([0-9a-f]+)$/;

/** Werkzeug: pbkdf2:<hash>:<iterations>$<salt text>$<hex key of the digest's size>. */
export const werkzeugPbkdf2: PasswordScheme = {
  name: 'werkzeug_pbkdf2',
  detect: (stored) => WERKZEUG_PBKDF2_RE.test(stored.trim()),
  async verify(password, stored) {
    const m = WERKZEUG_PBKDF2_RE.exec(stored.trim());
    if (!m) return false;
    const digest = m[1] as Digest;
    const iterations = count(m[2]);
    const expected = hexLower(m[4]!);
    if (iterations === null || !expected || expected.length !== DIGEST_BYTES[digest]) return false;
    const got = await pbkdf2Bounded(password, Buffer.from(m[3]!, 'utf8'), iterations, expected.length, digest);
    return got !== null && safeEqual(got, expected);
  },
};

// ---------------------------------------------------------------------------------------------------------
// ASP.NET

/** Whole-string base64 of an ASP.NET hash (Convert.FromBase64String tolerates surrounding whitespace). */
function aspnetBytes(stored: string): Buffer | null {
  return b64Padded(stored.trim());
}

/** Crypto.HashPassword (System.Web.Helpers) = ASP.NET Identity v2: base64(0x00 ‖ salt16 ‖ PBKDF2-HMAC-SHA1(1000, 32)). */
function cryptoHashPassword(name: string): PasswordScheme {
  return {
    name,
    detect(stored) {
      const b = aspnetBytes(stored);
      return b !== null && b.length === 49 && b[0] === 0x00;
    },
    async verify(password, stored) {
      const b = aspnetBytes(stored);
      if (!b || b.length !== 49 || b[0] !== 0x00) return false;
      const got = await pbkdf2Bounded(password, b.subarray(1, 17), 1000, 32, 'sha1');
      return got !== null && safeEqual(got, b.subarray(17));
    },
  };
}

export const aspnetIdentityV2 = cryptoHashPassword('aspnet_identity_v2');
/** MVC4 / WebPages SimpleMembershipProvider (webpages_Membership.Password): the very same Crypto.HashPassword format. */
export const aspnetSimpleMembership = cryptoHashPassword('aspnet_simple_membership');

const V3_PRF: readonly Digest[] = ['sha1', 'sha256', 'sha512'];

/**
 * ASP.NET Core Identity v3: base64(0x01 ‖ prf u32 ‖ iterations u32 ‖ saltLen u32 ‖ salt ‖ subkey), big-endian;
 * prf 0 = HMACSHA1, 1 = HMACSHA256, 2 = HMACSHA512; salt and subkey at least 16 bytes (PasswordHasher.cs).
 */
export const aspnetIdentityV3: PasswordScheme = {
  name: 'aspnet_identity_v3',
  detect(stored) {
    const b = aspnetBytes(stored);
    return b !== null && b.length >= 13 && b[0] === 0x01 && b.readUInt32BE(1) < V3_PRF.length;
  },
  async verify(password, stored) {
    const b = aspnetBytes(stored);
    if (!b || b.length < 13 || b[0] !== 0x01) return false;
    const digest = V3_PRF[b.readUInt32BE(1)];
    const iterations = b.readUInt32BE(5);
    const saltLen = b.readUInt32BE(9);
    if (!digest || iterations < 1 || iterations > 0x7fffffff || saltLen < 16) return false;
    if (b.length - 13 - saltLen < 16) return false;
    const salt = b.subarray(13, 13 + saltLen);
    const expected = b.subarray(13 + saltLen);
    const got = await pbkdf2Bounded(password, salt, iterations, expected.length, digest);
    return got !== null && safeEqual(got, expected);
  },
};

/**
 * SqlMembershipProvider, PasswordFormat = 1 (Hashed) with a plain HashAlgorithm:
 * base64(H(base64-decoded PasswordSalt ‖ UTF-16LE(password))). The salt is the row's salt column.
 */
function membershipDigest(name: string, algorithm: 'sha1' | 'sha256'): PasswordScheme {
  return {
    name,
    async verify(password, stored, ctx) {
      const salt = rowSaltB64(ctx);
      const expected = aspnetBytes(stored);
      if (!salt || !expected || expected.length !== DIGEST_BYTES[algorithm]) return false;
      const got = createHash(algorithm).update(salt).update(utf16le(password)).digest();
      return safeEqual(got, expected);
    },
  };
}

export const aspnetMembershipSha1 = membershipDigest('aspnet_membership_sha1', 'sha1');
export const aspnetMembershipSha256 = membershipDigest('aspnet_membership_sha256', 'sha256');

/**
 * ASP.NET Universal Providers (System.Web.Providers DefaultMembershipProvider) and SqlMembershipProvider
 * under .NET 4 defaults (hashAlgorithmType = the machineKey validation algorithm, HMACSHA256): a keyed hash.
 * EncodePassword sets the HMAC key (64 bytes for HMACSHA256) to the salt when equal in size, its prefix when
 * the salt is longer, else the salt repeated to fill the key; the HMAC is over UTF-16LE(password).
 */
export const aspnetUniversal: PasswordScheme = {
  name: 'aspnet_universal',
  async verify(password, stored, ctx) {
    const salt = rowSaltB64(ctx);
    const expected = aspnetBytes(stored);
    if (!salt || salt.length === 0 || !expected || expected.length !== 32) return false; // an empty salt never terminates in .NET
    const key = Buffer.alloc(64);
    for (let i = 0; i < key.length; i += salt.length) salt.copy(key, i, 0, Math.min(salt.length, key.length - i));
    const got = createHmac('sha256', key).update(utf16le(password)).digest();
    return safeEqual(got, expected);
  },
};

// ---------------------------------------------------------------------------------------------------------

/**
 * Every scheme of this family, most specific formats first (detection order). aspnet_identity_v2 and
 * aspnet_simple_membership share one format: detection names v2 first; both verify identically.
 * No detect() (not self-describing): firebase_scrypt, aspnet_membership_sha1/sha256, aspnet_universal.
 */
export const schemes: PasswordScheme[] = [
  argon2,
  djangoArgon2,
  scrypt,
  werkzeugScrypt,
  pbkdf2Sha512,
  pbkdf2Sha256,
  pbkdf2Sha1,
  ldapPbkdf2Sha512,
  ldapPbkdf2Sha256,
  ldapPbkdf2Sha1,
  atlassianPbkdf2Sha1,
  djangoPbkdf2Sha256,
  djangoPbkdf2Sha1,
  werkzeugPbkdf2,
  aspnetIdentityV3,
  aspnetIdentityV2,
  aspnetSimpleMembership,
  aspnetMembershipSha1,
  aspnetMembershipSha256,
  aspnetUniversal,
  firebaseScrypt,
];
