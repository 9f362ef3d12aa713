/** The one mapper that builds the public profile (docs/profile.md), for verify, lookup and get-by-id alike. */
import type { LegacyUser } from '../adapters/types.js';

export interface Profile {
  user_id: string;
  email?: string;
  email_verified?: boolean;
  username?: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  nickname?: string;
  picture?: string;
  blocked: boolean;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
}

const DATE_LIKE = /^\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$/;

/**
 * Legacy flag columns come as 0/1, 't'/'f', 'Y'/'N', booleans, bit buffers... and as timestamps
 * (Laravel's email_verified_at, Devise's confirmed_at / locked_at): a set timestamp is true.
 */
export function toBool(v: unknown): boolean | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (v instanceof Date) return !Number.isNaN(v.getTime());
  if (typeof v === 'number') return Number.isNaN(v) ? undefined : v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (Buffer.isBuffer(v)) return v.some((b) => b !== 0);
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['1', 't', 'true', 'y', 'yes', 'on'].includes(s)) return true;
    if (['0', 'f', 'false', 'n', 'no', 'off', ''].includes(s)) return false;
    if (DATE_LIKE.test(s)) return true;
  }
  return undefined;
}

/** A lock-out timestamp that has not yet passed. */
function lockedNow(v: unknown, now: number): boolean {
  if (v === null || v === undefined || v === '') return false;
  const t = v instanceof Date ? v.getTime() : Date.parse(String(v).replace(' ', 'T'));
  return !Number.isNaN(t) && t > now;
}

/** Blocked when any of the row's flags says so: blocked set, active unset, or locked until a future time. */
export function isBlocked(user: Pick<LegacyUser, 'blocked' | 'active' | 'lockedUntil'>, now = Date.now()): boolean {
  return toBool(user.blocked) === true || toBool(user.active) === false || lockedNow(user.lockedUntil, now);
}

function text(v: string | undefined): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t.length > 0 ? t : undefined;
}

export function toProfile(user: LegacyUser, userIdPrefix: string): Profile {
  const email = text(user.email)?.toLowerCase();
  const username = text(user.username)?.toLowerCase();
  // Key order as documented in docs/profile.md; absent values are left out, never invented.
  const p = {
    user_id: `${userIdPrefix}${user.id}`,
    email,
    email_verified: toBool(user.emailVerified),
    username,
    name: text(user.name),
    given_name: text(user.givenName),
    family_name: text(user.familyName),
    nickname: text(user.nickname),
    picture: text(user.picture),
    blocked: isBlocked(user),
    app_metadata: { ...user.appMetadata },
    user_metadata: { ...user.userMetadata },
  };
  for (const k of Object.keys(p) as (keyof typeof p)[]) if (p[k] === undefined) delete p[k];
  return p as Profile;
}

/** Strip the configured prefix from a public user_id; null when it does not carry the prefix. */
export function legacyIdFrom(publicId: string, userIdPrefix: string): string | null {
  if (!userIdPrefix) return publicId;
  return publicId.startsWith(userIdPrefix) ? publicId.slice(userIdPrefix.length) : null;
}
