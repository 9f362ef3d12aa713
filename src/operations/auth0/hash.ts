/**
 * A legacy password value → Auth0's `custom_password_hash` (bulk user import), exactly where Auth0's documented
 * semantics reproduce what the gateway's own verifier computes for that row; otherwise a stable reason code.
 *
 * Auth0's documented semantics (bulk-import schema page):
 *   md4 | md5 | sha1 | sha256 | sha512  digest(salt ‖ password) (position prefix) or digest(password ‖ salt) (suffix);
 *                                       salt and hash in utf8 | hex | base64; the typed password is transcoded to
 *                                       password.encoding (utf8 by default; utf16le for .NET) before hashing
 *   hmac                                HMAC-<hash.digest>(hash.key, password)
 *   bcrypt                              $2a$ / $2b$ / $2y$ strings (not $2x$)
 *   argon2                              PHC string, salt embedded
 *   pbkdf2                              PHC string $pbkdf2-<digest>$i=<iterations>,l=<key length>$<B64 salt>$<B64 key>,
 *                                       B64 = standard base64 without padding
 *   ldap                                RFC 2307 {MD5} {SMD5} {SHA} {SSHA} {SHA256} {SSHA256} {SHA512} {SSHA512}; no {CRYPT}
 *   scrypt                              scrypt(password, salt as the KDF salt, cost N, blockSize r, parallelization p, keylen)
 *
 * Pure: no I/O, and no hash, salt or key ever appears in a reason. The scheme is resolved exactly as the gateway
 * resolves it (the row's scheme column, passwords.scheme, then detection), so an exported hash means what the
 * gateway's verifier means by it. Nothing is guessed: a value the registry can't name is `unknown_scheme`.
 *
 * Reason codes (stable; `<scheme>` is a registry name):
 *   no_password · unknown_scheme · cleartext · unusable_password
 *   unsupported_scheme:<scheme>   Auth0 has no equivalent (crypt(3), phpass, Drupal, MySQL PASSWORD(), Firebase, nested
 *                                 forum digests...)
 *   unsupported_variant:<scheme>  the family is importable, this value's variant is not ($2x$, argon2 v=16, chains...)
 *   unsupported_params:<scheme>   passwords.params Auth0 can't express (a pepper around a salt, a salted HMAC...)
 *   missing_salt:<scheme> · missing_key:<scheme> · malformed_hash:<scheme>  (the gateway can't verify it either)
 */
import type { LegacyUser } from '../../../adapters/types.js';
import type { Config } from '../../config.js';
import { isCleartextScheme, resolveScheme } from '../../passwords/index.js';
import { argon2Allowed, bcryptCostAllowed, pbkdf2Allowed, scryptAllowed, type Pbkdf2Digest } from '../../passwords/limits.js';
import { MSSQL2000, MSSQL2005, MSSQL2012, ORACLE11 } from '../../passwords/dbserver.js';
import { asciiLower } from '../../passwords/forum.js';
import { DJANGO_BCRYPT, DJANGO_SCRYPT } from '../../passwords/framework.js';
import { parseSchemeParams, type SchemeParams } from '../../passwords/params.js';
import { PLM_DEFAULTS, plmParams, type PlmParams } from '../../passwords/plm.js';

type Encoding = 'utf8' | 'hex' | 'base64';

/** The `custom_password_hash` object of Auth0's user-import schema. */
export interface Auth0CustomPasswordHash {
  algorithm: 'argon2' | 'bcrypt' | 'hmac' | 'ldap' | 'md4' | 'md5' | 'sha1' | 'sha256' | 'sha512' | 'pbkdf2' | 'scrypt';
  hash: { value: string; encoding: Encoding; digest?: string; key?: { value: string; encoding: Encoding } };
  salt?: { value: string; encoding: Encoding; position?: 'prefix' | 'suffix' };
  password?: { encoding: 'utf16le' | 'latin1' };
  keylen?: number;
  cost?: number;
  blockSize?: number;
  parallelization?: number;
}

export type Auth0HashResult =
  | { ok: true; scheme: string; custom_password_hash: Auth0CustomPasswordHash }
  | { ok: false; scheme?: string; reason: string };

type Failure = 'unsupported_variant' | 'unsupported_params' | 'missing_salt' | 'missing_key' | 'malformed_hash';
type Mapped = Auth0CustomPasswordHash | Failure;

interface Ctx {
  user: Pick<LegacyUser, 'salt' | 'username'>;
  params: SchemeParams;
}

type Mapper = (stored: string, ctx: Ctx) => Mapped;

// ---------------------------------------------------------------------------------------------------------------
// Bytes

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function hex(s: string): Buffer | null {
  return HEX.test(s) ? Buffer.from(s, 'hex') : null;
}

/** Standard base64; padding optional but canonical when present (as the gateway's kdf.ts reads it). */
function b64(s: string, padded = false): Buffer | null {
  if (!B64.test(s) || (padded && s.length % 4 !== 0)) return null;
  const body = s.replace(/=+$/, '');
  if (body.length % 4 === 1 || (s.length !== body.length && s.length % 4 !== 0)) return null;
  return Buffer.from(body, 'base64');
}

/** passlib's adapted base64 ('.' for '+', no padding). */
function ab64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9./+]*$/.test(s) || s.length % 4 === 1) return null;
  return Buffer.from(s.replace(/\./g, '+'), 'base64');
}

/** A positive decimal count without leading zeros. */
function count(s: string | undefined): number | null {
  return s !== undefined && /^[1-9][0-9]{0,15}$/.test(s) ? Number(s) : null;
}

/** PHC's B64: standard alphabet, no padding. */
function phcB64(b: Buffer): string {
  return b.toString('base64').replace(/=+$/, '');
}

/** A salt as UTF-8 text when its bytes are exactly that text, hex otherwise. */
function saltField(bytes: Buffer, position?: 'prefix' | 'suffix'): NonNullable<Auth0CustomPasswordHash['salt']> {
  const text = bytes.toString('utf8');
  const salt: NonNullable<Auth0CustomPasswordHash['salt']> = Buffer.from(text, 'utf8').equals(bytes)
    ? { value: text, encoding: 'utf8' }
    : { value: bytes.toString('hex'), encoding: 'hex' };
  if (position) salt.position = position;
  return salt;
}

/** The password's bytes as the gateway encodes them (passwords.params.password_encoding). */
type PasswordEncoding = SchemeParams['password_encoding'];

function passwordField(enc: PasswordEncoding | undefined): Pick<Auth0CustomPasswordHash, 'password'> {
  return enc === 'utf16le' || enc === 'latin1' ? { password: { encoding: enc } } : {};
}

/** A string encoded the way the gateway encodes password-side text; null when latin1 cannot hold it. */
function encodeText(s: string, enc: PasswordEncoding | undefined): Buffer | null {
  if (enc === 'latin1') return /[^\u0000-\u00ff]/.test(s) ? null : Buffer.from(s, 'latin1');
  return Buffer.from(s, enc === 'utf16le' ? 'utf16le' : 'utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

type DigestAlg = 'md5' | 'sha1' | 'sha256' | 'sha512';
const DIGEST_BYTES: Record<DigestAlg, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

/**
 * digest(prefix ‖ password ‖ suffix) with the password in `enc`: Auth0 takes one salt on one side, so a value needs
 * at most one non-empty side.
 */
function digestHash(
  alg: DigestAlg | 'md4',
  digest: Buffer,
  sides: { prefix?: Buffer | undefined; suffix?: Buffer | undefined },
  enc?: PasswordEncoding,
): Mapped {
  const pre = sides.prefix?.length ? sides.prefix : undefined;
  const suf = sides.suffix?.length ? sides.suffix : undefined;
  if (pre && suf) return 'unsupported_params';
  const out: Auth0CustomPasswordHash = { algorithm: alg, hash: { value: digest.toString('hex'), encoding: 'hex' } };
  if (pre) out.salt = saltField(pre, 'prefix');
  if (suf) out.salt = saltField(suf, 'suffix');
  return { ...out, ...passwordField(enc) };
}

function pbkdf2Phc(digest: string, iterations: number, salt: Buffer, key: Buffer): Mapped {
  if (salt.length === 0 || key.length === 0 || !Number.isSafeInteger(iterations) || iterations < 1) return 'unsupported_variant';
  return { algorithm: 'pbkdf2', hash: { value: `$pbkdf2-${digest}$i=${iterations},l=${key.length}$${phcB64(salt)}$${phcB64(key)}`, encoding: 'utf8' } };
}

function scryptHash(salt: Buffer, key: Buffer, N: number, r: number, p: number): Mapped {
  // Auth0: cost a power of two greater than one; r, p, keylen positive integers.
  if (salt.length === 0 || key.length === 0 || N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1) return 'unsupported_variant';
  return {
    algorithm: 'scrypt',
    hash: { value: key.toString('base64'), encoding: 'base64' },
    salt: { value: salt.toString('base64'), encoding: 'base64' },
    keylen: key.length,
    cost: N,
    blockSize: r,
    parallelization: p,
  };
}

/** A stored plain digest in hex (any case) or padded base64 of exactly the digest's size (passwords.params.digest_encoding). */
function storedDigest(stored: string, bytes: number, enc: SchemeParams['digest_encoding'] | undefined): Buffer | null {
  const asHex = enc !== 'base64' && stored.length === bytes * 2 ? hex(stored) : null;
  const asBase64 = asHex || enc === 'hex' || stored.length === 0 ? null : b64(stored, true);
  return asHex ?? (asBase64?.length === bytes ? asBase64 : null);
}

/** passwords.params.salt resolved against the row, as the gateway's salted_* schemes read it. */
function configuredSalt(ctx: Ctx): { salt: Buffer; position: 'prefix' | 'suffix' } | null {
  const cfg = ctx.params.salt;
  const raw = (cfg?.source ?? 'column') === 'constant' ? cfg?.value : ctx.user.salt;
  if (typeof raw !== 'string' || raw.length === 0) return null;
  const enc = cfg?.encoding ?? 'utf8';
  const salt = enc === 'hex' ? hex(raw) : enc === 'base64' ? b64(raw, true) : Buffer.from(raw, 'utf8');
  if (!salt || salt.length === 0) return null;
  return { salt, position: cfg?.position ?? 'prefix' };
}

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

function bcryptValue(stored: string, ctx: Ctx): Mapped {
  if (ctx.params.pepper) return 'unsupported_params'; // bcrypt(password + pepper): Auth0 documents no such salt semantics
  if (BCRYPT.test(stored)) return { algorithm: 'bcrypt', hash: { value: stored, encoding: 'utf8' } };
  return /^\$2x\$\d{2}\$[./A-Za-z0-9]{53}$/.test(stored) ? 'unsupported_variant' : 'malformed_hash';
}

const ARGON2_ANY = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const ARGON2_V19 = /^\$argon2(?:id|i|d)\$v=19\$m=[1-9]\d*,t=[1-9]\d*,p=[1-9]\d*\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

function argon2Value(phc: string): Mapped {
  if (ARGON2_V19.test(phc)) return { algorithm: 'argon2', hash: { value: phc, encoding: 'utf8' } };
  return ARGON2_ANY.test(phc) ? 'unsupported_variant' : 'malformed_hash';
}

// ---------------------------------------------------------------------------------------------------------------
// Families

/** RFC 2307 values, as the gateway's ldap_* schemes accept them (tag case-insensitive; salted: at least 4 salt bytes). */
function ldap(tag: string, alg: DigestAlg, salted: boolean): Mapper {
  const re = new RegExp(`^\\{${tag}\\}([A-Za-z0-9+/]+={0,2})$`, 'i');
  return (stored, ctx) => {
    const m = re.exec(stored);
    const raw = m ? b64(m[1]!, true) : null;
    const n = DIGEST_BYTES[alg];
    if (!raw || (salted ? raw.length < n + 4 : raw.length !== n)) return 'malformed_hash';
    return { algorithm: 'ldap', hash: { value: `{${tag}}${m![1]}`, encoding: 'utf8' }, ...passwordField(ctx.params.password_encoding) };
  };
}

/** {MD5}/{SHA} with a hex digest: plain digests with a tag Auth0's ldap parser would read as base64. */
function ldapHex(tag: string, alg: DigestAlg): Mapper {
  const re = new RegExp(`^\\{${tag}\\}([0-9a-fA-F]{${DIGEST_BYTES[alg] * 2}})$`, 'i');
  return (stored, ctx) => {
    const m = re.exec(stored);
    return m ? digestHash(alg, Buffer.from(m[1]!, 'hex'), {}, ctx.params.password_encoding) : 'malformed_hash';
  };
}

/** passlib's pbkdf2 bodies: <rounds>$<ab64 salt>$<ab64 key>, key of the digest's size. */
function passlibPbkdf2(prefix: RegExp, digest: 'sha1' | 'sha256' | 'sha512'): Mapper {
  const re = new RegExp(`^${prefix.source}(\\d+)\\$([A-Za-z0-9./+]*)\\$([A-Za-z0-9./+]+)$`, prefix.flags);
  const size = { sha1: 20, sha256: 32, sha512: 64 }[digest];
  return (stored) => {
    const m = re.exec(stored);
    const rounds = count(m?.[1]);
    const salt = m ? ab64(m[2]!) : null;
    const key = m ? ab64(m[3]!) : null;
    if (rounds === null || !salt || !key || key.length !== size) return 'malformed_hash';
    return pbkdf2Phc(digest, rounds, salt, key);
  };
}

/** Django's pbkdf2_<digest>$<iterations>$<salt text>$<base64 key>. */
function djangoPbkdf2(tag: string, digest: 'sha1' | 'sha256'): Mapper {
  const re = new RegExp(`^${tag}\\$(\\d+)\\$([^$]*)\\$([A-Za-z0-9+/]+={0,2})$`);
  return (stored) => {
    const m = re.exec(stored);
    const key = m ? b64(m[3]!) : null;
    if (!m || !key || key.length === 0) return 'malformed_hash';
    return pbkdf2Phc(digest, Number(m[1]), Buffer.from(m[2]!, 'utf8'), key);
  };
}

/** Crypto.HashPassword: base64(0x00 ‖ salt16 ‖ PBKDF2-HMAC-SHA1(1000 iterations, 32 bytes)). */
const aspnetV2: Mapper = (stored) => {
  const b = b64(stored, true);
  if (!b || b.length !== 49 || b[0] !== 0x00) return 'malformed_hash';
  return pbkdf2Phc('sha1', 1000, b.subarray(1, 17), b.subarray(17));
};

/** A plain digest in a framework's spelling; the regex's first group is the hex digest. */
function plainHex(alg: DigestAlg, re: RegExp): Mapper {
  return (stored) => {
    const m = re.exec(stored);
    return m ? digestHash(alg, Buffer.from(m[1]!, 'hex'), {}) : 'malformed_hash';
  };
}

/** digest(salt ‖ password) with the salt in the value itself (Django, Joomla, Magento 1): always UTF-8 text. */
function inlineSalted(alg: DigestAlg, re: RegExp, position: 'prefix' | 'suffix', enc: (ctx: Ctx) => PasswordEncoding | undefined): Mapper {
  return (stored, ctx) => {
    const m = re.exec(stored);
    if (!m) return 'malformed_hash';
    const salt = Buffer.from(m.groups!.salt!, 'utf8');
    return digestHash(alg, Buffer.from(m.groups!.hex!, 'hex'), { [position]: salt }, enc(ctx));
  };
}

/** passlib hex_<alg>: digest(password + pepper); the pepper is a suffix salt in the password's encoding. */
function plainDigest(alg: DigestAlg): Mapper {
  return (stored, ctx) => {
    const d = storedDigest(stored, DIGEST_BYTES[alg], ctx.params.digest_encoding);
    if (!d) return 'malformed_hash';
    const enc = ctx.params.password_encoding;
    const pepper = ctx.params.pepper ? encodeText(ctx.params.pepper, enc) : undefined;
    if (pepper === null) return 'unsupported_params';
    return digestHash(alg, d, { suffix: pepper }, enc);
  };
}

/** salted_<alg>: digest(salt ‖ password+pepper) or digest(password+pepper ‖ salt). */
function saltedDigest(alg: DigestAlg): Mapper {
  return (stored, ctx) => {
    const d = storedDigest(stored, DIGEST_BYTES[alg], ctx.params.digest_encoding);
    if (!d) return 'malformed_hash';
    const s = configuredSalt(ctx);
    if (!s) return 'missing_salt';
    const enc = ctx.params.password_encoding;
    const pepper = ctx.params.pepper ? encodeText(ctx.params.pepper, enc) : Buffer.alloc(0);
    if (pepper === null) return 'unsupported_params';
    return s.position === 'prefix'
      ? digestHash(alg, d, { prefix: s.salt, suffix: pepper }, enc)
      : digestHash(alg, d, { suffix: Buffer.concat([pepper, s.salt]) }, enc);
  };
}

/** hmac_<alg>: HMAC(key, password). A pepper or a salt around the message has no documented Auth0 equivalent. */
function hmacDigest(alg: DigestAlg): Mapper {
  return (stored, ctx) => {
    const p = ctx.params;
    const d = storedDigest(stored, DIGEST_BYTES[alg], p.digest_encoding);
    if (!d) return 'malformed_hash';
    if (typeof p.hmac_key !== 'string' || p.hmac_key.length === 0) return 'missing_key';
    const keyEnc = p.hmac_key_encoding ?? 'utf8';
    const key = keyEnc === 'hex' ? hex(p.hmac_key) : keyEnc === 'base64' ? b64(p.hmac_key, true) : Buffer.from(p.hmac_key, 'utf8');
    if (!key || key.length === 0) return 'missing_key';
    if (p.pepper || p.salt) return 'unsupported_params';
    return {
      algorithm: 'hmac',
      hash: { value: d.toString('hex'), encoding: 'hex', digest: alg, key: { value: key.toString('base64'), encoding: 'base64' } },
      ...passwordField(p.password_encoding),
    };
  };
}

/** The row's separate base64 salt column (ASP.NET Membership). */
function rowSaltB64(ctx: Ctx): Buffer | null {
  return typeof ctx.user.salt === 'string' ? b64(ctx.user.salt.trim()) : null;
}

/** SqlMembershipProvider: base64(H(salt ‖ UTF-16LE(password))). */
function aspnetMembership(alg: 'sha1' | 'sha256'): Mapper {
  return (stored, ctx) => {
    const d = b64(stored, true);
    if (!d || d.length !== DIGEST_BYTES[alg]) return 'malformed_hash';
    const salt = rowSaltB64(ctx);
    if (!salt) return 'missing_salt';
    return digestHash(alg, d, { prefix: salt }, 'utf16le');
  };
}

/** Universal Providers: HMAC-SHA256(key = the salt repeated (or cut) to 64 bytes, UTF-16LE(password)). */
const aspnetUniversal: Mapper = (stored, ctx) => {
  const d = b64(stored, true);
  if (!d || d.length !== 32) return 'malformed_hash';
  const salt = rowSaltB64(ctx);
  if (!salt || salt.length === 0) return 'missing_salt';
  const key = Buffer.alloc(64);
  for (let i = 0; i < key.length; i += salt.length) salt.copy(key, i, 0, Math.min(salt.length, key.length - i));
  return {
    algorithm: 'hmac',
    hash: { value: d.toString('hex'), encoding: 'hex', digest: 'sha256', key: { value: key.toString('base64'), encoding: 'base64' } },
    password: { encoding: 'utf16le' },
  };
};

/** passport-local-mongoose: PBKDF2(password, salt text, iterations, stored length, digest). */
function plm(defaults: PlmParams): Mapper {
  return (stored, ctx) => {
    const p = plmParams({ params: ctx.params }, defaults);
    if (!p) return 'unsupported_params';
    const key = p.encoding === 'hex' ? hex(stored) : b64(stored, true);
    if (!key || key.length < 16) return 'malformed_hash';
    if (typeof ctx.user.salt !== 'string' || ctx.user.salt.length === 0) return 'missing_salt';
    return pbkdf2Phc(p.digest, p.iterations, Buffer.from(ctx.user.salt, 'utf8'), key);
  };
}

/**
 * Magento 2 `hash:salt:version` with ONE step (chains have no Auth0 equivalent): 0 = md5(salt ‖ password),
 * 1 = sha256(salt ‖ password), 2 / 3_<bytes>_<ops>_<mem> = Argon2id v1.3, 1 lane, salt repeated or cut to 16 bytes,
 * stored as the hex of the raw output: exactly an argon2id PHC string.
 */
const magento2: Mapper = (stored, ctx) => {
  const m = /^([0-9a-f]{32,128}):([^:]+):([^:]+)$/.exec(stored);
  if (!m) return /^[0-9a-f]{32,128}:[^:]+:[^:]+(?::[^:]+)+$/.test(stored) ? 'unsupported_variant' : 'malformed_hash';
  const [, digestHex, saltText, version] = m as unknown as [string, string, string, string];
  const salt = Buffer.from(saltText, 'utf8');
  const enc = ctx.params.password_encoding;
  if (version === '0' || version === '1') {
    const alg = version === '0' ? 'md5' : 'sha256';
    if (digestHex.length !== DIGEST_BYTES[alg] * 2) return 'malformed_hash';
    return digestHash(alg, Buffer.from(digestHex, 'hex'), { prefix: salt }, enc);
  }
  const a = /^3_(\d+)_(\d+)_(\d+)$/.exec(version === '2' ? '3_32_2_67108864' : version);
  if (!a) return 'malformed_hash';
  const [bytes, ops, mem] = [Number(a[1]), Number(a[2]), Number(a[3])];
  if (!(bytes >= 16 && bytes <= 64 && ops >= 1 && mem >= 8192) || digestHex.length !== bytes * 2) return 'malformed_hash';
  if (enc && enc !== 'utf8') return 'unsupported_params'; // Auth0 documents no password encoding for argon2
  const s16 = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) s16[i] = salt[i % salt.length]!;
  const phc = `$argon2id$v=19$m=${Math.floor(mem / 1024)},t=${ops},p=1$${phcB64(s16)}$${phcB64(Buffer.from(digestHex, 'hex'))}`;
  return { algorithm: 'argon2', hash: { value: phc, encoding: 'utf8' } };
};

const V3_PRF = ['sha1', 'sha256', 'sha512'] as const;

/** SQL Server pwdencrypt: 0x0100 / 0x0200 ‖ salt(4) ‖ digest(UTF-16LE(password) ‖ salt), hex in either case. */
function mssqlDigest(alg: 'sha1' | 'sha512', re: RegExp): Mapper {
  return (stored) => {
    const m = re.exec(stored);
    return m ? digestHash(alg, Buffer.from(m[2]!, 'hex'), { suffix: Buffer.from(m[1]!, 'hex') }, 'utf16le') : 'malformed_hash';
  };
}

const MAPPERS: Record<string, Mapper> = {
  bcrypt: bcryptValue,
  // {CRYPT} wraps a crypt(3) value; crypt(3) of a $2a$/$2b$/$2y$ value is bcrypt itself. Other crypt(3) values can't go.
  ldap_crypt: (stored, ctx) => {
    const inner = /^\{CRYPT\}(.+)$/i.exec(stored)?.[1];
    return inner !== undefined && BCRYPT.test(inner) ? bcryptValue(inner, ctx) : 'unsupported_variant';
  },

  argon2: (stored) => argon2Value(stored),
  django_argon2: (stored) => (stored.startsWith('argon2$argon2') ? argon2Value(stored.slice('argon2'.length)) : 'malformed_hash'),

  scrypt: (stored) => {
    const p = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/.]*)\$([A-Za-z0-9+/.]+)$/.exec(stored);
    if (p) {
      const [ln, r, par] = [count(p[1]), count(p[2]), count(p[3])];
      const salt = ab64(p[4]!);
      const key = ab64(p[5]!);
      if (ln === null || r === null || par === null || ln > 30 || !salt || !key) return 'malformed_hash';
      return scryptHash(salt, key, 2 ** ln, r, par);
    }
    // The $7$ form is as exact, but decoding its hash64 needs kdf.ts's decoders (not exported): held back for now.
    return /^\$7\$/.test(stored) ? 'unsupported_variant' : 'malformed_hash';
  },
  werkzeug_scrypt: (stored) => {
    const m = /^scrypt(?::(\d+):(\d+):(\d+))?\$([^$]*)\$([0-9a-f]{128})$/.exec(stored);
    if (!m) return 'malformed_hash';
    const [N, r, p] = m[1] === undefined ? [32768, 8, 1] : [count(m[1]), count(m[2]), count(m[3])];
    if (N === null || r === null || p === null) return 'malformed_hash';
    return scryptHash(Buffer.from(m[4]!, 'utf8'), Buffer.from(m[5]!, 'hex'), N, r, p);
  },

  pbkdf2_sha1: passlibPbkdf2(/\$pbkdf2\$/, 'sha1'),
  pbkdf2_sha256: passlibPbkdf2(/\$pbkdf2-sha256\$/, 'sha256'),
  pbkdf2_sha512: passlibPbkdf2(/\$pbkdf2-sha512\$/, 'sha512'),
  ldap_pbkdf2_sha1: passlibPbkdf2(/\{PBKDF2(?:-SHA1)?\}/i, 'sha1'),
  ldap_pbkdf2_sha256: passlibPbkdf2(/\{PBKDF2-SHA256\}/i, 'sha256'),
  ldap_pbkdf2_sha512: passlibPbkdf2(/\{PBKDF2-SHA512\}/i, 'sha512'),
  atlassian_pbkdf2_sha1: (stored) => {
    const m = /^\{PKCS5S2\}([A-Za-z0-9+/]{64})$/.exec(stored);
    const raw = m ? b64(m[1]!) : null;
    return raw && raw.length === 48 ? pbkdf2Phc('sha1', 10_000, raw.subarray(0, 16), raw.subarray(16)) : 'malformed_hash';
  },
  django_pbkdf2_sha256: djangoPbkdf2('pbkdf2_sha256', 'sha256'),
  django_pbkdf2_sha1: djangoPbkdf2('pbkdf2_sha1', 'sha1'),
  werkzeug_pbkdf2: (stored) => {
    const m = /^pbkdf2:(sha1|sha224|sha256|sha384|sha512):(\d+)\$([^$]*)\$([0-9a-f]+)$/.exec(stored);
    const iterations = count(m?.[2]);
    const size = m ? { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 }[m[1] as 'sha1'] : 0;
    if (!m || iterations === null || m[4]!.length !== size * 2) return 'malformed_hash';
    return pbkdf2Phc(m[1]!, iterations, Buffer.from(m[3]!, 'utf8'), Buffer.from(m[4]!, 'hex'));
  },
  aspnet_identity_v2: aspnetV2,
  aspnet_simple_membership: aspnetV2,
  aspnet_identity_v3: (stored) => {
    const b = b64(stored, true);
    if (!b || b.length < 13 || b[0] !== 0x01) return 'malformed_hash';
    const digest = V3_PRF[b.readUInt32BE(1)];
    const iterations = b.readUInt32BE(5);
    const saltLen = b.readUInt32BE(9);
    if (!digest || iterations < 1 || iterations > 0x7fffffff || saltLen < 16 || b.length - 13 - saltLen < 16) return 'malformed_hash';
    return pbkdf2Phc(digest, iterations, b.subarray(13, 13 + saltLen), b.subarray(13 + saltLen));
  },
  aspnet_membership_sha1: aspnetMembership('sha1'),
  aspnet_membership_sha256: aspnetMembership('sha256'),
  aspnet_universal: aspnetUniversal,
  passport_local_mongoose: plm(PLM_DEFAULTS),
  passport_local_mongoose_sha1: plm({ ...PLM_DEFAULTS, digest: 'sha1' }),

  ldap_md5: ldap('MD5', 'md5', false),
  ldap_salted_md5: ldap('SMD5', 'md5', true),
  ldap_sha1: ldap('SHA', 'sha1', false),
  ldap_salted_sha1: ldap('SSHA', 'sha1', true),
  ldap_sha256: ldap('SHA256', 'sha256', false),
  ldap_salted_sha256: ldap('SSHA256', 'sha256', true),
  ldap_sha512: ldap('SHA512', 'sha512', false),
  ldap_salted_sha512: ldap('SSHA512', 'sha512', true),
  ldap_hex_md5: ldapHex('MD5', 'md5'),
  ldap_hex_sha1: ldapHex('SHA', 'sha1'),

  // postgres_md5: md5(password ‖ username), the username encoded like the password.
  postgres_md5: (stored, ctx) => {
    const m = /^md5([0-9a-f]{32})$/.exec(stored);
    if (!m) return 'malformed_hash';
    const enc = ctx.params.password_encoding;
    const user = typeof ctx.user.username === 'string' && ctx.user.username.length > 0 ? encodeText(ctx.user.username, enc) : undefined;
    if (user === undefined) return 'missing_salt';
    if (user === null) return 'unsupported_params';
    return digestHash('md5', Buffer.from(m[1]!, 'hex'), { suffix: user }, enc);
  },
  // Django always hashes UTF-8.
  django_salted_sha1: inlineSalted('sha1', /^sha1\$(?<salt>[^$]*)\$(?<hex>[0-9a-f]{40})$/, 'prefix', () => 'utf8'),
  django_salted_md5: inlineSalted('md5', /^md5\$(?<salt>[^$]*)\$(?<hex>[0-9a-f]{32})$/, 'prefix', () => 'utf8'),
  django_unsalted_sha1: plainHex('sha1', /^sha1\$\$([0-9a-f]{40})$/),
  django_unsalted_md5: plainHex('md5', /^(?:md5\$\$)?([0-9a-f]{32})$/),
  joomla_md5: inlineSalted('md5', /^(?<hex>[0-9a-f]{32}):(?<salt>[^:]*)$/, 'suffix', (ctx) => ctx.params.password_encoding),
  magento1_md5: inlineSalted('md5', /^(?<hex>[0-9a-f]{32}):(?<salt>[^:]*)$/, 'prefix', (ctx) => ctx.params.password_encoding),
  magento2,

  hex_md5: plainDigest('md5'),
  hex_sha1: plainDigest('sha1'),
  hex_sha256: plainDigest('sha256'),
  hex_sha512: plainDigest('sha512'),
  salted_md5: saltedDigest('md5'),
  salted_sha1: saltedDigest('sha1'),
  salted_sha256: saltedDigest('sha256'),
  salted_sha512: saltedDigest('sha512'),
  hmac_md5: hmacDigest('md5'),
  hmac_sha1: hmacDigest('sha1'),
  hmac_sha256: hmacDigest('sha256'),
  hmac_sha512: hmacDigest('sha512'),
  nthash: (stored) => (/^[0-9a-f]{32}$/i.test(stored) ? digestHash('md4', Buffer.from(stored, 'hex'), {}, 'utf16le') : 'malformed_hash'),

  // Database servers (src/passwords/dbserver.ts). SQL Server: digest(UTF-16LE(password) ‖ salt), the salt being the 4
  // bytes after the header; for 2000 the case-sensitive digest, the one the gateway verifies. Oracle 11g: SHA-1 of
  // UTF-8(password) ‖ salt. PostgreSQL SCRAM has no Auth0 equivalent (PBKDF2 then HMAC and SHA-256 of the result).
  mssql2000: mssqlDigest('sha1', MSSQL2000),
  mssql2005: mssqlDigest('sha1', MSSQL2005),
  mssql2012: mssqlDigest('sha512', MSSQL2012),
  oracle11: (stored) => {
    const m = ORACLE11.exec(stored);
    return m ? digestHash('sha1', Buffer.from(m[1]!, 'hex'), { suffix: Buffer.from(m[2]!, 'hex') }, 'utf8') : 'malformed_hash';
  },
  // Frameworks (src/passwords/framework.ts). Symfony's and Authlogic's iterated digests have no Auth0 equivalent.
  // Django's BCryptPasswordHasher: bcrypt of the password alone (passwords.params.pepper plays no part in it).
  django_bcrypt: (stored) => {
    const inner = DJANGO_BCRYPT.exec(stored)?.[1];
    return inner !== undefined ? { algorithm: 'bcrypt', hash: { value: inner, encoding: 'utf8' } } : 'malformed_hash';
  },
  django_scrypt: (stored) => {
    const m = DJANGO_SCRYPT.exec(stored);
    const key = m ? b64(m[5]!, true) : null;
    if (!m || !key || key.length !== 64) return 'malformed_hash';
    return scryptHash(Buffer.from(m[2]!, 'utf8'), key, Number(m[1]), Number(m[3]), Number(m[4]));
  },

  // Forums and shops (src/passwords/forum.ts). SMF 1.1/2.0's sha1(strtolower(member_name) . password) is a SHA-1 with
  // the ASCII-lower-cased name as a prefix salt (an empty name: no salt, as SMF's own concatenation); SMF 2.1's bcrypt
  // of name ‖ password is not plain bcrypt. vBulletin, MyBB, PunBB and OpenCart nest digests: no Auth0 equivalent.
  smf: (stored, ctx) => {
    if (/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(stored)) return 'unsupported_variant';
    if (!/^[0-9a-f]{40}$/.test(stored)) return 'malformed_hash';
    const enc = ctx.params.password_encoding;
    const name = encodeText(asciiLower(typeof ctx.user.username === 'string' ? ctx.user.username : ''), enc);
    if (name === null) return 'unsupported_params';
    return digestHash('sha1', Buffer.from(stored, 'hex'), { prefix: name }, enc);
  },
};

/** Registry schemes with an Auth0 mapping (the rest are `unsupported_scheme:<name>`). */
export const IMPORTABLE_SCHEMES: readonly string[] = Object.freeze(Object.keys(MAPPERS));

// passwords.params is parsed once per configuration object, not once per user.
const parsedParams = new WeakMap<object, SchemeParams>();
function paramsFor(passwords: Config['passwords']): SchemeParams {
  let p = parsedParams.get(passwords.params);
  if (!p) parsedParams.set(passwords.params, (p = parseSchemeParams(passwords.params).params));
  return p;
}

/** The user's stored password as an Auth0 custom_password_hash, or why it can't be one. */
export function toAuth0PasswordHash(
  user: Pick<LegacyUser, 'password' | 'passwordScheme' | 'salt' | 'username'>,
  passwords: Config['passwords'],
): Auth0HashResult {
  const r = resolveScheme(user, passwords);
  if (!r.scheme) return { ok: false, reason: r.reason === 'no_password' ? 'no_password' : 'unknown_scheme' };
  const scheme = r.scheme.name;
  if (isCleartextScheme(scheme)) return { ok: false, scheme, reason: 'cleartext' };
  if (scheme === 'django_disabled') return { ok: false, scheme, reason: 'unusable_password' };
  const mapper = MAPPERS[scheme];
  if (!mapper) return { ok: false, scheme, reason: `unsupported_scheme:${scheme}` };
  const out = mapper(user.password!.trim(), { user, params: paramsFor(passwords) });
  if (typeof out === 'string') return { ok: false, scheme, reason: `${out}:${scheme}` };
  if (!withinLimits(out)) return { ok: false, scheme, reason: `over_limits:${scheme}` };
  return { ok: true, scheme, custom_password_hash: out };
}

const PBKDF2_DIGESTS = new Set<string>(['sha1', 'sha224', 'sha256', 'sha384', 'sha512'] satisfies Pbkdf2Digest[]);

/**
 * The work a description asks of whoever verifies it, against the gateway's own caps (src/passwords/limits.ts). A value
 * the gateway refuses to verify is not exported as a hash either: the IdP would accept a password the gateway refuses,
 * and one planted row (scrypt ln=30, argon2 m=4 GiB, bcrypt cost 31) could hold the IdP's login for hours or exhaust
 * its memory. Every export target (export-canonical.ts) starts from this description, so each inherits the check.
 */
export function withinLimits(h: Auth0CustomPasswordHash): boolean {
  switch (h.algorithm) {
    case 'bcrypt':
      return bcryptCostAllowed(/^\$2[aby]\$(\d{2})\$/.exec(h.hash.value)?.[1] ?? '');
    case 'argon2': {
      const m = /\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(h.hash.value);
      return m !== null && argon2Allowed({ memoryKiB: Number(m[1]), passes: Number(m[2]), lanes: Number(m[3]) });
    }
    case 'pbkdf2': {
      const m = /^\$pbkdf2-([a-z0-9]+)\$i=(\d+),l=(\d+)\$/.exec(h.hash.value);
      return m !== null && PBKDF2_DIGESTS.has(m[1]!) && pbkdf2Allowed({ digest: m[1] as Pbkdf2Digest, iterations: Number(m[2]), keylen: Number(m[3]) });
    }
    case 'scrypt':
      return scryptAllowed({ N: h.cost ?? 0, r: h.blockSize ?? 0, p: h.parallelization ?? 0, keylen: h.keylen ?? 0 });
    default:
      // Digests, HMACs and LDAP values: one fixed-cost hash per check.
      return true;
  }
}
