/**
 * Keycloak's built-in password hash providers, re-implemented on their own to re-verify what the exporter writes (no
 * code shared with src/: node:crypto and the argon2 binding). Read from keycloak/keycloak:
 * - Pbkdf2PasswordHashProvider.verify: PBEKeySpec(password padded with NULs to 14 chars, salt, hashIterations, key size
 *   = 8 × the decoded value's length) through PBKDF2WithHmacSHA1 ("pbkdf2"), ...SHA256 ("pbkdf2-sha256"), ...SHA512
 *   ("pbkdf2-sha512"); the JDK turns the chars into UTF-8; compares base64 strings;
 * - Argon2PasswordHashProvider.verify: BouncyCastle Argon2 with additionalParameters type (id|i|d), version (1.3|1.0),
 *   hashLength, memory (KiB), parallelism, iterations = hashIterations, over the UTF-8 password; compares base64 strings.
 * Unknown algorithms or missing parameters throw.
 */
import { pbkdf2Sync } from 'node:crypto';
import { hashRaw } from '@node-rs/argon2';

export interface Credential {
  type: string;
  secretData: string;
  credentialData: string;
}

class Unknown extends Error {}

const PBKDF2: Record<string, string> = { pbkdf2: 'sha1', 'pbkdf2-sha256': 'sha256', 'pbkdf2-sha512': 'sha512' };

export async function keycloakVerify(password: string, c: Credential): Promise<boolean> {
  if (c.type !== 'password') throw new Unknown('type');
  const secret = JSON.parse(c.secretData) as { value: string; salt: string };
  const data = JSON.parse(c.credentialData) as { hashIterations: number; algorithm: string; additionalParameters?: Record<string, string[]> };
  const salt = Buffer.from(secret.salt, 'base64');
  const prf = PBKDF2[data.algorithm];
  if (prf) {
    const keyBytes = Buffer.from(secret.value, 'base64').length;
    const padded = password.length < 14 ? password + '\0'.repeat(14 - password.length) : password;
    const got = pbkdf2Sync(Buffer.from(padded, 'utf8'), salt, data.hashIterations, keyBytes, prf).toString('base64');
    return got === secret.value;
  }
  if (data.algorithm === 'argon2') {
    const p = data.additionalParameters ?? {};
    const first = (k: string) => {
      const v = p[k]?.[0];
      if (v === undefined) throw new Unknown(`argon2: ${k}`);
      return v;
    };
    const algorithm = ({ d: 0, i: 1, id: 2 } as Record<string, number>)[first('type')];
    const version = ({ '1.0': 0, '1.3': 1 } as Record<string, number>)[first('version')];
    if (algorithm === undefined || version === undefined) throw new Unknown('argon2: type/version');
    const got = await hashRaw(Buffer.from(password, 'utf8'), {
      salt,
      timeCost: data.hashIterations,
      memoryCost: Number(first('memory')),
      parallelism: Number(first('parallelism')),
      outputLen: Number(first('hashLength')),
      algorithm: algorithm as 0,
      version: version as 0,
    });
    return got.toString('base64') === secret.value;
  }
  throw new Unknown(`algorithm ${data.algorithm}`);
}
