/**
 * Fast-digest legacy schemes: LDAP RFC 2307 values, MySQL PASSWORD()/OLD_PASSWORD(),
 * PostgreSQL md5, Django's pre-PBKDF2 hashers, Joomla/Magento salted digests, plain and salted hex/base64
 * digests, HMAC digests, NT hash and cleartext.
 *
 * Every verify() answers true/false only: malformed input is false and nothing throws. Digests are
 * compared in constant time (safeEqual). Test vectors from independent implementations (passlib,
 * hashlib/hmac, PHP) live in test/fixtures/passwords/digest.json (scripts/fixtures/digest.py).
 *
 * Auto-detection (detect()) is offered only for self-describing values, with anchored patterns on the
 * trimmed value. The patterns of this file are pairwise disjoint, so their order does not matter here:
 *   {MD5} {SMD5} {SHA} {SSHA} {SHA256} {SSHA256} {SHA512} {SSHA512} (tag case-insensitive, as OpenLDAP)
 *   `*` + 40 hex                         mysql41
 *   `md5` + 32 lowercase hex             postgres_md5
 *   `sha1$salt$hex`, `md5$salt$hex`      django_salted_sha1 / django_salted_md5 (non-empty salt)
 *   `sha1$$hex`, `md5$$hex`              django_unsalted_sha1 / django_unsalted_md5
 *   `!...`                               django_disabled (always false; also catches '!'-locked shadow values)
 *   `hex:salt:versions`                  magento2
 *   bare hex of 32 / 40 / 64 / 128 digits  hex_md5 / hex_sha1 / hex_sha256 / hex_sha512
 *   bare hex of 16 digits                mysql323
 * Bare 32 hex digits are also what NT hashes, Django's bare unsalted_md5 and salted-with-a-separate-column
 * MD5 look like. We detect them as hex_md5, by far the most common meaning (and the one passlib's
 * identify() gives first); nthash, salted_* and hmac_* are explicit-only (passwords.scheme or the row's
 * scheme column). Joomla (`md5(pw+salt):salt`) and Magento 1 (`md5(salt+pw):salt`) share one shape that
 * cannot tell them apart, so both are explicit-only. plaintext is never detected.
 *
 * passwords.params:
 * - password_encoding (utf8 | utf16le | latin1) turns the password into bytes for every scheme here except
 *   nthash (UTF-16LE by definition), django_* (Django always hashes UTF-8) and plaintext (UTF-8). A
 *   password with characters latin1 cannot represent verifies false under latin1 (Node would silently
 *   truncate them to other bytes).
 * - pepper, salt, digest_encoding and hmac_key apply to the generic families only (hex_*, salted_*, hmac_*):
 *   the framework formats define their own computation. The pepper is appended to the password before
 *   encoding; the salt then goes before (prefix) or after (suffix) the peppered password.
 */
import { createHash, createHmac } from 'node:crypto';
import type * as Argon2 from '@node-rs/argon2';
import type { Algorithm, Version } from '@node-rs/argon2';
// @node-rs/argon2 (a native addon) is loaded on the first use of a scheme that needs it, not at start-up.
let argon2Module: Promise<typeof Argon2> | undefined;
const hashRaw: typeof Argon2.hashRaw = async (...args) => (await (argon2Module ??= import('@node-rs/argon2'))).hashRaw(...args);
import { safeEqual } from './compare.js';
import { argon2Allowed, LIMITS } from './limits.js';
import type { SchemeParams } from './params.js';
import type { PasswordScheme, VerifyContext } from './types.js';

type Alg = 'md5' | 'sha1' | 'sha256' | 'sha512';
const DIGEST_BYTES: Record<Alg, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };
type PasswordEncoding = SchemeParams['password_encoding'];
type ByteEncoding = 'utf8' | 'hex' | 'base64';

// ---------------------------------------------------------------------------------------------------------
// Helpers

function hash(alg: Alg, ...parts: Uint8Array[]): Buffer {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeHex(s: string): Buffer | null {
  return HEX.test(s) ? Buffer.from(s, 'hex') : null;
}

function decodeBase64(s: string): Buffer | null {
  return s.length > 0 && BASE64.test(s) ? Buffer.from(s, 'base64') : null;
}

/** A configured byte string (salt, key) in its declared encoding; null when it does not decode cleanly. */
function decodeBytes(value: string, enc: ByteEncoding): Buffer | null {
  if (enc === 'hex') return decodeHex(value);
  if (enc === 'base64') return decodeBase64(value);
  return Buffer.from(value, 'utf8');
}

/** The password's bytes in the configured encoding; null when latin1 cannot represent it. */
function encodePassword(password: string, enc: PasswordEncoding | undefined): Buffer | null {
  if (enc === 'latin1') {
    if (/[^\u0000-\u00ff]/.test(password)) return null;
    return Buffer.from(password, 'latin1');
  }
  return Buffer.from(password, enc === 'utf16le' ? 'utf16le' : 'utf8');
}

/** A stored digest in hex (any case) or padded base64, of exactly the digest's length. */
function decodeDigest(stored: string, bytes: number, enc: SchemeParams['digest_encoding'] | undefined): Buffer | null {
  const e = enc ?? 'auto';
  if ((e === 'hex' || e === 'auto') && stored.length === bytes * 2) {
    const b = decodeHex(stored);
    if (b) return b;
  }
  if (e === 'base64' || e === 'auto') {
    const b = decodeBase64(stored);
    if (b && b.length === bytes) return b;
  }
  return null;
}

function paramsOf(ctx: VerifyContext | undefined): Partial<SchemeParams> {
  return (ctx?.params ?? {}) as Partial<SchemeParams>;
}

/**
 * The salt of a salted plain digest, from passwords.params.salt (default: the row's salt column, as UTF-8,
 * before the password). A missing or empty salt is null: a salted scheme without a salt verifies false.
 */
function resolveSalt(ctx: VerifyContext | undefined): { salt: Buffer; position: 'prefix' | 'suffix' } | null {
  const cfg = paramsOf(ctx).salt;
  const source = cfg?.source ?? 'column';
  const raw = source === 'constant' ? cfg?.value : ctx?.row?.salt;
  if (typeof raw !== 'string' || raw.length === 0) return null;
  const salt = decodeBytes(raw, cfg?.encoding ?? 'utf8');
  if (!salt || salt.length === 0) return null;
  return { salt, position: cfg?.position ?? 'prefix' };
}

/** password + pepper, encoded. */
function pepperedPassword(password: string, ctx: VerifyContext | undefined): Buffer | null {
  const p = paramsOf(ctx);
  return encodePassword(password + (p.pepper ?? ''), p.password_encoding);
}

function withSalt(pw: Buffer, s: { salt: Buffer; position: 'prefix' | 'suffix' }): Buffer {
  return s.position === 'suffix' ? Buffer.concat([pw, s.salt]) : Buffer.concat([s.salt, pw]);
}

export type Verifier = (password: string, stored: string, ctx: VerifyContext) => boolean | Promise<boolean>;

/**
 * Wraps a verifier so that wrong types, exceptions and rejections all become false (every scheme family built from
 * plain functions uses it: digest.ts, framework.ts, forum.ts).
 */
export function define(name: string, detect: RegExp | ((stored: string) => boolean) | undefined, verify: Verifier): PasswordScheme {
  const scheme: PasswordScheme = {
    name,
    async verify(password, stored, ctx) {
      if (typeof password !== 'string' || typeof stored !== 'string') return false;
      try {
        return (await verify(password, stored, ctx)) === true;
      } catch {
        return false;
      }
    },
  };
  if (detect) {
    const test = typeof detect === 'function' ? detect : (s: string) => detect.test(s);
    scheme.detect = (stored) => {
      if (typeof stored !== 'string') return false;
      try {
        return test(stored.trim());
      } catch {
        return false;
      }
    };
  }
  return scheme;
}

// ---------------------------------------------------------------------------------------------------------
// LDAP (RFC 2307 userPassword). Scheme tags match case-insensitively (OpenLDAP's lutil_passwd uses
// strncasecmp). Salted values are base64(digest || salt); like OpenLDAP we require at least 4 salt bytes
// and accept any longer salt (passlib stops at 16, 389-DS and others write 8+).

const LDAP_MIN_SALT = 4;

function ldap(name: string, tag: string, alg: Alg, kind: 'plain' | 'salted' | 'hex'): PasswordScheme {
  const n = DIGEST_BYTES[alg];
  const body = kind === 'hex' ? `[0-9a-fA-F]{${n * 2}}` : '[A-Za-z0-9+/]+={0,2}';
  const re = new RegExp(`^\\{${tag}\\}(${body})$`, 'i');
  const parse = (stored: string): { digest: Buffer; salt: Buffer } | null => {
    const m = re.exec(stored.trim());
    if (!m) return null;
    if (kind === 'hex') return { digest: Buffer.from(m[1]!, 'hex'), salt: Buffer.alloc(0) };
    const raw = decodeBase64(m[1]!);
    if (!raw) return null;
    if (kind === 'plain') return raw.length === n ? { digest: raw, salt: Buffer.alloc(0) } : null;
    if (raw.length < n + LDAP_MIN_SALT) return null;
    return { digest: raw.subarray(0, n), salt: raw.subarray(n) };
  };
  return define(
    name,
    (s) => parse(s) !== null,
    (password, stored, ctx) => {
      const v = parse(stored);
      const pw = encodePassword(password, paramsOf(ctx).password_encoding);
      if (!v || !pw) return false;
      return safeEqual(hash(alg, pw, v.salt), v.digest);
    },
  );
}

export const ldapMd5 = ldap('ldap_md5', 'MD5', 'md5', 'plain');
export const ldapSaltedMd5 = ldap('ldap_salted_md5', 'SMD5', 'md5', 'salted');
export const ldapSha1 = ldap('ldap_sha1', 'SHA', 'sha1', 'plain');
export const ldapSaltedSha1 = ldap('ldap_salted_sha1', 'SSHA', 'sha1', 'salted');
/** Not in passlib (which has only the salted SHA-2 variants); OpenLDAP's contrib pw-sha2 format. */
export const ldapSha256 = ldap('ldap_sha256', 'SHA256', 'sha256', 'plain');
export const ldapSaltedSha256 = ldap('ldap_salted_sha256', 'SSHA256', 'sha256', 'salted');
/** Not in passlib; OpenLDAP's contrib pw-sha2 format. */
export const ldapSha512 = ldap('ldap_sha512', 'SHA512', 'sha512', 'plain');
export const ldapSaltedSha512 = ldap('ldap_salted_sha512', 'SSHA512', 'sha512', 'salted');
/** {MD5}/{SHA} with a hex instead of base64 digest (some non-conforming LDAP tools; passlib's ldap_hex_*). */
export const ldapHexMd5 = ldap('ldap_hex_md5', 'MD5', 'md5', 'hex');
export const ldapHexSha1 = ldap('ldap_hex_sha1', 'SHA', 'sha1', 'hex');

/**
 * {CRYPT}<crypt(3) value>: delegates to whichever crypt(3) scheme `resolve` returns for the value after the
 * tag (the unix.ts family). Unresolvable values verify false; a nested {CRYPT} is refused.
 */
export function ldapCrypt(resolve: (stored: string) => PasswordScheme | undefined): PasswordScheme {
  const re = /^\{CRYPT\}(.+)$/i;
  const inner = (stored: string): { value: string; scheme: PasswordScheme } | null => {
    const m = re.exec(stored.trim());
    if (!m || /^\{CRYPT\}/i.test(m[1]!)) return null;
    const scheme = resolve(m[1]!);
    return scheme ? { value: m[1]!, scheme } : null;
  };
  return define(
    'ldap_crypt',
    (s) => inner(s) !== null,
    async (password, stored, ctx) => {
      const v = inner(stored);
      if (!v) return false;
      return (await v.scheme.verify(password, v.value, ctx)) === true;
    },
  );
}

// ---------------------------------------------------------------------------------------------------------
// MySQL

/** MySQL 4.1+ PASSWORD(): '*' + upper hex SHA1(SHA1(password)). Hex accepted in any case (as passlib). */
export const mysql41 = define('mysql41', /^\*[0-9a-f]{40}$/i, (password, stored, ctx) => {
  const s = stored.trim();
  const pw = encodePassword(password, paramsOf(ctx).password_encoding);
  if (!/^\*[0-9a-f]{40}$/i.test(s) || !pw) return false;
  return safeEqual(hash('sha1', hash('sha1', pw)), Buffer.from(s.slice(1), 'hex'));
});

/**
 * MySQL 3.23 OLD_PASSWORD(): 16 hex digits. The algorithm skips spaces and tabs in the password (so
 * "pass word" verifies as "password", exactly as MySQL and passlib do). 32-bit arithmetic.
 */
function mysql323Digest(pw: Uint8Array): Buffer {
  let nr = 1345345333;
  let add = 7;
  let nr2 = 0x12345671;
  for (const c of pw) {
    if (c === 0x20 || c === 0x09) continue;
    nr = (nr ^ (Math.imul(((nr & 63) + add) >>> 0, c) + (nr << 8))) >>> 0;
    nr2 = (nr2 + ((nr2 << 8) ^ nr)) >>> 0;
    add = (add + c) >>> 0;
  }
  const out = Buffer.alloc(8);
  out.writeUInt32BE((nr & 0x7fffffff) >>> 0, 0);
  out.writeUInt32BE((nr2 & 0x7fffffff) >>> 0, 4);
  return out;
}

export const mysql323 = define('mysql323', /^[0-9a-f]{16}$/i, (password, stored, ctx) => {
  const s = stored.trim();
  const pw = encodePassword(password, paramsOf(ctx).password_encoding);
  if (!/^[0-9a-f]{16}$/i.test(s) || !pw) return false;
  return safeEqual(mysql323Digest(pw), Buffer.from(s, 'hex'));
});

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL

/**
 * PostgreSQL md5: 'md5' + md5(password || username), lowercase hex (PostgreSQL compares the strings
 * exactly; passlib refuses upper case too). Needs the row's username; without one the answer is false.
 */
export const postgresMd5 = define('postgres_md5', /^md5[0-9a-f]{32}$/, (password, stored, ctx) => {
  const s = stored.trim();
  const user = ctx?.row?.username;
  if (!/^md5[0-9a-f]{32}$/.test(s) || typeof user !== 'string' || user.length === 0) return false;
  const enc = paramsOf(ctx).password_encoding;
  const pw = encodePassword(password, enc);
  const u = encodePassword(user, enc);
  if (!pw || !u) return false;
  return safeEqual(hash('md5', pw, u), Buffer.from(s.slice(3), 'hex'));
});

// ---------------------------------------------------------------------------------------------------------
// Django's legacy hashers (always UTF-8; lowercase hex, which Django compares as a string).

function django(name: string, tag: 'sha1' | 'md5', salted: boolean): PasswordScheme {
  const n = DIGEST_BYTES[tag] * 2;
  // Verify accepts an empty salt for the salted hasher (Django routes `sha1$$...` there and gets the same
  // answer); detection keeps the two apart.
  const verifyRe = salted ? new RegExp(`^${tag}\\$([^$]*)\\$([0-9a-f]{${n}})$`) : new RegExp(`^${tag}\\$\\$([0-9a-f]{${n}})$`);
  const detectRe = salted ? new RegExp(`^${tag}\\$([^$]+)\\$([0-9a-f]{${n}})$`) : verifyRe;
  // Django's UnsaltedMD5PasswordHasher also takes the bare 32-digit form.
  const bare = !salted && tag === 'md5' ? /^([0-9a-f]{32})$/ : null;
  return define(name, detectRe, (password, stored) => {
    const s = stored.trim();
    let salt = '';
    let hex: string;
    const m = verifyRe.exec(s);
    if (m) {
      salt = salted ? m[1]! : '';
      hex = salted ? m[2]! : m[1]!;
    } else {
      const b = bare?.exec(s);
      if (!b) return false;
      hex = b[1]!;
    }
    return safeEqual(hash(tag, Buffer.from(salt, 'utf8'), Buffer.from(password, 'utf8')), Buffer.from(hex, 'hex'));
  });
}

export const djangoSaltedSha1 = django('django_salted_sha1', 'sha1', true);
export const djangoSaltedMd5 = django('django_salted_md5', 'md5', true);
/** Django's 'unsalted_sha1' hasher (`sha1$$hex`); named like passlib's django_* family. */
export const djangoUnsaltedSha1 = django('django_unsalted_sha1', 'sha1', false);
/** Django's 'unsalted_md5' hasher (`md5$$hex`, and bare 32 hex when named explicitly). */
export const djangoUnsaltedMd5 = django('django_unsalted_md5', 'md5', false);

/** Django's unusable-password marker ('!' optionally followed by random text): never verifies. */
export const djangoDisabled = define('django_disabled', /^!/, () => false);

// ---------------------------------------------------------------------------------------------------------
// PHP frameworks. PHP's md5()/hash() give lowercase hex and the frameworks compare strings exactly, so
// only lowercase hex verifies. Salts are compared as the stored bytes (UTF-8 of the stored string).

function colonSalted(name: string, order: 'password+salt' | 'salt+password'): PasswordScheme {
  const re = /^([0-9a-f]{32}):([^:]*)$/;
  return define(name, undefined, (password, stored, ctx) => {
    const m = re.exec(stored.trim());
    const pw = encodePassword(password, paramsOf(ctx).password_encoding);
    if (!m || !pw) return false;
    const salt = Buffer.from(m[2]!, 'utf8');
    const d = order === 'password+salt' ? hash('md5', pw, salt) : hash('md5', salt, pw);
    return safeEqual(d, Buffer.from(m[1]!, 'hex'));
  });
}

/** Joomla 1.5-3.x 'md5-hex': md5(password . salt) . ':' . salt. Explicit-only (same shape as Magento 1). */
export const joomlaMd5 = colonSalted('joomla_md5', 'password+salt');
/** Magento 1 Mage_Core_Model_Encryption: md5(salt . password) . ':' . salt. Explicit-only (same shape as Joomla). */
export const magento1Md5 = colonSalted('magento1_md5', 'salt+password');

/**
 * Magento 2 Encryptor: hash:salt:versions, versions being the chain of algorithms applied oldest first
 * (`hash:salt:0:1` = sha256(salt . md5(salt . password))). 0 = md5, 1 = sha256, 2 = Argon2id13 with
 * libsodium's INTERACTIVE limits, 3_<bytes>_<ops>_<mem> = Argon2id13 with those parameters. Argon2 takes
 * the salt padded (repeated) or cut to 16 bytes, as Magento's getArgonHash does. Each step's output is
 * lowercase hex and feeds the next step.
 */
const MAGENTO2 = /^([0-9a-f]{32,128}):([^:]+):((?:0|1|2|3_\d+_\d+_\d+)(?::(?:0|1|2|3_\d+_\d+_\d+))*)$/;
const SODIUM_INTERACTIVE = '3_32_2_67108864'; // version 2: libsodium's INTERACTIVE limits (32 bytes, 2 ops, 64 MiB)

interface MagentoArgon {
  bytes: number;
  ops: number;
  /** bytes, as libsodium's memlimit */
  mem: number;
}

/** One chain step: a digest, or argon2id parameters (format checks only; costs are checked by argon2Allowed). */
function magentoStep(v: string): 'md5' | 'sha256' | MagentoArgon | null {
  if (v === '0') return 'md5';
  if (v === '1') return 'sha256';
  const [, bytes, ops, mem] = (v === '2' ? SODIUM_INTERACTIVE : v).split('_').map(Number);
  if (!(bytes! >= 16 && bytes! <= 64 && Number.isSafeInteger(ops) && ops! >= 1 && Number.isSafeInteger(mem) && mem! >= 8192)) return null;
  return { bytes: bytes!, ops: ops!, mem: mem! };
}

async function magentoArgon(data: Buffer, salt: Buffer, a: MagentoArgon): Promise<Buffer> {
  const s = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) s[i] = salt[i % salt.length]!;
  const raw = await hashRaw(data, {
    salt: s,
    timeCost: a.ops,
    memoryCost: Math.floor(a.mem / 1024),
    parallelism: 1,
    outputLen: a.bytes,
    algorithm: 2 as Algorithm, // Argon2id
    version: 1 as Version, // 0x13
  });
  return Buffer.from(raw.toString('hex'), 'latin1');
}

export const magento2 = define('magento2', MAGENTO2, async (password, stored, ctx) => {
  const m = MAGENTO2.exec(stored.trim());
  const pw = encodePassword(password, paramsOf(ctx).password_encoding);
  if (!m || !pw) return false;
  const expected = Buffer.from(m[1]!, 'latin1');
  const salt = Buffer.from(m[2]!, 'utf8');
  const versions = m[3]!.split(':');
  if (versions.length > LIMITS.magentoMaxSteps) return false;
  const steps = versions.map(magentoStep);
  if (steps.some((st) => st === null)) return false;
  const argonSteps = steps.filter((st): st is MagentoArgon => typeof st === 'object' && st !== null);
  // The whole chain's argon2 cost, checked before anything runs (libsodium: memlimit bytes / 1024 KiB, 1 lane).
  if (!argon2Allowed(argonSteps.map((a) => ({ memoryKiB: Math.floor(a.mem / 1024), passes: a.ops, lanes: 1 })))) return false;
  if (argonSteps.length > 0 && salt.length === 0) return false; // PHP's str_pad refuses an empty pad string; Magento then fails
  let recreated: Buffer = pw;
  for (const st of steps) {
    recreated =
      typeof st === 'string'
        ? Buffer.from(hash(st, salt, recreated).toString('hex'), 'latin1')
        : await magentoArgon(recreated, salt, st!);
  }
  return safeEqual(recreated, expected);
});

// ---------------------------------------------------------------------------------------------------------
// Plain, salted and keyed digests (configurable through passwords.params).

const HEX_LENGTH_RE: Record<Alg, RegExp> = {
  md5: /^[0-9a-f]{32}$/i,
  sha1: /^[0-9a-f]{40}$/i,
  sha256: /^[0-9a-f]{64}$/i,
  sha512: /^[0-9a-f]{128}$/i,
};

/** passlib's hex_md5 etc.: unsalted digest of password+pepper; hex (any case) or base64 per digest_encoding. */
function plain(alg: Alg): PasswordScheme {
  return define(`hex_${alg}`, HEX_LENGTH_RE[alg], (password, stored, ctx) => {
    const expected = decodeDigest(stored.trim(), DIGEST_BYTES[alg], paramsOf(ctx).digest_encoding);
    const pw = pepperedPassword(password, ctx);
    if (!expected || !pw) return false;
    return safeEqual(hash(alg, pw), expected);
  });
}

/** digest(salt || password+pepper) or digest(password+pepper || salt), salt from passwords.params.salt. */
function salted(alg: Alg): PasswordScheme {
  return define(`salted_${alg}`, undefined, (password, stored, ctx) => {
    const expected = decodeDigest(stored.trim(), DIGEST_BYTES[alg], paramsOf(ctx).digest_encoding);
    const pw = pepperedPassword(password, ctx);
    const s = resolveSalt(ctx);
    if (!expected || !pw || !s) return false;
    return safeEqual(hash(alg, withSalt(pw, s)), expected);
  });
}

/**
 * HMAC-<alg>(hmac_key, message): the message is password+pepper, with the configured salt around it when
 * passwords.params.salt is set. No (or an empty, or an undecodable) key verifies false.
 */
function hmac(alg: Alg): PasswordScheme {
  return define(`hmac_${alg}`, undefined, (password, stored, ctx) => {
    const p = paramsOf(ctx);
    if (typeof p.hmac_key !== 'string' || p.hmac_key.length === 0) return false;
    const key = decodeBytes(p.hmac_key, p.hmac_key_encoding ?? 'utf8');
    const expected = decodeDigest(stored.trim(), DIGEST_BYTES[alg], p.digest_encoding);
    let msg = pepperedPassword(password, ctx);
    if (!key || key.length === 0 || !expected || !msg) return false;
    if (p.salt) {
      const s = resolveSalt(ctx);
      if (!s) return false;
      msg = withSalt(msg, s);
    }
    return safeEqual(createHmac(alg, key).update(msg).digest(), expected);
  });
}

export const hexMd5 = plain('md5');
export const hexSha1 = plain('sha1');
export const hexSha256 = plain('sha256');
export const hexSha512 = plain('sha512');
export const saltedMd5 = salted('md5');
export const saltedSha1 = salted('sha1');
export const saltedSha256 = salted('sha256');
export const saltedSha512 = salted('sha512');
export const hmacMd5 = hmac('md5');
export const hmacSha1 = hmac('sha1');
export const hmacSha256 = hmac('sha256');
export const hmacSha512 = hmac('sha512');

// ---------------------------------------------------------------------------------------------------------
// NT hash: MD4(UTF-16LE(password)). OpenSSL 3 moved MD4 to the legacy provider, so node:crypto usually
// has no 'md4'; this is RFC 1320 MD4, checked against the RFC's test suite and passlib's nthash.

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

export function md4(msg: Uint8Array): Buffer {
  const len = msg.length;
  const blocks = ((len + 8) >>> 6) + 1;
  const w = new Uint32Array(blocks * 16);
  for (let i = 0; i < len; i++) w[i >>> 2]! |= msg[i]! << ((i & 3) * 8);
  w[len >>> 2]! |= 0x80 << ((len & 3) * 8);
  w[blocks * 16 - 2] = (len * 8) >>> 0;
  w[blocks * 16 - 1] = Math.floor(len / 0x20000000);
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  const F = (x: number, y: number, z: number) => (x & y) | (~x & z);
  const G = (x: number, y: number, z: number) => (x & y) | (x & z) | (y & z);
  const H = (x: number, y: number, z: number) => x ^ y ^ z;
  for (let i = 0; i < w.length; i += 16) {
    const X = (k: number) => w[i + k]!;
    const [aa, bb, cc, dd] = [a, b, c, d];
    for (const k of [0, 4, 8, 12]) {
      a = rotl((a + F(b, c, d) + X(k)) | 0, 3);
      d = rotl((d + F(a, b, c) + X(k + 1)) | 0, 7);
      c = rotl((c + F(d, a, b) + X(k + 2)) | 0, 11);
      b = rotl((b + F(c, d, a) + X(k + 3)) | 0, 19);
    }
    for (const k of [0, 1, 2, 3]) {
      a = rotl((a + G(b, c, d) + X(k) + 0x5a827999) | 0, 3);
      d = rotl((d + G(a, b, c) + X(k + 4) + 0x5a827999) | 0, 5);
      c = rotl((c + G(d, a, b) + X(k + 8) + 0x5a827999) | 0, 9);
      b = rotl((b + G(c, d, a) + X(k + 12) + 0x5a827999) | 0, 13);
    }
    for (const k of [0, 2, 1, 3]) {
      a = rotl((a + H(b, c, d) + X(k) + 0x6ed9eba1) | 0, 3);
      d = rotl((d + H(a, b, c) + X(k + 8) + 0x6ed9eba1) | 0, 9);
      c = rotl((c + H(d, a, b) + X(k + 4) + 0x6ed9eba1) | 0, 11);
      b = rotl((b + H(c, d, a) + X(k + 12) + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}

/** Explicit-only: 32 hex digits are detected as hex_md5 (see the top of this file). */
export const nthash = define('nthash', undefined, (password, stored) => {
  const s = stored.trim();
  if (!/^[0-9a-f]{32}$/i.test(s)) return false;
  return safeEqual(md4(Buffer.from(password, 'utf16le')), Buffer.from(s, 'hex'));
});

// ---------------------------------------------------------------------------------------------------------
// Cleartext

/**
 * The stored value is the password itself: compared as UTF-8 bytes, exactly (no trimming: spaces may be
 * part of a password), through SHA-256 of both sides so that neither content nor length shows in timing.
 * An empty stored value never verifies. Never auto-detected.
 */
export const plaintext = define('plaintext', undefined, (password, stored) => {
  if (stored.length === 0) return false;
  const a = Buffer.from(password, 'utf8');
  const b = Buffer.from(stored, 'utf8');
  return safeEqual(hash('sha256', a), hash('sha256', b)) && a.length === b.length;
});

const CLEARTEXT = new Set(['plaintext']);

/** True for schemes that store the password itself (for `check` to flag the store). */
export function isCleartextScheme(name: string): boolean {
  return CLEARTEXT.has(name);
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Every scheme of this file except ldap_crypt (which needs the crypt(3) resolver: ldapCrypt(resolve)).
 * Tagged and structured formats first, bare hex last; the detect patterns are disjoint (see the top).
 */
export const schemes: PasswordScheme[] = [
  ldapMd5,
  ldapSaltedMd5,
  ldapSha1,
  ldapSaltedSha1,
  ldapSha256,
  ldapSaltedSha256,
  ldapSha512,
  ldapSaltedSha512,
  ldapHexMd5,
  ldapHexSha1,
  mysql41,
  postgresMd5,
  djangoSaltedSha1,
  djangoSaltedMd5,
  djangoUnsaltedSha1,
  djangoUnsaltedMd5,
  djangoDisabled,
  magento2,
  hexMd5,
  hexSha1,
  hexSha256,
  hexSha512,
  mysql323,
  joomlaMd5,
  magento1Md5,
  saltedMd5,
  saltedSha1,
  saltedSha256,
  saltedSha512,
  hmacMd5,
  hmacSha1,
  hmacSha256,
  hmacSha512,
  nthash,
  plaintext,
];
