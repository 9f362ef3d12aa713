/**
 * A legacy password value → Okta's `credentials.password.hash` (Users API, "Create user with imported hashed password":
 * https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#create-user-with-imported-hashed-password ;
 * field semantics as the Okta SDKs document PasswordCredentialHash, e.g.
 * https://github.com/okta/okta-sdk-dotnet/blob/master/docs/PasswordCredentialHash.md and DigestAlgorithm.md):
 *
 *   BCRYPT                   workFactor = the cost; salt = the 22 radix-64 characters after `$2x$NN$`; value = the 31
 *                            characters after them ($2a$ / $2b$ / $2y$ values)
 *   SHA-512 | SHA-256 | SHA-1 | MD5   value = base64(digest(salt ‖ password)) with saltOrder PREFIX, digest(password ‖ salt)
 *                            with POSTFIX; salt = base64 of the salt bytes; no salt and no saltOrder when unsalted
 *   PBKDF2                   salt (base64), value (base64 of the derived key), iterationCount (Okta: at least 4096),
 *                            keySize (bytes), digestAlgorithm SHA256_HMAC | SHA512_HMAC
 * Okta hashes the password's UTF-8 bytes. Anything else (argon2, scrypt, HMAC, MD4, PBKDF2-SHA1, fewer than 4096
 * iterations, UTF-16LE passwords, ...) is not importable: those users verify through Okta's password import inline hook
 * and the gateway's Okta door (see target.ts).
 */
import type { LegacyUser } from '../../../adapters/types.js';
import type { Config } from '../../config.js';
import { b64, toCanonicalHash } from '../export-canonical.js';

export interface OktaPasswordHash {
  algorithm: 'BCRYPT' | 'SHA-512' | 'SHA-256' | 'SHA-1' | 'MD5' | 'PBKDF2';
  value: string;
  salt?: string;
  saltOrder?: 'PREFIX' | 'POSTFIX';
  workFactor?: number;
  iterationCount?: number;
  keySize?: number;
  digestAlgorithm?: 'SHA256_HMAC' | 'SHA512_HMAC';
}

export type OktaHashResult = { ok: true; scheme: string; hash: OktaPasswordHash } | { ok: false; scheme?: string; reason: string };

const DIGEST: Record<string, OktaPasswordHash['algorithm']> = { md5: 'MD5', sha1: 'SHA-1', sha256: 'SHA-256', sha512: 'SHA-512' };
const PBKDF2: Record<string, OktaPasswordHash['digestAlgorithm']> = { sha256: 'SHA256_HMAC', sha512: 'SHA512_HMAC' };
/** Okta's documented minimum iterationCount. */
export const OKTA_MIN_PBKDF2_ITERATIONS = 4096;

/** The user's stored password as an Okta password hash object, or why it can't be one. */
export function toOktaHash(user: Pick<LegacyUser, 'password' | 'passwordScheme' | 'salt' | 'username'>, passwords: Config['passwords']): OktaHashResult {
  const c = toCanonicalHash(user, passwords);
  if (!c.ok) return c;
  const { scheme, hash: h } = c;
  const no = (why: string): OktaHashResult => ({ ok: false, scheme, reason: `${why}:${scheme}` });
  if (c.passwordEncoding !== 'utf8') return no('unsupported_params');
  const ok = (hash: OktaPasswordHash): OktaHashResult => ({ ok: true, scheme, hash });
  switch (h.kind) {
    case 'bcrypt':
      return ok({ algorithm: 'BCRYPT', workFactor: h.cost, salt: h.salt22, value: h.hash31 });
    case 'digest': {
      const algorithm = DIGEST[h.alg];
      if (!algorithm) return no('unsupported_scheme');
      if (h.salt.length === 0) return ok({ algorithm, value: b64(h.digest) });
      return ok({ algorithm, salt: b64(h.salt), saltOrder: h.position === 'prefix' ? 'PREFIX' : 'POSTFIX', value: b64(h.digest) });
    }
    case 'pbkdf2': {
      const digestAlgorithm = PBKDF2[h.digest];
      if (!digestAlgorithm || h.iterations < OKTA_MIN_PBKDF2_ITERATIONS) return no('unsupported_variant');
      return ok({ algorithm: 'PBKDF2', salt: b64(h.salt), value: b64(h.key), iterationCount: h.iterations, keySize: h.key.length, digestAlgorithm });
    }
    default:
      return no('unsupported_scheme');
  }
}
