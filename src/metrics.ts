/**
 * The gateway's Prometheus metrics: one registry, the families below, and the store wrapper that feeds the store
 * families. Every label value comes from a closed set (route patterns, error codes, outcome and scheme names, store
 * operations), never from a request's text, so cardinality stays bounded.
 */
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';
import type { PoolStats, UserStore } from '../adapters/types.js';
import { TOKEN_REJECTION_REASONS, type TokenRejectionReason } from './auth.js';
import type { BreakerState, VerifyOutcome } from './gateway.js';
import { passwordChecks } from './passwords/index.js';

const requireCjs = createRequire(import.meta.url);

/**
 * prom-client's index also loads its Pushgateway (node:https), cluster aggregator, Summary and default collectors:
 * 50-100 ms of start-up on a small machine for code the gateway needs late (the default collectors, on the first
 * scrape) or never. The classes every request uses come from their own modules (the same module instances the index
 * exports); the index is the fallback should the package's layout change.
 */
function metricClasses(): Pick<typeof Prom, 'Registry' | 'Counter' | 'Histogram' | 'Gauge'> {
  try {
    return {
      Registry: requireCjs('prom-client/lib/registry') as typeof Prom.Registry,
      Counter: requireCjs('prom-client/lib/counter') as typeof Prom.Counter,
      Histogram: requireCjs('prom-client/lib/histogram') as typeof Prom.Histogram,
      Gauge: requireCjs('prom-client/lib/gauge') as typeof Prom.Gauge,
    };
  } catch {
    return requireCjs('prom-client') as typeof Prom;
  }
}

/** The documented outcome names of legacy_gateway_verify_total (the gateway's own names on the left). */
export const VERIFY_OUTCOME_LABEL: Record<VerifyOutcome, string> = {
  success: 'match',
  wrong_password: 'mismatch',
  unknown_user: 'unknown',
  blocked: 'blocked',
  rate_limited: 'locked_out',
  migrated: 'migrated',
  ambiguous: 'ambiguous',
  no_scheme: 'no_scheme',
  rejected: 'rejected',
  abandoned: 'abandoned',
};

/** The store operations that are timed (UserStore's methods the gateway calls per request). */
type StoreOp = 'findCandidates' | 'findById' | 'markMigrated' | 'unmarkMigrated' | 'migrationStatus' | 'verifyCredentials' | 'ping';

export interface Metrics {
  registry: Prom.Registry;
  /** The /metrics text; the process/Node.js default metrics start on the first call. */
  text(): Promise<string>;
  request(method: string, route: string, status: number, outcome: string, seconds: number): void;
  verify(outcome: VerifyOutcome, scheme: string | undefined): void;
  /** A refused bearer token, by reason (auth.ts TOKEN_REJECTION_REASONS). */
  tokenRejection(reason: TokenRejectionReason): void;
  /** The store circuit breaker's new state. */
  breaker(state: BreakerState): void;
  /** The store the gateway should use: the same store, with every call timed and marks counted. */
  instrument(store: UserStore): UserStore;
}

export function createMetrics(): Metrics {
  const { Registry, Counter, Histogram, Gauge } = metricClasses();
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({
    name: 'legacy_gateway_http_requests_total',
    help: 'HTTP requests by route, status and outcome ("ok", or the error code of the body).',
    labelNames: ['method', 'route', 'status', 'outcome'],
    registers,
  });
  const duration = new Histogram({
    name: 'legacy_gateway_http_request_duration_seconds',
    help: 'HTTP request duration, by route.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const verifies = new Counter({
    name: 'legacy_gateway_verify_total',
    help: 'Credential verifications by outcome: match, mismatch, unknown, blocked, locked_out, migrated, ambiguous, no_scheme, rejected, abandoned (dropped before the check started: the deadline passed or the caller left).',
    labelNames: ['outcome'],
    registers,
  });
  const schemes = new Counter({
    name: 'legacy_gateway_password_schemes_total',
    help: "Password schemes of the legacy users whose password was checked (the scheme resolved for the user's stored value).",
    labelNames: ['scheme'],
    registers,
  });
  const storeOps = new Histogram({
    name: 'legacy_gateway_store_operation_duration_seconds',
    help: 'Legacy store calls by operation and result (ok or error).',
    labelNames: ['operation', 'result'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers,
  });
  const marks = new Counter({
    name: 'legacy_gateway_migration_marks_total',
    help: 'Mark requests: written (a new mark), already (the user was already marked), removed (un-marked), not_found.',
    labelNames: ['result'],
    registers,
  });
  const tokenRejections = new Counter({
    name: 'legacy_gateway_token_rejections_total',
    help: `Refused bearer tokens by reason: ${TOKEN_REJECTION_REASONS.join(', ')}. jwks_unreachable: the issuer's JWKS could not be fetched (not a bad token).`,
    labelNames: ['reason'],
    registers,
  });
  const BREAKER_STATES: BreakerState[] = ['closed', 'open', 'half_open'];
  const breakerState = new Gauge({
    name: 'legacy_gateway_store_breaker_state',
    help: 'The store circuit breaker: 1 for its current state (closed, open, half_open), 0 for the others.',
    labelNames: ['state'],
    registers,
  });
  for (const st of BREAKER_STATES) breakerState.set({ state: st }, st === 'closed' ? 1 : 0);
  const breakerOpens = new Counter({
    name: 'legacy_gateway_store_breaker_opens_total',
    help: 'Times the store circuit breaker opened (consecutive store failures, or a failed half-open probe).',
    registers,
  });
  new Gauge({
    name: 'legacy_gateway_password_checks',
    help: 'Password checks (hash verifications, decoys included) by state: running (at most CPU cores + 1) and waiting for a slot.',
    labelNames: ['state'],
    registers,
    collect() {
      const c = passwordChecks();
      this.set({ state: 'running' }, c.running);
      this.set({ state: 'waiting' }, c.waiting);
    },
  });
  let pooled: UserStore | undefined;
  new Gauge({
    name: 'legacy_gateway_store_pool_connections',
    help: "The store's connection pool: open (all connections), idle, in_use, waiting (requests queued for a connection), max.",
    labelNames: ['state'],
    registers,
    collect() {
      const p: PoolStats | undefined = pooled?.poolStats?.();
      if (!p) return;
      this.set({ state: 'open' }, p.open);
      this.set({ state: 'idle' }, p.idle);
      this.set({ state: 'in_use' }, Math.max(0, p.open - p.idle));
      this.set({ state: 'waiting' }, p.waiting);
      this.set({ state: 'max' }, p.max);
    },
  });
  // Zero-valued series for every documented outcome, so a dashboard sees each one before it first happens.
  for (const outcome of new Set(Object.values(VERIFY_OUTCOME_LABEL))) verifies.inc({ outcome }, 0);
  for (const result of ['written', 'already', 'removed', 'not_found']) marks.inc({ result }, 0);
  for (const reason of TOKEN_REJECTION_REASONS) tokenRejections.inc({ reason }, 0);

  // The default collectors (event-loop lag monitor, GC observer, process readers) start with the first scrape:
  // nothing of them runs, or costs start-up time, in a gateway nobody scrapes.
  let defaults: Promise<void> | undefined;
  const text = async (): Promise<string> => {
    defaults ??= import('prom-client').then(
      ({ collectDefaultMetrics }) => collectDefaultMetrics({ register: registry }),
      (e: unknown) => {
        defaults = undefined; // tried again on the next scrape
        throw e;
      },
    );
    await defaults;
    return registry.metrics();
  };

  const timed = <A extends unknown[], R>(op: StoreOp, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const end = storeOps.startTimer({ operation: op });
      try {
        const r = await fn(...a);
        end({ result: 'ok' });
        return r;
      } catch (e) {
        end({ result: 'error' });
        throw e;
      }
    };

  return {
    registry,
    text,
    request(method, route, status, outcome, seconds) {
      duration.observe({ method, route }, seconds);
      requests.inc({ method, route, status: String(status), outcome });
    },
    verify(outcome, scheme) {
      verifies.inc({ outcome: VERIFY_OUTCOME_LABEL[outcome] });
      if (scheme) schemes.inc({ scheme });
    },
    breaker(state) {
      for (const st of BREAKER_STATES) breakerState.set({ state: st }, st === state ? 1 : 0);
      if (state === 'open') breakerOpens.inc();
    },
    tokenRejection(reason) {
      tokenRejections.inc({ reason });
    },
    instrument(store) {
      pooled = store;
      // Every method of the interface, delegated to the store itself (so `this` inside it is the store).
      const w: UserStore = {
        findCandidates: timed('findCandidates', (login: string) => store.findCandidates(login)),
        findById: timed('findById', (id: string) => store.findById(id)),
        markMigrated: timed('markMigrated', (id: string) => store.markMigrated(id)),
        unmarkMigrated: timed('unmarkMigrated', (id: string) => store.unmarkMigrated(id)),
        migrationStatus: timed('migrationStatus', () => store.migrationStatus()),
        ping: timed('ping', () => store.ping()),
        scan: () => store.scan(),
        close: () => store.close(),
      };
      if (store.verifyCredentials) {
        const verify = store.verifyCredentials.bind(store);
        w.verifyCredentials = timed('verifyCredentials', verify);
      }
      if (store.markExported) w.markExported = store.markExported.bind(store);
      if (store.probe) w.probe = store.probe.bind(store);
      if (store.poolStats) w.poolStats = store.poolStats.bind(store);
      // Written or already there? Every adapter writes a new mark with the gateway's own clock at the time of the
      // call, so a timestamp from before the call started is an existing mark. Concurrent marks of one user in this
      // process share one entry here, so that only one of them counts as written.
      const inflight = new Map<string, { n: number; counted?: string }>();
      const mark = w.markMigrated;
      w.markMigrated = async (id) => {
        const before = Date.now();
        const group = inflight.get(id) ?? { n: 0 };
        group.n += 1;
        inflight.set(id, group);
        try {
          const at = await mark(id);
          const t = at === null ? NaN : Date.parse(at);
          const written = at !== null && t >= before && group.counted !== at;
          if (written) group.counted = at;
          marks.inc({ result: at === null ? 'not_found' : written ? 'written' : 'already' });
          return at;
        } finally {
          if (--group.n === 0) inflight.delete(id);
        }
      };
      const unmark = w.unmarkMigrated;
      w.unmarkMigrated = async (id) => {
        const ok = await unmark(id);
        marks.inc({ result: ok ? 'removed' : 'not_found' });
        return ok;
      };
      return w;
    },
  };
}
