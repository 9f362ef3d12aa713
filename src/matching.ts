/**
 * The gateway's login matching rule (one rule, every store):
 *
 *   a login names a row when the row's email or username equals it after normalisation:
 *   trim surrounding whitespace, then Unicode lower-case (String.prototype.toLowerCase);
 *   no compatibility folding (NFKC), no accent stripping, no removal of invisible characters.
 *
 * A store finds candidates with whatever index or collation it has (findCandidates), and may return rows that a
 * case- or accent-insensitive collation considers equal ('ａｌｉｃｅ', 'alicé' and 'alice' under utf8mb4_unicode_ci).
 * Only the rows that match under this rule are kept, so a collation can never widen a match. Two kept rows are
 * ambiguous.
 */
import { AMBIGUOUS, isAmbiguous, type Ambiguous, type LegacyUser, type UserStore } from '../adapters/types.js';

/**
 * The most candidate rows a store returns for one login. A login that brings back this many rows may have more
 * beyond the limit; unless two of the returned rows already match, it is answered as ambiguous (fail closed) rather
 * than guessing that no unseen row matches.
 */
export const CANDIDATE_LIMIT = 20;

/** The normal form of a login, and of a row's email and username: trimmed, then lower-cased. */
export function normaliseLogin(login: string): string {
  return login.trim().toLowerCase();
}

/** Does this row answer to this (already normalised) login under the gateway's rule? */
export function rowMatches(user: Pick<LegacyUser, 'email' | 'username'>, normalised: string): boolean {
  return (
    (typeof user.email === 'string' && normaliseLogin(user.email) === normalised) ||
    (typeof user.username === 'string' && normaliseLogin(user.username) === normalised)
  );
}

/** Keep the candidates the login really names: one user, none (null), or AMBIGUOUS. */
export function matchLogin(candidates: readonly LegacyUser[] | Ambiguous, login: string): LegacyUser | null | Ambiguous {
  if (isAmbiguous(candidates)) return AMBIGUOUS;
  const needle = normaliseLogin(login);
  const kept = candidates.filter((u) => rowMatches(u, needle));
  if (kept.length > 1) return AMBIGUOUS;
  if (candidates.length >= CANDIDATE_LIMIT) return AMBIGUOUS;
  return kept[0] ?? null;
}

/** The store's candidates for a login, narrowed by the rule: the one answer every caller wants. */
export async function findByLogin(store: Pick<UserStore, 'findCandidates'>, login: string): Promise<LegacyUser | null | Ambiguous> {
  return matchLogin(await store.findCandidates(login), login);
}
