/**
 * Okta's documented semantics for an imported password hash (Users API, "Create user with imported hashed password";
 * PasswordCredentialHash as documented in Okta's SDKs, https://github.com/okta/okta-sdk-dotnet/blob/master/docs/PasswordCredentialHash.md),
 * implemented on its own to re-verify what the exporter writes (no code shared with src/: node:crypto and the bcrypt
 * binding). What the documentation leaves out throws.
 * - BCRYPT: the value is `$2a$<workFactor>$<salt (22 radix-64 chars)><value (31 chars)>`;
 * - SHA-512 | SHA-256 | SHA-1 | MD5: value = base64(digest(salt ‖ UTF-8 password)) for saltOrder PREFIX,
 *   digest(password ‖ salt) for POSTFIX; salt base64; no salt: digest(password);
 * - PBKDF2: PBKDF2-HMAC-<SHA-256|SHA-512>(UTF-8 password, base64 salt, iterationCount ≥ 4096, keySize bytes) = base64 value.
 */
import { createHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { verify as bcryptVerify } from '@node-rs/bcrypt';

export interface OktaHash {
  algorithm: string;
  value: string;
  salt?: string;
  saltOrder?: string;
  workFactor?: number;
  iterationCount?: number;
  keySize?: number;
  digestAlgorithm?: string;
}

class Undocumented extends Error {}

function b64(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Undocumented(`${what}: not base64`);
  return Buffer.from(s, 'base64');
}

const DIGESTS: Record<string, string> = { 'SHA-512': 'sha512', 'SHA-256': 'sha256', 'SHA-1': 'sha1', MD5: 'md5' };

export async function oktaVerify(password: string, h: OktaHash): Promise<boolean> {
  const pw = Buffer.from(password, 'utf8');
  switch (h.algorithm) {
    case 'BCRYPT': {
      if (!Number.isInteger(h.workFactor) || !/^[./A-Za-z0-9]{22}$/.test(h.salt ?? '') || !/^[./A-Za-z0-9]{31}$/.test(h.value)) throw new Undocumented('BCRYPT');
      if (h.saltOrder !== undefined) throw new Undocumented('BCRYPT: no saltOrder');
      return bcryptVerify(pw, `$2a$${String(h.workFactor).padStart(2, '0')}$${h.salt}${h.value}`);
    }
    case 'SHA-512':
    case 'SHA-256':
    case 'SHA-1':
    case 'MD5': {
      const salt = h.salt === undefined ? Buffer.alloc(0) : b64(h.salt, 'salt');
      if (h.salt !== undefined && h.saltOrder !== 'PREFIX' && h.saltOrder !== 'POSTFIX') throw new Undocumented('saltOrder');
      const input = h.saltOrder === 'POSTFIX' ? Buffer.concat([pw, salt]) : Buffer.concat([salt, pw]);
      const got = createHash(DIGESTS[h.algorithm]!).update(input).digest();
      const want = b64(h.value, 'value');
      return got.length === want.length && timingSafeEqual(got, want);
    }
    case 'PBKDF2': {
      const prf = { SHA256_HMAC: 'sha256', SHA512_HMAC: 'sha512' }[h.digestAlgorithm ?? ''];
      if (!prf || !Number.isInteger(h.iterationCount) || h.iterationCount! < 4096 || !Number.isInteger(h.keySize) || h.salt === undefined) throw new Undocumented('PBKDF2');
      const want = b64(h.value, 'value');
      if (want.length !== h.keySize) throw new Undocumented('PBKDF2: keySize');
      const got = pbkdf2Sync(pw, b64(h.salt, 'salt'), h.iterationCount!, h.keySize!, prf);
      return timingSafeEqual(got, want);
    }
    default:
      throw new Undocumented(`algorithm ${h.algorithm}`);
  }
}
