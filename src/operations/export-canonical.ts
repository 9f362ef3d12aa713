/**
 * A legacy password value as IdP-neutral hash parameters, for the export targets other than Auth0.
 *
 * auth0/hash.ts already resolves each row's scheme exactly as the gateway does and maps it, where the semantics allow,
 * to a documented, self-contained description (Auth0's custom_password_hash): an algorithm, the digest bytes, the salt
 * and its side, the password's encoding, the KDF parameters. That description is re-verified against the gateway's own
 * verifier for every password fixture (test/src/operations/auth0/hash.test.ts). Here it is decoded into plain bytes and
 * numbers, which each target (kratos/, okta/, keycloak/) re-encodes in its own format; so no scheme is parsed twice
 * and every target inherits the same guarantee. Values Auth0 can't take (its reason codes) stay unimportable here.
 *
 * Pure: no I/O; no hash, salt or key in a reason.
 */
import type { LegacyUser } from '../../adapters/types.js';
import type { Config } from '../config.js';
import { toAuth0PasswordHash, type Auth0CustomPasswordHash } from './auth0/hash.js';

export type DigestName = 'md4' | 'md5' | 'sha1' | 'sha256' | 'sha512';

export type CanonicalHash =
  /** A $2a$ / $2b$ / $2y$ bcrypt string. */
  | { kind: 'bcrypt'; value: string; cost: number; salt22: string; hash31: string }
  /** An Argon2 PHC string (v=19 only) and its parts. */
  | { kind: 'argon2'; phc: string; variant: 'id' | 'i' | 'd'; m: number; t: number; p: number; salt: Buffer; hash: Buffer }
  /** PBKDF2-HMAC-<digest>(password, salt, iterations, key.length). */
  | { kind: 'pbkdf2'; digest: string; iterations: number; salt: Buffer; key: Buffer }
  /** scrypt(password, salt, N, r, p, key.length). */
  | { kind: 'scrypt'; N: number; r: number; p: number; salt: Buffer; key: Buffer }
  /** alg(salt ‖ password) (prefix) or alg(password ‖ salt) (suffix); salt empty when unsalted. */
  | { kind: 'digest'; alg: DigestName; digest: Buffer; salt: Buffer; position: 'prefix' | 'suffix' }
  /** HMAC-<alg>(key, password). */
  | { kind: 'hmac'; alg: string; digest: Buffer; key: Buffer };

export type CanonicalResult =
  | {
      ok: true;
      scheme: string;
      hash: CanonicalHash;
      /** The bytes of the password that the hash was computed over. */
      passwordEncoding: 'utf8' | 'utf16le' | 'latin1';
    }
  | { ok: false; scheme?: string; reason: string };

function bytes(value: string, encoding: 'utf8' | 'hex' | 'base64' | undefined): Buffer {
  if (encoding === 'hex') return Buffer.from(value, 'hex');
  if (encoding === 'base64') return Buffer.from(value, 'base64');
  return Buffer.from(value, 'utf8');
}

const LDAP: Record<string, { alg: DigestName; size: number }> = {
  MD5: { alg: 'md5', size: 16 },
  SMD5: { alg: 'md5', size: 16 },
  SHA: { alg: 'sha1', size: 20 },
  SSHA: { alg: 'sha1', size: 20 },
  SHA256: { alg: 'sha256', size: 32 },
  SSHA256: { alg: 'sha256', size: 32 },
  SHA512: { alg: 'sha512', size: 64 },
  SSHA512: { alg: 'sha512', size: 64 },
};

/** The Auth0 description decoded; null if it is not one this module knows (then nothing is exported for it). */
function decode(h: Auth0CustomPasswordHash): CanonicalHash | null {
  switch (h.algorithm) {
    case 'bcrypt': {
      const m = /^\$2[aby]\$(\d{2})\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/.exec(h.hash.value);
      return m ? { kind: 'bcrypt', value: h.hash.value, cost: Number(m[1]), salt22: m[2]!, hash31: m[3]! } : null;
    }
    case 'argon2': {
      const m = /^\$argon2(id|i|d)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(h.hash.value);
      if (!m) return null;
      return {
        kind: 'argon2',
        phc: h.hash.value,
        variant: m[1] as 'id' | 'i' | 'd',
        m: Number(m[2]),
        t: Number(m[3]),
        p: Number(m[4]),
        salt: Buffer.from(m[5]!, 'base64'),
        hash: Buffer.from(m[6]!, 'base64'),
      };
    }
    case 'pbkdf2': {
      const m = /^\$pbkdf2-([a-z0-9]+)\$i=(\d+),l=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(h.hash.value);
      if (!m) return null;
      const key = Buffer.from(m[5]!, 'base64');
      if (key.length !== Number(m[3])) return null;
      return { kind: 'pbkdf2', digest: m[1]!, iterations: Number(m[2]), salt: Buffer.from(m[4]!, 'base64'), key };
    }
    case 'scrypt':
      if (!h.salt || !h.cost || !h.blockSize || !h.parallelization) return null;
      return { kind: 'scrypt', N: h.cost, r: h.blockSize, p: h.parallelization, salt: bytes(h.salt.value, h.salt.encoding), key: bytes(h.hash.value, h.hash.encoding) };
    case 'md4':
    case 'md5':
    case 'sha1':
    case 'sha256':
    case 'sha512':
      return {
        kind: 'digest',
        alg: h.algorithm,
        digest: bytes(h.hash.value, h.hash.encoding),
        salt: h.salt ? bytes(h.salt.value, h.salt.encoding) : Buffer.alloc(0),
        position: h.salt?.position ?? 'prefix',
      };
    case 'hmac':
      if (!h.hash.digest || !h.hash.key) return null;
      return { kind: 'hmac', alg: h.hash.digest, digest: bytes(h.hash.value, h.hash.encoding), key: bytes(h.hash.key.value, h.hash.key.encoding) };
    case 'ldap': {
      // RFC 2307: base64(digest(password ‖ salt) ‖ salt)
      const m = /^\{([A-Z0-9]+)\}([A-Za-z0-9+/]+={0,2})$/i.exec(h.hash.value);
      const tag = m ? LDAP[m[1]!.toUpperCase()] : undefined;
      if (!tag) return null;
      const raw = Buffer.from(m![2]!, 'base64');
      return { kind: 'digest', alg: tag.alg, digest: raw.subarray(0, tag.size), salt: raw.subarray(tag.size), position: 'suffix' };
    }
    default:
      return null;
  }
}

/** The user's stored password as IdP-neutral hash parameters, or why it can't be exported as a hash. */
export function toCanonicalHash(
  user: Pick<LegacyUser, 'password' | 'passwordScheme' | 'salt' | 'username'>,
  passwords: Config['passwords'],
): CanonicalResult {
  const r = toAuth0PasswordHash(user, passwords);
  if (!r.ok) return r;
  const hash = decode(r.custom_password_hash);
  if (!hash) return { ok: false, scheme: r.scheme, reason: `unsupported_variant:${r.scheme}` };
  return { ok: true, scheme: r.scheme, hash, passwordEncoding: r.custom_password_hash.password?.encoding ?? 'utf8' };
}

/** Standard base64 with padding. */
export function b64(b: Buffer): string {
  return b.toString('base64');
}

/** Standard base64 without padding (PHC's B64). */
export function b64raw(b: Buffer): string {
  return b.toString('base64').replace(/=+$/, '');
}
