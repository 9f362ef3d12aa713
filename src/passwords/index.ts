/**
 * Password scheme registry. Verification is closed by default:
 * an unknown scheme, an unrecognised stored value or any error verifies false.
 */
import { availableParallelism } from 'node:os';
import type { LegacyUser } from '../../adapters/types.js';
import { bcrypt } from './bcrypt.js';
import { schemes as dbserverSchemes } from './dbserver.js';
import { isCleartextScheme, ldapCrypt, schemes as digestSchemes } from './digest.js';
import { schemes as frameworkSchemes } from './framework.js';
import { schemes as forumSchemes } from './forum.js';
import { schemes as kdfSchemes } from './kdf.js';
import { schemes as plmSchemes } from './plm.js';
import { schemes as unixSchemes } from './unix.js';
import { parseSchemeParams, type SchemeParams } from './params.js';
import { HashSlots, VerificationAbandoned } from './slots.js';
import type { PasswordScheme, VerifyContext } from './types.js';

export type { PasswordScheme, VerifyContext } from './types.js';
export type { SchemeParams } from './params.js';

/** crypt(3)-style values that LDAP's {CRYPT} may wrap. */
const CRYPT_LIKE: PasswordScheme[] = [bcrypt, ...unixSchemes];

/**
 * Order matters for detection: self-describing, tagged formats first; bare hex digests (which only a length
 * tells apart) last. Schemes without detect() are used only when named (passwords.scheme, scheme column, map).
 */
const ALL: PasswordScheme[] = [
  bcrypt,
  ...unixSchemes,
  ...kdfSchemes,
  ...plmSchemes,
  ...dbserverSchemes, // SQL Server 0x0100/0x0200, Oracle S:, SCRAM-SHA-256$
  ...frameworkSchemes, // Django bcrypt$ / scrypt$ (detected); Symfony, Authlogic (named only)
  ldapCrypt((stored) => CRYPT_LIKE.find((s) => s.detect?.(stored))),
  ...digestSchemes,
  // Forum and shop formats (bare hex, salt in another column): named only, never detected.
  ...forumSchemes,
];

export { isCleartextScheme, VerificationAbandoned };

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
  /** Values of the per-row scheme column → scheme names. */
  scheme_map?: Record<string, string>;
  params: Record<string, unknown>;
}

/** passwords.* checked and parsed, ready for verification. */
export interface PasswordPolicy {
  scheme: string;
  scheme_map?: Record<string, string>;
  params: SchemeParams;
}

/** Start-up check: the configured scheme must exist and the params must parse. */
export function validatePolicy(policy: PasswordConfig): string[] {
  const problems: string[] = [];
  if (policy.scheme !== 'auto' && !BY_NAME.has(policy.scheme)) {
    problems.push(`passwords.scheme: unknown scheme "${policy.scheme}" (known: auto, ${schemeNames().join(', ')})`);
  }
  for (const [value, name] of Object.entries(policy.scheme_map ?? {})) {
    if (!BY_NAME.has(name)) problems.push(`passwords.scheme_map.${value}: unknown scheme "${name}"`);
  }
  problems.push(...parseSchemeParams(policy.params).problems);
  return problems;
}

/** Parse passwords.* (call validatePolicy first to report problems). */
export function compilePolicy(policy: PasswordConfig): PasswordPolicy {
  return { scheme: policy.scheme, scheme_map: policy.scheme_map ?? {}, params: parseSchemeParams(policy.params).params };
}

export type Resolution = { scheme: PasswordScheme } | { scheme: null; reason: 'no_password' | 'unknown_scheme' | 'unrecognised' };

/** Which scheme applies to this row: the row's own scheme column, then the configured scheme, then detection. */
export function resolveScheme(user: Pick<LegacyUser, 'password' | 'passwordScheme'>, policy: Pick<PasswordConfig, 'scheme' | 'scheme_map'>): Resolution {
  const stored = user.password;
  if (typeof stored !== 'string' || stored.length === 0) return { scheme: null, reason: 'no_password' };
  const rowValue = user.passwordScheme?.trim();
  const rowScheme = rowValue ? (policy.scheme_map?.[rowValue] ?? rowValue) : undefined;
  const named = rowScheme || (policy.scheme !== 'auto' ? policy.scheme : undefined);
  if (named) {
    const s = BY_NAME.get(named);
    return s ? { scheme: s } : { scheme: null, reason: 'unknown_scheme' };
  }
  const detected = detectScheme(stored);
  return detected ? { scheme: detected } : { scheme: null, reason: 'unrecognised' };
}

/**
 * At most cores + 1 hash verifications at a time. Slow hashes run on the libuv pool (4 threads by default); on a
 * small machine, more concurrent hashes than cores only make them compete with the event loop for the CPU, which
 * shows as latency spikes for every request, without adding throughput. The one extra keeps a core busy while
 * the event loop hands the next queued verification over. (bench/verify.ts measures both effects.) A check that
 * has waited half a second means a backlog: the newest goes first from then on (HashSlots).
 */
export const HASH_SLOTS = availableParallelism() + 1;
const hashSlots = new HashSlots(HASH_SLOTS, 500);

/** Password checks running and waiting for a slot now (for metrics and tests). */
export function passwordChecks(): { running: number; waiting: number } {
  return { running: hashSlots.active, waiting: hashSlots.queued };
}

/**
 * Verify with an already-resolved scheme; any exception is a false. With `abandoned`: a verification still waiting
 * for a slot when it is aborted leaves the queue and throws VerificationAbandoned instead of hashing (a hash
 * already running finishes: native work cannot be interrupted).
 */
export async function verifyWith(scheme: PasswordScheme, password: string, stored: string, ctx: VerifyContext, abandoned?: AbortSignal): Promise<boolean> {
  return hashSlots.run(async () => {
    try {
      return (await scheme.verify(password, stored, ctx)) === true;
    } catch {
      return false;
    }
  }, abandoned);
}
