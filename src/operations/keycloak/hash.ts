/**
 * A legacy password value → a Keycloak password credential (CredentialRepresentation of a realm partial import), for
 * Keycloak's built-in hash providers:
 *   pbkdf2 | pbkdf2-sha256 | pbkdf2-sha512   PBKDF2WithHmacSHA1/256/512 over the password's UTF-8 bytes (Java pads a
 *     password under 14 characters with NULs: the same PBKDF2 result, since HMAC zero-pads its key), key size taken
 *     from the stored value's length; secretData {"value": base64 key, "salt": base64 salt},
 *     credentialData {"hashIterations": n, "algorithm": id}.
 *     keycloak/keycloak server-spi-private/.../credential/hash/Pbkdf2PasswordHashProvider.java
 *     (https://github.com/keycloak/keycloak/blob/main/server-spi-private/src/main/java/org/keycloak/credential/hash/Pbkdf2PasswordHashProvider.java)
 *   argon2 (Keycloak 24 and later, not in FIPS mode)   secretData {"value": base64 raw hash, "salt": base64 salt},
 *     credentialData {"hashIterations": t, "algorithm": "argon2", "additionalParameters": {"type": ["id"|"i"|"d"],
 *     "version": ["1.3"], "hashLength": ["<bytes>"], "memory": ["<KiB>"], "parallelism": ["<p>"]}}.
 *     keycloak/keycloak crypto/default/.../crypto/hash/Argon2PasswordHashProvider.java and Argon2Parameters.java
 *     (https://github.com/keycloak/keycloak/blob/main/crypto/default/src/main/java/org/keycloak/crypto/hash/Argon2PasswordHashProvider.java)
 * Format of the credential in an import: https://www.keycloak.org/docs-api/latest/rest-api/index.html#CredentialRepresentation
 * (secretData and credentialData are JSON documents in strings).
 * Everything else (bcrypt, digests, scrypt, ...) needs a hash-provider extension Keycloak doesn't ship: such users are
 * exported without a credential (needs-password-reset.csv) or, with --only-importable-hashes, left to the
 * user-migration plugin and the gateway's Keycloak door.
 */
import type { LegacyUser } from '../../../adapters/types.js';
import type { Config } from '../../config.js';
import { b64, toCanonicalHash } from '../export-canonical.js';

export interface KeycloakCredential {
  type: 'password';
  /** JSON text: {"value": base64, "salt": base64, "additionalParameters": {}} */
  secretData: string;
  /** JSON text: {"hashIterations": n, "algorithm": "...", "additionalParameters": {...}} */
  credentialData: string;
}

export type KeycloakHashResult = { ok: true; scheme: string; credential: KeycloakCredential } | { ok: false; scheme?: string; reason: string };

const PBKDF2_IDS: Record<string, string> = { sha1: 'pbkdf2', sha256: 'pbkdf2-sha256', sha512: 'pbkdf2-sha512' };

function credential(value: Buffer, salt: Buffer, hashIterations: number, algorithm: string, additionalParameters: Record<string, string[]> = {}): KeycloakCredential {
  return {
    type: 'password',
    secretData: JSON.stringify({ value: b64(value), salt: b64(salt), additionalParameters: {} }),
    credentialData: JSON.stringify({ hashIterations, algorithm, additionalParameters }),
  };
}

/** The user's stored password as a Keycloak password credential, or why it can't be one. */
export function toKeycloakCredential(
  user: Pick<LegacyUser, 'password' | 'passwordScheme' | 'salt' | 'username'>,
  passwords: Config['passwords'],
): KeycloakHashResult {
  const c = toCanonicalHash(user, passwords);
  if (!c.ok) return c;
  const { scheme, hash: h } = c;
  const no = (why: string): KeycloakHashResult => ({ ok: false, scheme, reason: `${why}:${scheme}` });
  if (c.passwordEncoding !== 'utf8') return no('unsupported_params');
  switch (h.kind) {
    case 'pbkdf2': {
      const id = PBKDF2_IDS[h.digest];
      if (!id || h.iterations > 0x7fffffff) return no('unsupported_variant');
      return { ok: true, scheme, credential: credential(h.key, h.salt, h.iterations, id) };
    }
    case 'argon2':
      return {
        ok: true,
        scheme,
        credential: credential(h.hash, h.salt, h.t, 'argon2', {
          type: [h.variant],
          version: ['1.3'],
          hashLength: [String(h.hash.length)],
          memory: [String(h.m)],
          parallelism: [String(h.p)],
        }),
      };
    default:
      return no('unsupported_scheme');
  }
}
