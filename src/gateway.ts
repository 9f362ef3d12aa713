/**
 * The use cases behind the HTTP API: verify, lookup, get, mark/unmark migrated, status.
 * Everything here speaks in legacy rows and profiles; HTTP lives in routes.ts.
 */
import { randomBytes } from 'node:crypto';
import { BrokenCircuitError, circuitBreaker, CircuitState, ConsecutiveBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { isAmbiguous, StoreError, type Ambiguous, type LegacyUser, type UserStore } from '../adapters/types.js';
import { ambiguousLogin, ApiError, invalidCredentials, storeUnavailable, userNotFound } from './errors.js';
import { limiterKey, type LoginLimiter } from './limiter.js';
import { errorClass, errorCode, type Logger } from './logger.js';
import { getScheme, resolveScheme, VerificationAbandoned, verifyWith, type PasswordPolicy, type PasswordScheme } from './passwords/index.js';
import { findByLogin, normaliseLogin, rowMatches } from './matching.js';
import { legacyIdFrom, toProfile, type Profile } from './profile.js';
import { buildStatus, type StatusReport } from './operations/status.js';
import type { AuditLog, AuditOp, Caller } from './audit.js';

/** A stored value of the store's dominant scheme, verified against a random password when there is no real user. */
interface Decoy {
  scheme: PasswordScheme;
  stored: string;
  row: Pick<LegacyUser, 'salt' | 'username' | 'email'>;
}

const SAMPLE_SIZE = 200;

export interface GatewayOptions {
  store: UserStore;
  passwords: PasswordPolicy;
  userIdPrefix: string;
  logger: Logger;
  limiter: LoginLimiter;
  /**
   * config.drain: answer as if the store were empty (unknown user, not found, status all zero, always ready) without
   * ever calling it. Unknown logins still cost one decoy verification, as they do otherwise.
   */
  drain?: boolean;
  /** resilience: the store circuit breaker and the per-request deadline (defaults: 5 failures, 5 s, 8 s). */
  resilience?: ResilienceOptions;
  /** One event per verify, lookup, get, mark and unmark (src/audit.ts); none when absent. */
  audit?: AuditLog;
}

export interface ResilienceOptions {
  /** Consecutive store failures that open the breaker. */
  failures: number;
  /** Open this long, then one call (a request or a readiness probe) is let through to test the store. */
  halfOpenAfterMs: number;
  /** verify, lookup and get by id answer within this, or 503 deadline_exceeded. */
  deadlineMs: number;
}

export const DEFAULT_RESILIENCE: ResilienceOptions = { failures: 5, halfOpenAfterMs: 5000, deadlineMs: 8000 };

export type BreakerState = 'closed' | 'open' | 'half_open';

/**
 * 'rejected': a store that checks passwords itself refused the login (unknown user or wrong password: it can't tell).
 * 'abandoned': the check was dropped before it started (the deadline passed, or the caller left): for the metrics
 * only; the audit event keeps what the caller was answered (deadline_exceeded) or request_abandoned.
 */
export type VerifyOutcome =
  | 'success'
  | 'unknown_user'
  | 'wrong_password'
  | 'rejected'
  | 'migrated'
  | 'blocked'
  | 'ambiguous'
  | 'no_scheme'
  | 'rate_limited'
  | 'abandoned';

/** After a failed sample (the store was down at start-up), try again at most this often. */
const DECOY_RESAMPLE_MS = 60_000;

export class Gateway {
  private decoy: Decoy | null = null;
  /** When the last sample failed: the decoy is the bcrypt fallback until a sample succeeds. */
  private decoySampleFailedAt: number | null = null;
  /**
   * True while the decoy is the bcrypt fallback (no row could be sampled: the store was down, its scan failed, or it
   * was empty). The first real row a login reads then becomes the decoy (learnDecoy), so that a store whose scan
   * cannot run (store.queries over tables the generated scan does not know) still gets its own scheme.
   */
  private decoyIsFallback = false;
  /** A re-sample was started by a store call that succeeded after the sample failed: one per recovery. */
  private resampledOnRecovery = false;
  /** The sample in progress: every caller while it runs (start-up, first requests, a re-sample) shares it. */
  private sampling: Promise<Decoy> | null = null;
  private readonly warned = new Set<string>();
  /** Observer for metrics (set by the app): the outcome, and the scheme of the stored password when one was checked. */
  onVerify: (outcome: VerifyOutcome, scheme?: string) => void = () => {};
  /** Observer for metrics: the store breaker changed state. */
  onBreaker: (state: BreakerState) => void = () => {};
  /**
   * The store circuit breaker (cockatiel): after `failures` consecutive store failures it opens, and calls fail at
   * once (503 with Retry-After) instead of each waiting for the query timeout; after halfOpenAfterMs one call probes
   * the store, and a success closes it. Only a transient StoreError (the connection, a timeout, the driver, a 5xx)
   * counts: a configuration gap or bad data (StoreError.transient false: an http store without a count endpoint, a
   * row without a usable id) still answers 503 but neither counts nor resets the count; were one to be the half-open
   * probe, cockatiel closes the breaker (the next transient failures open it again).
   */
  private readonly breaker: CircuitBreakerPolicy;
  private readonly resilience: ResilienceOptions;

  constructor(private readonly o: GatewayOptions) {
    this.resilience = o.resilience ?? DEFAULT_RESILIENCE;
    this.breaker = circuitBreaker(handleWhen((e) => e instanceof StoreError && e.transient), {
      halfOpenAfter: this.resilience.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(this.resilience.failures),
    });
    this.breaker.onStateChange((st) => {
      const state: BreakerState = st === CircuitState.Open || st === CircuitState.Isolated ? 'open' : st === CircuitState.HalfOpen ? 'half_open' : 'closed';
      if (state === 'open') this.o.logger.error({ failures: this.resilience.failures, half_open_after_ms: this.resilience.halfOpenAfterMs }, 'store circuit breaker open: store calls fail fast until a probe succeeds');
      else if (state === 'closed') this.o.logger.info({}, 'store circuit breaker closed: the store answers again');
      this.onBreaker(state);
    });
  }

  /** The breaker's state (for /readyz, metrics and tests). */
  get breakerState(): BreakerState {
    const st = this.breaker.state;
    return st === CircuitState.Open || st === CircuitState.Isolated ? 'open' : st === CircuitState.HalfOpen ? 'half_open' : 'closed';
  }

  /**
   * Run a use case within the per-request deadline: the caller gets its answer in time, or 503 deadline_exceeded
   * with Retry-After. With `abandonable` (a verify), the work gets a signal that aborts when the deadline passes or
   * when the `client` signal aborts (its caller left): a check still waiting for a hash slot then never starts
   * (verifyWith). Work already running (a store query, a hash) runs to its end.
   */
  private withinDeadline<T>(work: (abandoned?: AbortSignal) => Promise<T>, abandonable?: { client?: AbortSignal }): Promise<T> {
    // Nothing of this for a lookup or a get: no controller, no listener.
    const abandon = abandonable ? new AbortController() : undefined;
    const client = abandonable?.client;
    const onClientGone = client && (() => abandon!.abort());
    if (client?.aborted) abandon!.abort();
    else if (onClientGone) client!.addEventListener('abort', onClientGone, { once: true });
    // One promise settled by whichever comes first, the work or the timer (no Promise.race and its extra promises on
    // every request). A late result or failure of work that lost is ignored: it is handled here, never unhandled.
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        abandon?.abort();
        reject(new ApiError(503, 'deadline_exceeded', 'The request could not be answered in time. Try again later.', { 'Retry-After': '5' }));
      }, this.resilience.deadlineMs);
      const done = () => {
        clearTimeout(timer);
        if (onClientGone) client!.removeEventListener('abort', onClientGone);
      };
      // Every work is an async method: it rejects, it never throws.
      work(abandon?.signal).then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e);
        },
      );
    });
  }

  /**
   * Sample the store so an unknown login costs one verification of the dominant scheme. Concurrent callers share
   * one sample: the server starts it without waiting for it, and the first requests that need a decoy wait for that
   * same sample rather than starting their own.
   */
  prepareDecoy(): Promise<Decoy> {
    this.sampling ??= this.sampleDecoy().finally(() => {
      this.sampling = null;
    });
    return this.sampling;
  }

  /** The decoy's scheme name, once there is a decoy (for the logs and tests). */
  get decoyScheme(): string | undefined {
    return this.decoy?.scheme.name;
  }

  /** True once a decoy is ready (the first sample has finished). */
  get decoyReady(): boolean {
    return this.decoy !== null;
  }

  private async sampleDecoy(): Promise<Decoy> {
    const counts = new Map<string, { n: number; decoy: Decoy }>();
    let seen = 0;
    let failed = false;
    try {
      // A store that checks passwords itself has no hashes to sample (and its decoy is never spent); a draining
      // gateway never reads its store (bcrypt then).
      const sample: AsyncIterable<LegacyUser> | LegacyUser[] = this.o.drain || this.o.store.verifyCredentials ? [] : this.o.store.scan();
      for await (const u of sample) {
        const r = resolveScheme(u, this.o.passwords);
        if (r.scheme && u.password) {
          const c = counts.get(r.scheme.name) ?? { n: 0, decoy: { scheme: r.scheme, stored: u.password, row: { salt: u.salt, username: u.username, email: u.email } } };
          c.n += 1;
          counts.set(r.scheme.name, c);
        }
        if (++seen >= SAMPLE_SIZE) break;
      }
    } catch (e) {
      // Our own StoreError messages name the operation and the driver's code, never a value; anything else by class only.
      this.o.logger.warn({ err_class: errorClass(e), err_code: errorCode(e), ...(e instanceof StoreError ? { err: e.message } : {}) }, 'could not sample the store for the timing decoy; using bcrypt until a sample succeeds');
      failed = true;
    }
    const best = [...counts.values()].sort((a, b) => b.n - a.n)[0];
    // A failed re-sample keeps a decoy already taken from a real row (learnDecoy, possibly while the fallback below
    // was being hashed); only with nothing better is it bcrypt.
    const learned = () => (this.decoy !== null && !this.decoyIsFallback ? this.decoy : null);
    let decoy = best?.decoy ?? learned();
    let fallback = false;
    if (!decoy) {
      const stored = await bcryptHash(randomBytes(16).toString('hex'), 10);
      decoy = learned();
      if (!decoy) {
        decoy = { scheme: getScheme('bcrypt')!, stored, row: {} };
        fallback = true;
      }
    }
    this.decoy = decoy;
    this.decoyIsFallback = fallback;
    this.decoySampleFailedAt = failed ? Date.now() : null;
    this.o.logger.info({ scheme: decoy.scheme.name, sampled: seen }, 'timing decoy ready');
    return decoy;
  }

  /**
   * One verification of the decoy with the SUBMITTED password: an unknown login then costs what a known one costs,
   * for every scheme and every password length (sha-crypt, md5-crypt and phpass cost more as the password grows).
   */
  private async spendDecoy(password: string, abandoned: AbortSignal | undefined): Promise<void> {
    const d = this.decoy ?? (await this.prepareDecoy());
    // The store was down when the decoy was sampled: sample again in the background (never on this request's
    // clock), so that the fallback does not stay in place of the store's own scheme for the process's lifetime.
    // prepareDecoy() shares a sample already running, so concurrent requests start at most one.
    if (this.decoySampleFailedAt !== null && Date.now() - this.decoySampleFailedAt >= DECOY_RESAMPLE_MS) {
      this.prepareDecoy().catch(() => {});
    }
    await verifyWith(d.scheme, password, d.stored, { row: d.row, params: this.o.passwords.params }, abandoned);
  }

  /**
   * The decoy is still the fallback and a request (a login, a lookup, a get by id) has just read a real row: that
   * row's stored value (of the scheme it resolves to) becomes the decoy. No I/O: it costs the request nothing.
   */
  private learnDecoy(u: LegacyUser): void {
    if (!this.decoyIsFallback || !u.password) return;
    const r = resolveScheme(u, this.o.passwords);
    if (!r.scheme) return;
    this.decoy = { scheme: r.scheme, stored: u.password, row: { salt: u.salt, username: u.username, email: u.email } };
    this.decoyIsFallback = false;
    this.o.logger.info({ scheme: r.scheme.name, sampled: 1 }, 'timing decoy taken from the first row a login read (the store could not be sampled)');
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await this.breaker.execute(fn);
      // The store answers again after a failed sample: sample it now, in the background (never on this request's
      // clock), rather than waiting for the periodic retry. Once per recovery: a scan that fails while the store
      // answers other calls is left to the periodic retry (DECOY_RESAMPLE_MS).
      if (this.decoySampleFailedAt !== null && !this.resampledOnRecovery) {
        this.resampledOnRecovery = true;
        this.prepareDecoy().catch(() => {});
      }
      return result;
    } catch (e) {
      if (e instanceof BrokenCircuitError) {
        // Open: not even tried. Retry-After is the time until the next probe may run.
        throw storeUnavailable(Math.max(1, Math.ceil(this.resilience.halfOpenAfterMs / 1000)));
      }
      if (e instanceof StoreError) {
        if (e.transient) this.resampledOnRecovery = false;
        // StoreError messages are built by the adapters from the operation and the driver's code, never a value.
        this.o.logger.error({ err: e.message }, 'legacy store unavailable');
        throw storeUnavailable();
      }
      throw e;
    }
  }

  /**
   * Run a use case and write its audit event: the outcome (the verify outcome, "ok", "not_found" for a mark by login
   * that found nobody, or the error code), the latency, the login (hashed by the audit log) and the user_id once
   * known.
   */
  private async audited<T>(op: AuditOp, caller: Caller, subject: { login?: string; userId?: string }, holder: { outcome?: string }, work: () => Promise<T>): Promise<T> {
    const audit = this.o.audit;
    if (!audit) return work();
    const t0 = performance.now();
    // The user_id is logged only as the gateway found it (a profile or a mark it returns); an id the caller sent is
    // the caller's text, and is only ever hashed (idHmac), like a login.
    const found = (r: unknown) => (r && typeof r === 'object' && typeof (r as { user_id?: unknown }).user_id === 'string' ? (r as { user_id: string }).user_id : undefined);
    const base = { op, caller, login: subject.login, sentId: subject.userId };
    try {
      const r = await work();
      audit.record({ ...base, outcome: holder.outcome ?? (r === null ? 'not_found' : 'ok'), ms: performance.now() - t0, userId: found(r) ?? (subject.userId !== undefined && r !== null ? subject.userId : undefined) });
      return r;
    } catch (e) {
      const code = e instanceof ApiError ? e.code : 'internal_error';
      // A verify that failed after its outcome was known (blocked, ambiguous, ...) keeps that outcome.
      audit.record({ ...base, outcome: holder.outcome ?? code, ms: performance.now() - t0 });
      throw e;
    }
  }

  private warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.o.logger.warn(fields, msg);
  }

  private profile(u: LegacyUser): Profile {
    return toProfile(u, this.o.userIdPrefix);
  }

  private tooMany(wait: number): ApiError {
    this.onVerify('rate_limited');
    return new ApiError(429, 'too_many_attempts', 'Too many failed attempts for this login. Try again later.', {
      'Retry-After': String(wait),
    });
  }

  /**
   * The use cases as one caller runs them: its audit events name that caller. The routes and the front doors hold
   * only such views (the token's client per /v1 request, the door for a front door).
   */
  as(caller: Caller): CallerGateway {
    // Frozen: a door's view, and so its caller, serves every request through that door.
    return new BoundGateway(this, Object.freeze({ ...caller }));
  }

  /** `client`: aborts when the caller has gone (its connection closed); see withinDeadline. */
  verify(login: string, password: string, caller: Caller, client?: AbortSignal): Promise<Profile> {
    const holder: { outcome?: VerifyOutcome } = {};
    return this.audited('verify', caller, { login }, holder, () => this.withinDeadline((abandoned) => this.verifyLogin(login, password, holder, abandoned), { client }));
  }

  private async verifyLogin(login: string, password: string, holder: { outcome?: VerifyOutcome }, abandoned: AbortSignal | undefined): Promise<Profile> {
    const normalised = normaliseLogin(login);
    // A store that checks passwords itself (a legacy web service) decides in one call: an unknown user costs that
    // same call, so there is no local hash to check and no decoy to spend.
    // Draining, the store is not even looked at.
    const remote = this.o.drain ? undefined : this.o.store.verifyCredentials?.bind(this.o.store);
    return this.verifyFound(limiterKey.login(normalised), password, !!remote, async () => {
      if (!remote) return findByLogin(this.o.store, login);
      // The service may match more widely than the gateway's rule (a collation): its answer counts only for the
      // user the login really names.
      const r = await remote(login, password);
      if (r && !isAmbiguous(r) && r.email === undefined && r.username === undefined) {
        this.warnOnce('remote:no-login-fields', "the legacy service's answer carries no email or username: no login can be matched to it (map store.users.columns.email or username to its response)", {});
      }
      return r && !isAmbiguous(r) && !rowMatches(r, normalised) ? null : r;
    }, holder, abandoned);
  }

  /**
   * Verify by the public user_id instead of a login (Keycloak's "use user id for credential verification"). The
   * same limiter, decoy and outcomes as verify(); the first reservation is the account's own budget.
   */
  verifyById(publicId: string, password: string, caller: Caller, client?: AbortSignal): Promise<Profile> {
    const holder: { outcome?: VerifyOutcome } = {};
    return this.audited('verify', caller, { userId: publicId }, holder, () => this.withinDeadline((abandoned) => this.verifyId(publicId, password, holder, abandoned), { client }));
  }

  private async verifyId(publicId: string, password: string, holder: { outcome?: VerifyOutcome }, abandoned: AbortSignal | undefined): Promise<Profile> {
    const id = legacyIdFrom(publicId, this.o.userIdPrefix);
    // Draining, the store is not even looked at.
    const remote = this.o.drain ? undefined : this.o.store.verifyCredentials?.bind(this.o.store);
    return this.verifyFound(limiterKey.account(id ?? `unknown:${publicId}`), password, !!remote, async () => {
      if (id === null || id.length === 0) return null;
      const row = await this.o.store.findById(id);
      if (!row || !remote) return row;
      // A legacy service checks passwords by login: ask it with this row's own, and count only this row's answer.
      const login = row.email ?? row.username;
      if (login === undefined) return null;
      const r = await remote(login, password);
      return r && !isAmbiguous(r) && r.id === row.id ? r : null;
    }, holder, abandoned);
  }

  /**
   * The verification both verify() and verifyById() run: reserve an attempt on firstKey, find the row, reserve one
   * on the account, check the password (remote: the store already did), then the outcome.
   */
  private async verifyFound(
    firstKey: string,
    password: string,
    remote: boolean,
    find: () => Promise<LegacyUser | null | Ambiguous>,
    holder: { outcome?: VerifyOutcome },
    abandoned: AbortSignal | undefined,
  ): Promise<Profile> {
    const report = (outcome: VerifyOutcome, scheme?: string) => {
      holder.outcome = outcome;
      this.onVerify(outcome, scheme);
    };
    const limiter = this.o.limiter;
    // Reserve the attempt before anything is checked: concurrent attempts can't all pass a limit read too early.
    const keys = [firstKey];
    const wait = await limiter.take(firstKey);
    if (wait > 0) throw this.tooMany(wait);
    // A request abandoned before its check started checked no password: not an attempt at this login. Its caller
    // has its answer already (deadline_exceeded, which its audit event keeps) or is gone (request_abandoned).
    const hashed = async <T>(check: Promise<T>): Promise<T> => {
      try {
        return await check;
      } catch (e) {
        if (!(e instanceof VerificationAbandoned)) throw e;
        this.onVerify('abandoned');
        await Promise.all(keys.map((k) => limiter.refund(k)));
        throw new ApiError(503, 'request_abandoned', 'The request was abandoned before its password was checked.');
      }
    };
    const spendDecoy = () => hashed(this.spendDecoy(password, abandoned));
    if (this.o.drain) {
      // As an unknown login costs: the decoy, then the same 401.
      await spendDecoy();
      report('unknown_user');
      throw invalidCredentials();
    }
    let found: LegacyUser | null | Ambiguous;
    try {
      found = await this.call(find);
    } catch (e) {
      // Not an attempt at this login: the store could not be asked.
      await Promise.all(keys.map((k) => limiter.refund(k)));
      throw e;
    }
    let scheme: string | undefined;
    const fail = async (outcome: VerifyOutcome, spend: boolean): Promise<never> => {
      if (spend && !remote) await spendDecoy();
      report(outcome, scheme);
      throw invalidCredentials();
    };
    if (isAmbiguous(found)) {
      if (!remote) await spendDecoy();
      report('ambiguous');
      throw ambiguousLogin();
    }
    if (!found) return fail(remote ? 'rejected' : 'unknown_user', true);
    if (!remote) this.learnDecoy(found);
    // The account's own budget, shared by its email, its username and every spelling of them.
    const accountKey = limiterKey.account(found.id);
    if (accountKey !== firstKey) {
      let accountWait: number;
      try {
        accountWait = await limiter.take(accountKey);
      } catch (e) {
        // The limiter failed (fail_closed: 503 limiter_unavailable): no password was checked, so the reservation
        // already taken on firstKey is not an attempt either.
        await Promise.all(keys.map((k) => limiter.refund(k)));
        throw e;
      }
      keys.push(accountKey);
      if (accountWait > 0) throw this.tooMany(accountWait);
    }
    if (found.migratedAt) return fail('migrated', true);
    if (!remote) {
      const r = resolveScheme(found, this.o.passwords);
      if (!r.scheme) {
        this.warnOnce(`scheme:${r.reason}`, 'a stored password matched no configured scheme; it verifies false', {
          reason: r.reason,
          user_id: found.id,
        });
        return fail('no_scheme', true);
      }
      scheme = r.scheme.name;
      const row = { salt: found.salt, username: found.username, email: found.email };
      const ok = await hashed(verifyWith(r.scheme, password, found.password!, { row, params: this.o.passwords.params }, abandoned));
      if (!ok) return fail('wrong_password', false);
    }
    await Promise.all(keys.map((k) => limiter.reset(k)));
    const profile = this.profile(found);
    if (profile.blocked) {
      report('blocked', scheme);
      throw new ApiError(403, 'user_blocked', 'This account is disabled in the legacy system.');
    }
    report('success', scheme);
    return profile;
  }

  lookup(login: string, caller: Caller): Promise<Profile> {
    return this.audited('lookup', caller, { login }, {}, () => this.withinDeadline(() => this.lookupLogin(login)));
  }

  private async lookupLogin(login: string): Promise<Profile> {
    if (this.o.drain) throw userNotFound();
    const found = await this.call(() => findByLogin(this.o.store, login));
    if (isAmbiguous(found)) throw ambiguousLogin();
    if (found) this.learnDecoy(found);
    if (!found || found.migratedAt) throw userNotFound();
    return this.profile(found);
  }

  private legacyId(publicId: string): string {
    const id = legacyIdFrom(publicId, this.o.userIdPrefix);
    if (this.o.drain || id === null || id.length === 0) throw userNotFound();
    return id;
  }

  getById(publicId: string, caller: Caller): Promise<Profile> {
    return this.audited('get', caller, { userId: publicId }, {}, () => this.withinDeadline(() => this.getId(publicId)));
  }

  private async getId(publicId: string): Promise<Profile> {
    const id = this.legacyId(publicId);
    const found = await this.call(() => this.o.store.findById(id));
    if (found) this.learnDecoy(found);
    if (!found || found.migratedAt) throw userNotFound();
    return this.profile(found);
  }

  markMigrated(publicId: string, caller: Caller): Promise<{ user_id: string; migrated_at: string }> {
    return this.audited('mark', caller, { userId: publicId }, {}, () => this.mark(publicId));
  }

  private async mark(publicId: string): Promise<{ user_id: string; migrated_at: string }> {
    const id = this.legacyId(publicId);
    const at = await this.call(() => this.o.store.markMigrated(id));
    if (!at) throw userNotFound();
    return { user_id: publicId, migrated_at: at };
  }

  /**
   * Mark by login (an IdP event names the user by the login it imported, not by our user_id). The matching rule
   * decides; an unknown or ambiguous login marks nothing and answers null.
   */
  markMigratedByLogin(login: string, caller: Caller): Promise<{ user_id: string; migrated_at: string } | null> {
    return this.audited('mark', caller, { login }, {}, () => this.markByLogin(login));
  }

  private async markByLogin(login: string): Promise<{ user_id: string; migrated_at: string } | null> {
    if (this.o.drain) return null;
    const found = await this.call(() => findByLogin(this.o.store, login));
    if (!found || isAmbiguous(found)) return null;
    const at = await this.call(() => this.o.store.markMigrated(found.id));
    return at ? { user_id: `${this.o.userIdPrefix}${found.id}`, migrated_at: at } : null;
  }

  unmarkMigrated(publicId: string, caller: Caller): Promise<void> {
    return this.audited('unmark', caller, { userId: publicId }, {}, () => this.unmark(publicId));
  }

  private async unmark(publicId: string): Promise<void> {
    const id = this.legacyId(publicId);
    const ok = await this.call(() => this.o.store.unmarkMigrated(id));
    if (!ok) throw userNotFound();
  }

  /** The status report (src/operations/status.ts); draining, that of an empty store, which is not read. */
  async status(): Promise<StatusReport> {
    return this.call(() => buildStatus(this.o.store, { drain: this.o.drain === true }));
  }

  /**
   * Ready when the store answers a ping. The ping goes through the breaker: while it is open the answer is "not
   * ready" without asking the store; once halfOpenAfterMs has passed, a readiness probe is the call that tests the
   * store, so a replica taken out of rotation by its own breaker comes back without needing traffic.
   */
  async ready(): Promise<boolean> {
    if (this.o.drain) return true;
    try {
      await this.breaker.execute(() => this.o.store.ping());
      return true;
    } catch {
      return false;
    }
  }
}

/** The use cases the routes and the front doors call, each audited as the caller the view was made for (Gateway.as). */
export interface CallerGateway {
  readonly caller: Caller;
  /** `client` aborts when the caller is gone (clientGone in src/http): a hash not yet started is then skipped. */
  verify(login: string, password: string, client?: AbortSignal): Promise<Profile>;
  verifyById(publicId: string, password: string, client?: AbortSignal): Promise<Profile>;
  lookup(login: string): Promise<Profile>;
  getById(publicId: string): Promise<Profile>;
  markMigrated(publicId: string): Promise<{ user_id: string; migrated_at: string }>;
  markMigratedByLogin(login: string): Promise<{ user_id: string; migrated_at: string } | null>;
  unmarkMigrated(publicId: string): Promise<void>;
  status(): Promise<StatusReport>;
}

class BoundGateway implements CallerGateway {
  constructor(
    private readonly g: Gateway,
    readonly caller: Caller,
  ) {}
  verify(login: string, password: string, client?: AbortSignal): Promise<Profile> {
    return this.g.verify(login, password, this.caller, client);
  }
  verifyById(publicId: string, password: string, client?: AbortSignal): Promise<Profile> {
    return this.g.verifyById(publicId, password, this.caller, client);
  }
  lookup(login: string): Promise<Profile> {
    return this.g.lookup(login, this.caller);
  }
  getById(publicId: string): Promise<Profile> {
    return this.g.getById(publicId, this.caller);
  }
  markMigrated(publicId: string): Promise<{ user_id: string; migrated_at: string }> {
    return this.g.markMigrated(publicId, this.caller);
  }
  markMigratedByLogin(login: string): Promise<{ user_id: string; migrated_at: string } | null> {
    return this.g.markMigratedByLogin(login, this.caller);
  }
  unmarkMigrated(publicId: string): Promise<void> {
    return this.g.unmarkMigrated(publicId, this.caller);
  }
  status(): Promise<StatusReport> {
    return this.g.status();
  }
}
