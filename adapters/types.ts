/**
 * The one interface every legacy store implements (DESIGN.md §5).
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
  remaining: number;
}

export interface UserStore {
  /** Email or username, matched case-insensitively. Migrated users are returned too (with migratedAt). */
  findByLogin(login: string): Promise<LegacyUser | null | Ambiguous>;
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
  /** Streams every user (for sampling, audit and export). */
  scan(): AsyncIterable<LegacyUser>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by adapters for anything that is the infrastructure's fault (connection, timeout, SQL error). */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
