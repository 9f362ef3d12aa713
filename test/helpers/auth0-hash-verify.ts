/**
 * Auth0's documented `custom_password_hash` semantics (bulk user import, "custom password hash" section of Auth0's
 * bulk-import schema page), implemented on its own to re-verify what the exporter emits. It shares no code with
 * src/ (neither the exporter nor the gateway's verifiers): only node:crypto, the bcrypt and argon2 bindings, and
 * js-md4 (OpenSSL 3 dropped MD4).
 *
 * What the documentation says, and how it is read here:
 * - password.encoding (ascii | utf8 | utf16le | ucs2 | latin1 | binary, default utf8): the typed password is
 *   transcoded to it before hashing;
 * - md4 | md5 | sha1 | sha256 | sha512: digest(salt + password) with salt.position prefix (the default), digest(password
 *   + salt) with suffix; salt.encoding utf8 (default) | hex | base64; hash.encoding must be hex or base64 (upper or
 *   lower case hex, url-safe base64 accepted);
 * - hmac: HMAC-<hash.digest>(hash.key decoded with key.encoding (default utf8), password); hash hex or base64;
 * - bcrypt: $2a$, $2b$ or $2y$ only, hash.encoding utf8;
 * - argon2: PHC string (utf8), salt embedded, no separate salt;
 * - pbkdf2: PHC string $pbkdf2-<digest>$i=<iterations>,l=<key length>$<B64 salt>$<B64 key> (utf8), B64 without padding,
 *   defaults i=100000 and l=64, no separate salt;
 * - ldap: RFC 2307 {MD5} {SMD5} {SHA} {SSHA} {SHA256} {SSHA256} {SHA384} {SSHA384} {SHA512} {SSHA512}, utf8, no
 *   separate salt, no {CRYPT}; a salted value is base64(digest(password + salt) + salt);
 * - scrypt: scrypt(password, salt as the KDF salt, keylen (required), cost N (16384), blockSize r (8), parallelization
 *   p (1)); hash hex or base64.
 * Anything the documentation rules out, or leaves undefined (a salt on bcrypt or hmac, a password encoding for argon2),
 * throws: an export that needs it is wrong.
 */
import { createHash, createHmac, pbkdf2Sync, scryptSync, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { verify as argon2Verify } from '@node-rs/argon2';
import { verify as bcryptVerify } from '@node-rs/bcrypt';

const require = createRequire(import.meta.url);
const md4 = require('js-md4') as { create(): { update(b: Uint8Array): { hex(): string } } };

type Enc = 'utf8' | 'hex' | 'base64';

export interface CustomPasswordHash {
  algorithm: string;
  hash: { value: string; encoding?: Enc; digest?: string; key?: { value: string; encoding?: Enc } };
  salt?: { value: string; encoding?: Enc; position?: 'prefix' | 'suffix' };
  password?: { encoding?: string };
  keylen?: number;
  cost?: number;
  blockSize?: number;
  parallelization?: number;
}

class Undocumented extends Error {}

function decode(value: string, encoding: Enc | undefined, what: string): Buffer {
  const enc = encoding ?? 'utf8';
  if (enc === 'utf8') return Buffer.from(value, 'utf8');
  if (enc === 'hex') {
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) throw new Undocumented(`${what}: not hex`);
    return Buffer.from(value, 'hex');
  }
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new Undocumented(`${what}: not base64`);
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

const PASSWORD_ENCODINGS = new Set(['ascii', 'utf8', 'utf16le', 'ucs2', 'latin1', 'binary']);

function transcode(password: string, h: CustomPasswordHash): Buffer {
  const enc = h.password?.encoding ?? 'utf8';
  if (!PASSWORD_ENCODINGS.has(enc)) throw new Undocumented(`password.encoding ${enc}`);
  return Buffer.from(password, enc as BufferEncoding);
}

function digest(alg: string, data: Buffer): Buffer {
  if (alg === 'md4') return Buffer.from(md4.create().update(new Uint8Array(data)).hex(), 'hex');
  return createHash(alg).update(data).digest();
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function noSalt(h: CustomPasswordHash): void {
  if (h.salt !== undefined) throw new Undocumented(`${h.algorithm}: a separate salt is not documented`);
}

const LDAP: Record<string, { alg: string; salted: boolean }> = {
  MD5: { alg: 'md5', salted: false },
  SMD5: { alg: 'md5', salted: true },
  SHA: { alg: 'sha1', salted: false },
  SSHA: { alg: 'sha1', salted: true },
  SHA256: { alg: 'sha256', salted: false },
  SSHA256: { alg: 'sha256', salted: true },
  SHA384: { alg: 'sha384', salted: false },
  SSHA384: { alg: 'sha384', salted: true },
  SHA512: { alg: 'sha512', salted: false },
  SSHA512: { alg: 'sha512', salted: true },
};

/** Would Auth0, following its documentation, accept this password for this custom_password_hash? */
export async function auth0Verify(password: string, h: CustomPasswordHash): Promise<boolean> {
  const pw = transcode(password, h);
  switch (h.algorithm) {
    case 'md4':
    case 'md5':
    case 'sha1':
    case 'sha256':
    case 'sha512': {
      if (h.hash.encoding !== 'hex' && h.hash.encoding !== 'base64') throw new Undocumented(`${h.algorithm}: hash.encoding must be hex or base64`);
      const expected = decode(h.hash.value, h.hash.encoding, 'hash');
      const salt = h.salt ? decode(h.salt.value, h.salt.encoding, 'salt') : Buffer.alloc(0);
      const input = (h.salt?.position ?? 'prefix') === 'prefix' ? Buffer.concat([salt, pw]) : Buffer.concat([pw, salt]);
      return same(digest(h.algorithm, input), expected);
    }
    case 'hmac': {
      noSalt(h);
      const d = h.hash.digest;
      if (!d || !['md4', 'md5', 'ripemd160', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'whirlpool'].includes(d)) throw new Undocumented('hmac: hash.digest');
      if (!h.hash.key) throw new Undocumented('hmac: hash.key is required');
      if (h.hash.encoding !== 'hex' && h.hash.encoding !== 'base64') throw new Undocumented('hmac: hash.encoding must be hex or base64');
      const key = decode(h.hash.key.value, h.hash.key.encoding, 'key');
      return same(createHmac(d, key).update(pw).digest(), decode(h.hash.value, h.hash.encoding, 'hash'));
    }
    case 'bcrypt': {
      noSalt(h);
      if ((h.hash.encoding ?? 'utf8') !== 'utf8' || !/^\$2[aby]\$/.test(h.hash.value)) throw new Undocumented('bcrypt: $2a$/$2b$/$2y$ utf8 strings only');
      return bcryptVerify(pw, h.hash.value);
    }
    case 'argon2': {
      noSalt(h);
      if (h.password) throw new Undocumented('argon2: a password encoding is not documented');
      if ((h.hash.encoding ?? 'utf8') !== 'utf8' || !/^\$argon2(id|i|d)\$/.test(h.hash.value)) throw new Undocumented('argon2: a PHC string');
      return argon2Verify(h.hash.value, pw);
    }
    case 'pbkdf2': {
      noSalt(h);
      const m = /^\$pbkdf2-([a-z0-9-]+)\$(?:([a-z]=\d+(?:,[a-z]=\d+)*)\$)?([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/i.exec(h.hash.value);
      if ((h.hash.encoding ?? 'utf8') !== 'utf8' || !m) throw new Undocumented('pbkdf2: $pbkdf2-<digest>$i=..,l=..$<B64 salt>$<B64 key> (unpadded B64)');
      const params = Object.fromEntries((m[2] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
      const iterations = Number(params.i ?? 100000);
      const keylen = Number(params.l ?? 64);
      const got = pbkdf2Sync(pw, Buffer.from(m[3]!, 'base64'), iterations, keylen, m[1]!.toLowerCase());
      return same(got, Buffer.from(m[4]!, 'base64'));
    }
    case 'ldap': {
      noSalt(h);
      const m = /^\{([A-Za-z0-9]+)\}([A-Za-z0-9+/]+={0,2})$/.exec(h.hash.value);
      const kind = m ? LDAP[m[1]!.toUpperCase()] : undefined;
      if ((h.hash.encoding ?? 'utf8') !== 'utf8' || !kind) throw new Undocumented('ldap: {MD5} {SMD5} {SHA*} {SSHA*} only');
      const raw = Buffer.from(m![2]!, 'base64');
      const size = createHash(kind.alg).digest().length;
      if (kind.salted ? raw.length <= size : raw.length !== size) return false;
      return same(createHash(kind.alg).update(pw).update(raw.subarray(size)).digest(), raw.subarray(0, size));
    }
    case 'scrypt': {
      if (!Number.isInteger(h.keylen) || h.keylen! < 1) throw new Undocumented('scrypt: keylen is required');
      const N = h.cost ?? 16384;
      const r = h.blockSize ?? 8;
      const p = h.parallelization ?? 1;
      if (!(N > 1 && (N & (N - 1)) === 0)) throw new Undocumented('scrypt: cost must be a power of two greater than one');
      if (h.hash.encoding !== 'hex' && h.hash.encoding !== 'base64') throw new Undocumented('scrypt: hash.encoding must be hex or base64');
      if (!h.salt) throw new Undocumented('scrypt: no salt');
      const salt = decode(h.salt.value, h.salt.encoding, 'salt');
      const got = scryptSync(pw, salt, h.keylen!, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 * 64 });
      return same(got, decode(h.hash.value, h.hash.encoding, 'hash'));
    }
    default:
      throw new Undocumented(`algorithm ${h.algorithm}`);
  }
}
