/**
 * The one interface every legacy store implements.
 * "Not found" is null; only infrastructure failures throw.
 */

/** A legacy user row, already mapped from the store's own column names. */
export interface LegacyUser {
  /** Canonical string form of the legacy primary key (no prefix). */
  id: string;
  email?: string | undefined;
  username?: string | undefined;
  /** Stored password value exactly as the legacy app wrote it. Never leaves the gateway. */
  password?: string | undefined;
  /** Separate salt column, for schemes that keep the salt outside the hash. */
  salt?: string | undefined;
  /** Per-row scheme name (columns.password_scheme). */
  passwordScheme?: string | undefined;
  emailVerified?: unknown;
  name?: string | undefined;
  givenName?: string | undefined;
  familyName?: string | undefined;
  nickname?: string | undefined;
  picture?: string | undefined;
  blocked?: unknown;
  /** Falsy means blocked (is_active, IsApproved, status). */
  active?: unknown;
  /** A time in the future means blocked (LockoutEnd). */
  lockedUntil?: unknown;
  appMetadata: Record<string, unknown>;
  userMetadata: Record<string, unknown>;
  /** ISO 8601 timestamp of the migration mark, or null when not migrated. */
  migratedAt: string | null;
  /** ISO 8601 time of the user's last login in the legacy app (columns.last_login), when mapped and set. */
  lastLogin?: string | undefined;
}

/**
 * A stored time as ISO 8601 (LegacyUser.lastLogin, migration marks), or undefined when it is not one: a valid Date, or
 * text that starts like ISO 8601 (a zone-less "YYYY-MM-DD HH:MM:SS" is UTC). Numbers are not read as times: epoch
 * seconds and milliseconds can't be told apart.
 */
export function instantIso(v: unknown): string | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  // Text only when it starts like ISO 8601: Date's lenient parsing would read "5" as May 2001.
  if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\d/.test(v)) return undefined;
  const d = new Date(/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?$/.test(v) ? `${v.replace(' ', 'T')}Z` : v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** More than one legacy row answers to the same login. */
export interface Ambiguous {
  ambiguous: true;
}

export const AMBIGUOUS: Ambiguous = Object.freeze({ ambiguous: true as const });

export function isAmbiguous(v: unknown): v is Ambiguous {
  return typeof v === 'object' && v !== null && (v as Ambiguous).ambiguous === true;
}

export interface MigrationStatus {
  total: number;
  migrated: number;
  /**
   * Users not migrated but written to a bulk-export file (`legacy-gateway export`), from the export ledger.
   * null when the store keeps no export ledger (a web service store, or the ledger table is absent).
   */
  exported: number | null;
  /** total - migrated - exported: users that still depend on the legacy store. */
  remaining: number;
  /** Migration marks per UTC day ("YYYY-MM-DD"), oldest first; days without marks are omitted. */
  perDay: { day: string; count: number }[];
  /**
   * Of the remaining users, how many logged in to the legacy app within the last 30 and 90 days (they are likely to
   * migrate on their own). null without columns.last_login.
   */
  activeRemaining: { days30: number; days90: number } | null;
}

/** A connection pool's state. */
export interface PoolStats {
  /** Connections open now (idle and in use). */
  open: number;
  idle: number;
  /** Requests queued for a connection. */
  waiting: number;
  /** The pool's size limit (store.pool_max). */
  max: number;
}

/** One item of a schema probe: a configured table or column, the migration state, or the connection itself. */
export interface ProbeResult {
  what: string;
  ok: boolean;
  /**
   * The driver's error code when not ok (never its message). For the connection item: the database, the driver's
   * code and message and a hint (src/dbhints.ts; connection-level messages carry no user data).
   */
  error?: string;
  /** The store could not be reached at all: nothing else was probed. */
  connection?: boolean;
  /**
   * Not needed to serve requests (the export ledger: only `export` and `status` use it). ok is then always true, so
   * that start-up never refuses over it; what the probe found is in `absent` (no such table) or `error`.
   */
  optional?: boolean;
  /** An optional item that does not exist. */
  absent?: boolean;
}

export interface UserStore {
  /**
   * The rows that may answer to this login (email or username), found with whatever index or collation the store
   * has, at most CANDIDATE_LIMIT of them (src/matching.ts). Rows that a collation merely considers equal may be
   * among them: the gateway keeps only the rows that match under its own rule (matchLogin). Migrated users are
   * returned too (with migratedAt). AMBIGUOUS only from a store that can't list candidates (a web service's 409).
   * A login the store can't even compare (a character its character set can't hold) has no candidates: [].
   */
  findCandidates(login: string): Promise<LegacyUser[] | Ambiguous>;
  findById(id: string): Promise<LegacyUser | null>;
  /** Idempotent: returns the first timestamp. null when no such user. */
  markMigrated(id: string): Promise<string | null>;
  /** false when no such user. */
  unmarkMigrated(id: string): Promise<boolean>;
  migrationStatus(): Promise<MigrationStatus>;
  /**
   * Optional, for stores that check passwords themselves (a legacy web service): the user when the store accepts
   * these credentials, null when it refuses them (unknown user and wrong password alike), AMBIGUOUS when the login
   * names more than one user. Migrated and blocked users are returned like any other; the gateway decides.
   * When present, Gateway.verify uses it instead of findByLogin + a local hash check.
   */
  verifyCredentials?(login: string, password: string): Promise<LegacyUser | null | Ambiguous>;
  /** Streams every user (for sampling, audit and export), in primary-key order, never all of them in memory. */
  scan(): AsyncIterable<LegacyUser>;
  /**
   * Optional: records that these users were written to a bulk-export file (the export ledger), idempotently (a
   * repeat keeps the first time). Absent for stores that keep no ledger; `export` then says so.
   */
  markExported?(ids: string[]): Promise<void>;
  /** Optional, for stores with a connection pool: its state now (the /metrics pool gauge). */
  poolStats?(): PoolStats | undefined;
  /** Readiness: throws (StoreError) when the store can't serve requests, including a configured table or column missing. */
  ping(): Promise<void>;
  /** Optional, for stores with a schema: every configured table and column, probed one by one (check, start-up). */
  probe?(): Promise<ProbeResult[]>;
  close(): Promise<void>;
}

/**
 * Thrown by adapters when the store can't answer: the infrastructure's fault (connection, timeout, SQL error), or a
 * configuration gap or bad data that keeps this one call from being answered.
 */
export class StoreError extends Error {
  /**
   * True (the default) for a failure that may pass: the connection, a timeout, the driver or the server failing,
   * a 5xx. False for a configuration gap (an endpoint or query not configured, a mapping that finds nothing) or
   * bad data (a row without a usable id): retrying can't fix those, and they say nothing about whether the store
   * is up. Both answer 503, but only transient ones count towards opening the store circuit breaker.
   */
  readonly transient: boolean;

  constructor(message: string, options?: { cause?: unknown; transient?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.transient = options?.transient ?? true;
  }
}

