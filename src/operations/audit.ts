/**
 * `legacy-gateway audit [--json] [--require-username]`: streams every user once and reports, rule by rule, each one
 * that would fail to migrate (at login, through the gateway) or to import (a bulk-import file). RULES lists them.
 *
 * Blockers: email missing, invalid, or shared with another user (exactly, or once lower-cased); username shared
 * (exactly, or once lower-cased), not accepted by the IdP, or missing where the connection requires one; a login that
 * is one user's email and another's username (the gateway answers it as ambiguous); values the IdP refuses the user
 * for (over its limits, a bad user_id); a password the gateway can't verify.
 * Warnings: reserved app_metadata keys and other values the import leaves out or rewrites; passwords stored in
 * cleartext, missing or unusable, or in a format the IdP can't import as a hash (those users come over only by
 * logging in, or by a password reset); blocked and locked accounts.
 * The IdP's rules are those of the Auth0 import record (auth0/record.ts, shared with `export`).
 *
 * Users already migrated are in the IdP: only their email and username take part (a user still to migrate who shares
 * one with them conflicts all the same). Exit 1 when a blocker was found, 0 otherwise, 2 on a usage error.
 *
 * Memory: nothing per user but its id, a migrated flag and a few fingerprints in typed arrays (see FirstSeen); the
 * findings hold indexes. Never a password, hash or salt in the output.
 */
import crypto from 'node:crypto';
import type { LegacyUser, UserStore } from '../../adapters/types.js';
import type { Config } from '../config.js';
import { isCleartextScheme, resolveScheme } from '../passwords/index.js';
import { isBlocked } from '../profile.js';
import { toAuth0User, type RecordProblem } from './auth0/record.js';
import { loadConfig, parseFlags, withStore, type CliIO } from './cli.js';
import { startProgress, type Progress } from './progress.js';

export type Severity = 'blocker' | 'warning';

export const RULES = [
  ['email_missing', 'blocker', 'No email address'],
  ['email_invalid', 'blocker', 'Email address not in the format the import schema checks'],
  ['email_duplicate', 'blocker', 'Same email address as another user'],
  ['email_duplicate_case', 'blocker', 'Same email address as another user once lower-cased'],
  ['username_missing', 'blocker', 'No username, and the connection requires one'],
  ['username_invalid', 'blocker', "Username the IdP doesn't accept (characters, or an email address)"],
  ['username_duplicate', 'blocker', 'Same username as another user'],
  ['username_duplicate_case', 'blocker', 'Same username as another user once lower-cased'],
  ['login_collision', 'blocker', "One user's email is another user's username: that login is ambiguous"],
  ['login_untrimmed', 'blocker', 'Email or username stored with whitespace around it: no login finds the user'],
  ['user_id_invalid', 'blocker', "user_id the IdP doesn't accept (too long, empty, or with whitespace)"],
  ['profile_over_limit', 'blocker', "Value over the IdP's limits that it refuses the user for"],
  ['profile_invalid', 'blocker', 'Other value the IdP refuses the user for'],
  ['password_unverifiable', 'blocker', "Password in a scheme or format the gateway can't verify"],
  ['app_metadata_reserved_key', 'warning', 'Reserved key in app_metadata: left out of the import'],
  ['profile_adjusted', 'warning', "Value the IdP won't take as it is: left out or rewritten in the import, or a connection setting to change"],
  ['password_cleartext', 'warning', 'Password stored in cleartext'],
  ['password_missing', 'warning', 'No usable password: the user can only come over by a password reset'],
  ['password_not_importable', 'warning', "Hash the IdP can't import: the user comes over only by logging in, or by a password reset"],
  ['account_blocked', 'warning', 'Account blocked or disabled in the legacy app'],
  ['account_locked', 'warning', 'Account locked out until a future time'],
] as const satisfies readonly (readonly [string, Severity, string])[];

export type RuleId = (typeof RULES)[number][0];

export interface Finding {
  /** The legacy primary key. */
  id: string;
  /** The other user, for duplicates and collisions (the first one met in primary-key order). */
  same_as?: string;
  /** Which field, scheme or reason: never a value from the row. */
  detail?: string;
}

export interface RuleReport {
  rule: RuleId;
  severity: Severity;
  title: string;
  /** false: not checked in this run (username_missing without --require-username; password rules for a store that checks passwords itself). */
  checked: boolean;
  count: number;
  users: Finding[];
}

export interface AuditReport {
  scanned: number;
  /** Already migrated: checked for shared emails and usernames only. */
  migrated: number;
  users_with_blockers: number;
  users_with_warnings: number;
  require_username: boolean;
  rules: RuleReport[];
}

export interface AuditOptions {
  requireUsername?: boolean;
  progress?: Progress;
  /** How many users the store holds, when known: the uniqueness tables are sized for them up front. */
  expectedUsers?: number;
  /** Set by audit() for a store that checks passwords itself (a legacy web service): no password rule applies. */
  passwordsElsewhere?: boolean;
  now?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Uniqueness without keeping the keys

/**
 * Key → the scan index of the first user that had it, in typed arrays: 16 bytes a slot, at most 70% of the slots
 * used, where a Map of strings costs several times that. A key is known by 64 bits of its SHA-1 (two different keys
 * share them with odds of about 1 in 10^7 across two million keys), plus 32 bits of the SHA-1 of its exact
 * spelling, which tell an exact duplicate from one that differs only in case. Sized from the expected number of
 * users when known, so that it never has to grow (a growth briefly holds the old arrays and the new).
 */
class FirstSeen {
  private hi!: Uint32Array;
  private lo!: Uint32Array;
  private exact!: Uint32Array;
  private first!: Int32Array;
  private size = 0;

  constructor(expected = 0) {
    this.allocate(Math.max(1024, Math.ceil(expected / MAX_LOAD) + 1));
  }

  private allocate(capacity: number): void {
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.exact = new Uint32Array(capacity);
    this.first = new Int32Array(capacity).fill(-1);
  }

  private slot(hi: number, lo: number): number {
    const n = this.first.length;
    let s = lo % n;
    while (this.first[s] !== -1 && (this.hi[s] !== hi || this.lo[s] !== lo)) s = s + 1 === n ? 0 : s + 1;
    return s;
  }

  private grow(): void {
    const old = { hi: this.hi, lo: this.lo, exact: this.exact, first: this.first };
    this.allocate(old.first.length * 2);
    for (let i = 0; i < old.first.length; i++) {
      if (old.first[i] === -1) continue;
      const s = this.slot(old.hi[i]!, old.lo[i]!);
      this.hi[s] = old.hi[i]!;
      this.lo[s] = old.lo[i]!;
      this.exact[s] = old.exact[i]!;
      this.first[s] = old.first[i]!;
    }
  }

  /** The first index that had this key (and whether it was spelled the same), or null once this one is recorded. */
  add(key: Key, index: number): { first: number; sameSpelling: boolean } | null {
    const s = this.slot(key.hi, key.lo);
    if (this.first[s] !== -1) return { first: this.first[s]!, sameSpelling: this.exact[s] === key.exact };
    this.hi[s] = key.hi;
    this.lo[s] = key.lo;
    this.exact[s] = key.exact;
    this.first[s] = index;
    if (++this.size > this.first.length * MAX_LOAD) this.grow();
    return null;
  }

  /** The first index that had this key, or -1. */
  get(key: Key): number {
    return this.first[this.slot(key.hi, key.lo)]!;
  }
}

const MAX_LOAD = 0.7;

interface Key {
  hi: number;
  lo: number;
  exact: number;
}

/** One-shot crypto.hash where Node has it (20.12+), createHash otherwise. */
const sha1: (s: string) => Buffer =
  typeof crypto.hash === 'function' ? (s) => crypto.hash('sha1', s, 'buffer') : (s) => crypto.createHash('sha1').update(s).digest();

/** The login form (trimmed, lower-cased: the gateway's matching rule) and the exact spelling, as fingerprints. */
function keyOf(value: string): Key {
  const trimmed = value.trim();
  const lower = trimmed.toLowerCase();
  const d = sha1(lower);
  const exact = trimmed === lower ? d.readUInt32BE(8) : sha1(trimmed).readUInt32BE(8);
  return { hi: d.readUInt32BE(0), lo: d.readUInt32BE(4), exact };
}

/**
 * Every user met, in scan order: the id as UTF-8 in one growing buffer (its length plus 4 bytes each, where a string
 * per id costs some 40 bytes) and whether it is migrated. A finding names users by their index here.
 */
class UserList {
  private bytes = Buffer.alloc(1 << 16);
  private ends = new Uint32Array(1 << 12);
  private migrated = new Uint8Array(1 << 12);
  private used = 0;
  length = 0;

  push(id: string, migrated: boolean): number {
    const need = Buffer.byteLength(id, 'utf8');
    if (this.used + need > this.bytes.length) {
      const bigger = Buffer.alloc(Math.max(this.bytes.length * 2, this.used + need));
      this.bytes.copy(bigger, 0, 0, this.used);
      this.bytes = bigger;
    }
    if (this.length === this.ends.length) {
      const ends = new Uint32Array(this.length * 2);
      ends.set(this.ends);
      this.ends = ends;
      const flags = new Uint8Array(this.length * 2);
      flags.set(this.migrated);
      this.migrated = flags;
    }
    this.used += this.bytes.write(id, this.used, 'utf8');
    this.ends[this.length] = this.used;
    this.migrated[this.length] = migrated ? 1 : 0;
    return this.length++;
  }

  id(i: number): string {
    return this.bytes.toString('utf8', i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }

  isMigrated(i: number): boolean {
    return this.migrated[i] === 1;
  }
}

const text = (v: string | undefined) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

// ---------------------------------------------------------------------------------------------------------------
// The scan

/** Findings per rule as flat [user index, other index or -1, detail index or -1] triples: no object per finding. */
class Findings {
  private readonly lists = new Map<RuleId, number[]>(RULES.map(([id]) => [id, []]));
  private readonly details: string[] = [];
  private readonly detailIndex = new Map<string, number>();

  add(rule: RuleId, user: number, other = -1, detail?: string): void {
    let d = -1;
    if (detail !== undefined) {
      d = this.detailIndex.get(detail) ?? -1;
      if (d === -1) this.detailIndex.set(detail, (d = this.details.push(detail) - 1));
    }
    this.lists.get(rule)!.push(user, other, d);
  }

  toReport(seen: UserList, checked: (rule: RuleId) => boolean): RuleReport[] {
    return RULES.map(([rule, severity, title]) => {
      const flat = this.lists.get(rule)!;
      const users: Finding[] = [];
      for (let i = 0; i < flat.length; i += 3) {
        const f: Finding = { id: seen.id(flat[i]!) };
        if (flat[i + 1]! >= 0) f.same_as = seen.id(flat[i + 1]!);
        if (flat[i + 2]! >= 0) f.detail = this.details[flat[i + 2]!]!;
        users.push(f);
      }
      return { rule, severity, title, checked: checked(rule), count: users.length, users };
    });
  }
}

const SEVERITY = new Map<RuleId, Severity>(RULES.map(([id, s]) => [id, s]));

/** The import record's problem codes (src/operations/auth0/record.ts), as audit rules. */
const RECORD_RULES: Record<string, RuleId> = {
  email_missing: 'email_missing',
  email_invalid: 'email_invalid',
  email_too_long: 'profile_over_limit',
  username_too_long: 'profile_over_limit',
  username_invalid: 'username_invalid',
  username_is_email: 'username_invalid',
  user_id_too_long: 'user_id_invalid',
  user_id_invalid: 'user_id_invalid',
  app_metadata_reserved_key: 'app_metadata_reserved_key',
};

/** A problem without a rule of its own: a blocker when the IdP refuses the user for it, a warning otherwise. */
export const recordRule = (p: Pick<RecordProblem, 'code' | 'blocking'>): RuleId => RECORD_RULES[p.code] ?? (p.blocking ? 'profile_invalid' : 'profile_adjusted');

/** The finding's detail: the field and the problem's code, less what the rule already says. */
function recordDetail(p: RecordProblem, rule: RuleId): string | undefined {
  if (p.code !== rule) return `${p.field}: ${p.code}`;
  return p.field.includes('.') ? p.field : undefined;
}

/** Password reasons (src/operations/auth0/hash.ts) that mean the gateway's own verifier fails on the value too. */
const UNVERIFIABLE = /^(missing_salt|missing_key|malformed_hash|over_limits):/;

/** Every check that needs one user only: the IdP's record rules, the password, the account's state. */
function checkUser(u: LegacyUser, config: Config, o: AuditOptions, report: (rule: RuleId, detail?: string) => void): void {
  const record = toAuth0User(u, config);
  for (const p of record.problems) {
    const rule = recordRule(p);
    report(rule, recordDetail(p, rule));
  }
  if (o.requireUsername && !text(u.username)) report('username_missing');
  // The store compares the stored value as it is (an index on lower(email) holds ' bob@x.com' with its space): a login
  // is trimmed, so no login ever finds such a row. (A legacy web service finds users by its own rules.)
  if (!o.passwordsElsewhere) {
    for (const [field, v] of [['email', u.email], ['username', u.username]] as const) {
      if (typeof v === 'string' && v.trim() !== '' && v !== v.trim()) report('login_untrimmed', field);
    }
  }

  const r = resolveScheme(u, config.passwords);
  const h = record.password;
  if (o.passwordsElsewhere) {
    // a legacy service checks its passwords itself: there is no stored value to judge
  } else if (!r.scheme) {
    if (r.reason === 'no_password') report('password_missing');
    else report('password_unverifiable', r.reason);
  } else if (isCleartextScheme(r.scheme.name)) report('password_cleartext', r.scheme.name);
  else if (!h.ok) {
    if (h.reason === 'unusable_password') report('password_missing', h.reason);
    else report(UNVERIFIABLE.test(h.reason) ? 'password_unverifiable' : 'password_not_importable', h.reason);
  }

  if (isBlocked({ blocked: u.blocked, active: u.active })) report('account_blocked');
  if (isBlocked({ lockedUntil: u.lockedUntil }, o.now)) report('account_locked');
}

const PASSWORD_RULES = new Set<RuleId>(['password_unverifiable', 'password_cleartext', 'password_missing', 'password_not_importable']);

export async function audit(store: Pick<UserStore, 'scan' | 'verifyCredentials'>, config: Config, o: AuditOptions = {}): Promise<AuditReport> {
  const opts: AuditOptions = { ...o, now: o.now ?? Date.now(), passwordsElsewhere: typeof store.verifyCredentials === 'function' };
  const emails = new FirstSeen(o.expectedUsers);
  const usernames = new FirstSeen(o.expectedUsers);
  const users = new UserList();
  const findings = new Findings();
  let withBlockers = 0;
  let withWarnings = 0;
  let migratedCount = 0;

  for await (const u of store.scan()) {
    const isMigrated = u.migratedAt !== null && u.migratedAt !== undefined;
    const i = users.push(u.id, isMigrated);
    if (isMigrated) migratedCount++;
    const seen = new Set<Severity>();
    const report = (rule: RuleId, other = -1, detail?: string) => {
      findings.add(rule, i, other, detail);
      seen.add(SEVERITY.get(rule)!);
    };
    // A pair of migrated users is the IdP's business now; a pair with one user still to move is a conflict.
    const pair = (rule: RuleId, other: number) => {
      if (!(isMigrated && users.isMigrated(other))) report(rule, other);
    };
    const email = text(u.email);
    const username = text(u.username);
    const ek = email === undefined ? undefined : keyOf(email);
    const uk = username === undefined ? undefined : keyOf(username);
    if (ek) {
      const dup = emails.add(ek, i);
      if (dup) pair(dup.sameSpelling ? 'email_duplicate' : 'email_duplicate_case', dup.first);
      const other = usernames.get(ek);
      if (other >= 0 && other !== i) pair('login_collision', other);
    }
    if (uk) {
      const dup = usernames.add(uk, i);
      if (dup) pair(dup.sameSpelling ? 'username_duplicate' : 'username_duplicate_case', dup.first);
      const other = emails.get(uk);
      if (other >= 0 && other !== i) pair('login_collision', other);
    }
    if (!isMigrated) checkUser(u, config, opts, (rule, detail) => report(rule, -1, detail));
    if (seen.has('blocker')) withBlockers++;
    if (seen.has('warning')) withWarnings++;
    o.progress?.tick();
  }
  return {
    scanned: users.length,
    migrated: migratedCount,
    users_with_blockers: withBlockers,
    users_with_warnings: withWarnings,
    require_username: o.requireUsername === true,
    rules: findings.toReport(users, (rule) => (rule === 'username_missing' ? o.requireUsername === true : !(opts.passwordsElsewhere && PASSWORD_RULES.has(rule)))),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Output

/** Users listed per rule in the human output; --json lists them all. */
const SHOWN = 100;

const fmt = (n: number) => n.toLocaleString('en-US');

function describe(f: Finding): string {
  const extra = [f.same_as !== undefined ? `same as ${f.same_as}` : '', f.detail ?? ''].filter(Boolean).join('; ');
  return extra ? `${f.id} (${extra})` : f.id;
}

export function formatAudit(r: AuditReport): string {
  const out = [`Audited ${fmt(r.scanned)} users (${fmt(r.migrated)} already migrated: checked for shared emails and usernames only).`];
  for (const severity of ['blocker', 'warning'] as const) {
    const found = r.rules.filter((x) => x.severity === severity && x.count > 0);
    const usersWith = severity === 'blocker' ? r.users_with_blockers : r.users_with_warnings;
    out.push(
      '',
      severity === 'blocker'
        ? `BLOCKERS (these users would fail to migrate or import): ${fmt(usersWith)} user${usersWith === 1 ? '' : 's'}`
        : `WARNINGS: ${fmt(usersWith)} user${usersWith === 1 ? '' : 's'}`,
    );
    if (found.length === 0) out.push('  none');
    for (const rule of found) {
      out.push(`  ${rule.rule}: ${rule.title} (${fmt(rule.count)})`);
      const shown = rule.users.slice(0, SHOWN).map(describe);
      out.push(`    ${shown.join(', ')}${rule.count > SHOWN ? `, … and ${fmt(rule.count - SHOWN)} more (--json lists them all)` : ''}`);
    }
  }
  const clean = r.rules.filter((x) => x.checked && x.count === 0).map((x) => x.rule);
  const unchecked = r.rules.filter((x) => !x.checked).map((x) => x.rule);
  out.push('', `No findings: ${clean.length ? clean.join(', ') : '(none)'}`);
  if (unchecked.length) {
    out.push(`Not checked: ${unchecked.join(', ')}`);
    if (!r.require_username) out.push('  (pass --require-username when the connection requires usernames)');
    if (unchecked.some((x) => PASSWORD_RULES.has(x))) out.push('  (the legacy service checks passwords itself: there are no stored hashes to judge)');
  }
  out.push('', r.users_with_blockers > 0 ? 'Result: blockers found (exit 1).' : 'Result: no blockers (exit 0).', '');
  return out.join('\n');
}

/** `legacy-gateway audit [--json] [--require-username]` */
export async function run(args: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, { json: { type: 'boolean' }, 'require-username': { type: 'boolean' } });
  const config = loadConfig(flags.config, io);
  const report = await withStore(config, async (store) => {
    // The total, for the bar and the percentage (a store that can't count gives a running count instead).
    const total = await store.migrationStatus().then(
      (s) => s.total,
      () => undefined,
    );
    const progress = startProgress('audit', { stream: io.stderr, ...(total === undefined ? {} : { total }) });
    try {
      return await audit(store, config, { requireUsername: flags['require-username'] === true, progress, expectedUsers: total });
    } finally {
      progress.stop();
    }
  });
  io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatAudit(report));
  return report.users_with_blockers > 0 ? 1 : 0;
}

/** `legacy-gateway audit --help`. */
export const help = `legacy-gateway audit — every user that would fail to migrate or to import

Usage:
  legacy-gateway audit [--config FILE] [--json] [--require-username]

Reads every user once and reports, rule by rule, blockers (missing, invalid or shared emails, usernames the IdP
refuses, passwords the gateway can't verify, ...) and warnings. Exit 1 when a blocker was found, 0 otherwise.

Options:
  -c, --config FILE    the gateway's configuration (default: $LEGACY_GATEWAY_CONFIG)
  --json               print the findings as JSON
  --require-username   the IdP connection requires a username: a user without one is a blocker

Example:
  legacy-gateway audit --config gateway.yaml --json > audit.json
`;
