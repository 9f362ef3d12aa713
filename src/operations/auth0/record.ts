/**
 * One legacy user → one record of an Auth0 bulk-import file (the user-import JSON schema), plus every problem Auth0
 * would have with it. Pure: audit and export share it.
 *
 * What goes in:
 * - user_id: the one the login and get_user scripts return (the profile mapper: prefix + legacy key), without a
 *   leading `auth0|` (the import prepends the connection strategy itself);
 * - email and username lower-cased (as the profile; Auth0 database connections lower-case them too),
 *   email_verified only when the legacy store knows it, the name fields, picture;
 * - blocked: true for accounts the legacy app disabled (blocked flag, or active flag unset). A lock-out that expires
 *   (locked_until) is temporary and is not exported as a permanent block;
 * - app_metadata (never a top-level `metadata`) without Auth0's reserved keys, user_metadata; empty objects left out;
 * - custom_password_hash when the hash is importable (hash.ts).
 *
 * Limits checked (Auth0's documentation): email local part ≤ 64 and domain ≤ 256 characters, in email format;
 * username ≤ 128 characters of a-z 0-9 _ + - . ! # $ ^ ` ~ @ ' and not an email address (a connection allows 15
 * unless configured otherwise); user_id ≤ 255 characters without whitespace; name and nickname ≤ 300, given_name and
 * family_name ≤ 150; metadata keys without '.' or '$'. Problems never quote a value.
 */
import type { LegacyUser } from '../../../adapters/types.js';
import type { Config } from '../../config.js';
import { isBlocked, toProfile } from '../../profile.js';
import { toAuth0PasswordHash, type Auth0CustomPasswordHash, type Auth0HashResult } from './hash.js';

export interface Auth0User {
  user_id: string;
  email: string;
  email_verified?: boolean;
  username?: string;
  given_name?: string;
  family_name?: string;
  name?: string;
  nickname?: string;
  picture?: string;
  blocked?: boolean;
  app_metadata?: Record<string, unknown>;
  user_metadata?: Record<string, unknown>;
  custom_password_hash?: Auth0CustomPasswordHash;
}

export interface RecordProblem {
  /** Stable code, e.g. email_invalid, username_too_long, app_metadata_reserved_key. */
  code: string;
  /** The record field concerned (app_metadata.<key> for metadata). */
  field: string;
  message: string;
  /** true: Auth0 would refuse the user, so no record is produced; false: the record goes without the value, or as is. */
  blocking: boolean;
}

export interface Auth0UserResult {
  /** null when a blocking problem keeps the user out of the import. */
  record: Auth0User | null;
  problems: RecordProblem[];
  /** The password's mapping (custom_password_hash, or why there is none). */
  password: Auth0HashResult;
}

/** Keys Auth0 refuses inside app_metadata (bulk-import schema page). */
export const RESERVED_APP_METADATA_KEYS: ReadonlySet<string> = new Set([
  '__tenant', '_id', 'blocked', 'clientID', 'created_at', 'email_verified', 'email', 'globalClientID', 'global_client_id',
  'identities', 'lastIP', 'lastLogin', 'loginsCount', 'metadata', 'multifactor_last_modified', 'multifactor', 'updated_at', 'user_id',
]);

export const AUTH0_LIMITS = {
  emailLocal: 64,
  emailDomain: 256,
  username: 128,
  /** A database connection's default maximum username length (configurable up to 128). */
  usernameDefault: 15,
  userId: 255,
  name: 300,
  nickname: 300,
  given_name: 150,
  family_name: 150,
} as const;

/** The format ajv-formats checks for `format: email` (the schema's own check), case-insensitive. */
const EMAIL =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;
const USERNAME = /^[a-z0-9_+\-.!#$^`~@']+$/;

function checkEmail(email: string | undefined, out: RecordProblem[]): void {
  const p = (code: string, message: string): void => void out.push({ code, field: 'email', message, blocking: true });
  if (email === undefined) return p('email_missing', 'no email: Auth0 requires one for every imported user');
  const at = email.lastIndexOf('@');
  if (!EMAIL.test(email)) return p('email_invalid', 'not in the email format the import schema checks');
  if (at > AUTH0_LIMITS.emailLocal) p('email_too_long', `the local part is ${at} characters (Auth0 allows ${AUTH0_LIMITS.emailLocal})`);
  const domain = email.length - at - 1;
  if (domain > AUTH0_LIMITS.emailDomain) p('email_too_long', `the domain is ${domain} characters (Auth0 allows ${AUTH0_LIMITS.emailDomain})`);
}

function checkUsername(username: string | undefined, out: RecordProblem[]): void {
  if (username === undefined) return;
  const p = (code: string, message: string, blocking = true): void => void out.push({ code, field: 'username', message, blocking });
  if (username.length > AUTH0_LIMITS.username) p('username_too_long', `${username.length} characters (Auth0 allows ${AUTH0_LIMITS.username})`);
  else if (username.length > AUTH0_LIMITS.usernameDefault) {
    p('username_over_default_length', `${username.length} characters: raise the connection's maximum username length (default ${AUTH0_LIMITS.usernameDefault}, up to ${AUTH0_LIMITS.username})`, false);
  }
  if (!USERNAME.test(username)) p('username_invalid', "characters Auth0 does not allow in a username (a-z 0-9 _ + - . ! # $ ^ ` ~ @ ' only)");
  else if (EMAIL.test(username)) p('username_is_email', 'an email address: Auth0 does not accept one as a username');
}

function checkUserId(userId: string, out: RecordProblem[]): void {
  if (userId.length > AUTH0_LIMITS.userId) out.push({ code: 'user_id_too_long', field: 'user_id', message: `${userId.length} characters (Auth0 allows ${AUTH0_LIMITS.userId})`, blocking: true });
  if (/\s/.test(userId) || userId.length === 0) out.push({ code: 'user_id_invalid', field: 'user_id', message: 'empty or contains whitespace', blocking: true });
}

/** True when a key, or any key below it, contains '.' or '$' (Auth0 answers 500 to such metadata). */
function badKeys(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(badKeys);
  if (v === null || typeof v !== 'object' || v instanceof Date || Buffer.isBuffer(v)) return false;
  return Object.entries(v).some(([k, x]) => /[.$]/.test(k) || badKeys(x));
}

/** Metadata as Auth0 can take it: reserved and invalid keys dropped (and reported); undefined when empty. */
function metadata(kind: 'app_metadata' | 'user_metadata', source: Record<string, unknown>, out: RecordProblem[]): Record<string, unknown> | undefined {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    const field = `${kind}.${key}`;
    if (kind === 'app_metadata' && RESERVED_APP_METADATA_KEYS.has(key)) {
      out.push({ code: 'app_metadata_reserved_key', field, message: 'a key Auth0 reserves: left out of app_metadata', blocking: false });
    } else if (/[.$]/.test(key) || badKeys(value)) {
      out.push({ code: 'metadata_key_invalid', field, message: "a key with '.' or '$' (here or below): left out", blocking: false });
    } else {
      kept[key] = value;
    }
  }
  return Object.keys(kept).length > 0 ? kept : undefined;
}

/** The Auth0 import record for this user, the problems Auth0 would have with it, and the password's mapping. */
export function toAuth0User(user: LegacyUser, config: Pick<Config, 'profile' | 'passwords'>): Auth0UserResult {
  const problems: RecordProblem[] = [];
  const profile = toProfile(user, config.profile.user_id_prefix);
  let userId = profile.user_id;
  if (userId.startsWith('auth0|')) {
    userId = userId.slice('auth0|'.length);
    problems.push({ code: 'user_id_auth0_prefix', field: 'user_id', message: "starts with 'auth0|', which the import adds itself: left out", blocking: false });
  }
  checkUserId(userId, problems);
  checkEmail(profile.email, problems);
  checkUsername(profile.username, problems);

  const record: Partial<Auth0User> = { user_id: userId, email: profile.email };
  if (profile.email_verified !== undefined) record.email_verified = profile.email_verified;
  if (profile.username !== undefined) record.username = profile.username;
  for (const field of ['given_name', 'family_name', 'name', 'nickname'] as const) {
    const v = profile[field];
    if (v === undefined) continue;
    if (v.length > AUTH0_LIMITS[field]) {
      problems.push({ code: `${field}_too_long`, field, message: `${v.length} characters (Auth0 allows ${AUTH0_LIMITS[field]}): left out`, blocking: false });
    } else {
      record[field] = v;
    }
  }
  if (profile.picture !== undefined) record.picture = profile.picture;
  if (isBlocked({ blocked: user.blocked, active: user.active })) record.blocked = true;
  const app = metadata('app_metadata', profile.app_metadata, problems);
  if (app) record.app_metadata = app;
  const usr = metadata('user_metadata', profile.user_metadata, problems);
  if (usr) record.user_metadata = usr;

  const password = toAuth0PasswordHash(user, config.passwords);
  if (password.ok) record.custom_password_hash = password.custom_password_hash;
  const blocked = problems.some((p) => p.blocking);
  return { record: blocked ? null : (record as Auth0User), problems, password };
}

/** The record as JSON text (metadata may hold bigints from a driver: safe ones as numbers, others as strings). */
export function serialiseRecord(record: Auth0User): string {
  return JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v));
}
