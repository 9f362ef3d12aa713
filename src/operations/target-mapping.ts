/**
 * The start every email-keyed export target (kratos/, okta/, keycloak/) makes on a user: the profile, the blocking
 * email problem, the target's hash mapping, the values that must not repeat within one file, and the mapping without
 * its record. Apart from export.ts, which imports the targets: they import only this module (and types) at run time.
 */
import type { LegacyUser } from '../../adapters/types.js';
import type { Config } from '../config.js';
import { toProfile, type Profile } from '../profile.js';
import type { RecordProblem } from './auth0/record.js';
import type { PasswordMapping, TargetMapping } from './export.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The blocking email problem of a record, if any: none, or not an address. `missing` says why the target needs one. */
export function emailProblem(email: string | undefined, field: string, missing: string): RecordProblem | undefined {
  if (email === undefined) return { code: 'email_missing', field, message: missing, blocking: true };
  if (!EMAIL.test(email)) return { code: 'email_invalid', field, message: 'not an email address', blocking: true };
  return undefined;
}

export interface MappingStart<H> {
  profile: Profile;
  /** The email problem, if any; the target adds its own. */
  problems: RecordProblem[];
  /** The target's own hash mapping (with its hash when ok). */
  password: H;
  /** The TargetMapping but its record (its password part never holds the hash). */
  base: Omit<TargetMapping, 'record'>;
  /** A blocking problem keeps the user out: the target maps no record. */
  blocked: boolean;
}

export function startMapping<H extends PasswordMapping>(
  user: LegacyUser,
  config: Pick<Config, 'profile' | 'passwords'>,
  o: {
    /** Where the email goes in the target's record, and why the target needs one. */
    emailField: string;
    noEmail: string;
    hash: (user: LegacyUser, passwords: Config['passwords']) => H;
    /** The username the target records, when it records one (it must not repeat within a file either). */
    username?: (profile: Profile) => string | undefined;
  },
): MappingStart<H> {
  const profile = toProfile(user, config.profile.user_id_prefix);
  const problems: RecordProblem[] = [];
  const emailIssue = emailProblem(profile.email, o.emailField, o.noEmail);
  if (emailIssue) problems.push(emailIssue);
  const password = o.hash(user, config.passwords);
  const username = o.username?.(profile);
  const keys = [`id:${profile.user_id}`, ...(profile.email ? [`email:${profile.email}`] : []), ...(username ? [`username:${username}`] : [])];
  // The mapping as reported: never the hash itself.
  const reported: PasswordMapping = password.ok ? { ok: true, scheme: password.scheme } : password;
  const base = { userId: profile.user_id, email: profile.email, keys, problems, password: reported };
  return { profile, problems, password, base, blocked: problems.some((x) => x.blocking) };
}
