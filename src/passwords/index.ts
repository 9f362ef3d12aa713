/**
 * Password scheme registry (DESIGN.md §4). Verification is closed by default:
 * an unknown scheme, an unrecognised stored value or any error verifies false.
 */
import type { LegacyUser } from '../../adapters/types.js';
import { bcrypt } from './bcrypt.js';
import { aspnetIdentityV2, aspnetIdentityV3, djangoPbkdf2Sha1, djangoPbkdf2Sha256 } from './pbkdf2.js';
import { parseSchemeParams, type SchemeParams } from './params.js';
import type { PasswordScheme, VerifyContext } from './types.js';

export type { PasswordScheme, VerifyContext } from './types.js';
export type { SchemeParams } from './params.js';

/** Order matters for detection: the most specific formats first. */
const ALL: PasswordScheme[] = [bcrypt, djangoPbkdf2Sha256, djangoPbkdf2Sha1, aspnetIdentityV3, aspnetIdentityV2];

const BY_NAME = new Map(ALL.map((s) => [s.name, s]));

export function schemeNames(): string[] {
  return [...BY_NAME.keys()];
}

export function getScheme(name: string): PasswordScheme | undefined {
  return BY_NAME.get(name);
}

/** Every scheme whose detect() accepts the value (for `hash identify`). */
export function identify(stored: string): string[] {
  return ALL.filter((s) => s.detect?.(stored)).map((s) => s.name);
}

export function detectScheme(stored: string): PasswordScheme | undefined {
  return ALL.find((s) => s.detect?.(stored));
}

/** passwords.* as configured. */
export interface PasswordConfig {
  /** 'auto' or one registered scheme name. */
  scheme: string;
  params: Record<string, unknown>;
}

/** passwords.* checked and parsed, ready for verification. */
export interface PasswordPolicy {
  scheme: string;
  params: SchemeParams;
}

/** Start-up check: the configured scheme must exist and the params must parse. */
export function validatePolicy(policy: PasswordConfig): string[] {
  const problems: string[] = [];
  if (policy.scheme !== 'auto' && !BY_NAME.has(policy.scheme)) {
    problems.push(`passwords.scheme: unknown scheme "${policy.scheme}" (known: auto, ${schemeNames().join(', ')})`);
  }
  problems.push(...parseSchemeParams(policy.params).problems);
  return problems;
}

/** Parse passwords.* (call validatePolicy first to report problems). */
export function compilePolicy(policy: PasswordConfig): PasswordPolicy {
  return { scheme: policy.scheme, params: parseSchemeParams(policy.params).params };
}

export type Resolution = { scheme: PasswordScheme } | { scheme: null; reason: 'no_password' | 'unknown_scheme' | 'unrecognised' };

/** Which scheme applies to this row: the row's own scheme column, then the configured scheme, then detection. */
export function resolveScheme(user: Pick<LegacyUser, 'password' | 'passwordScheme'>, policy: Pick<PasswordConfig, 'scheme'>): Resolution {
  const stored = user.password;
  if (typeof stored !== 'string' || stored.length === 0) return { scheme: null, reason: 'no_password' };
  const named = user.passwordScheme?.trim() || (policy.scheme !== 'auto' ? policy.scheme : undefined);
  if (named) {
    const s = BY_NAME.get(named);
    return s ? { scheme: s } : { scheme: null, reason: 'unknown_scheme' };
  }
  const detected = detectScheme(stored);
  return detected ? { scheme: detected } : { scheme: null, reason: 'unrecognised' };
}

/** Verify with an already-resolved scheme; any exception is a false. */
export async function verifyWith(scheme: PasswordScheme, password: string, stored: string, ctx: VerifyContext): Promise<boolean> {
  try {
    return (await scheme.verify(password, stored, ctx)) === true;
  } catch {
    return false;
  }
}
