/**
 * Failed-login limiter (limits.login_failures): at most `max` attempts that did not succeed per key within
 * `window_s`; then verify answers 429 too_many_attempts with Retry-After until the window ends.
 *
 * An attempt is RESERVED before the password is checked (rate-limiter-flexible's consume(), atomic per key), so
 * a burst of concurrent wrong passwords can't all slip past a limit that was read before any of them finished.
 * A success gives the reservations back (reset); a failure keeps them; an attempt whose password was never checked
 * (the store was unavailable, or its caller left or its deadline passed before the check started) is refunded.
 *
 * Keys are the normalised login and, once the row is known, the legacy account itself: an account's email, its
 * username and every case variant of them share one budget.
 *
 * In memory per process, or, with limits.redis_url, in Redis, shared by every replica (RateLimiterRedis: one
 * atomic INCR+PEXPIRE per consume). Redis keys are HMAC-SHA-256 digests of our keys, under limits.redis.key_secret
 * (or log.audit_key), the same on every replica: Redis never holds a login, and whoever reads it can't test a guessed
 * login against it without the secret. With neither set they are unkeyed SHA-256 digests, and start-up warns.
 * When Redis can't be reached, limits.redis.policy decides: fail_closed (default) answers 503
 * limiter_unavailable to verify; fail_open falls back to this process's in-memory limiter.
 *
 * limits.client_requests (optional): a request rate per API client (token client id) and per IdP door and address. It is an
 * abuse guard, not a password-guessing control, so it always fails open to memory.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ApiError } from './errors.js';
import { errorClass, errorCode, type Logger } from './logger.js';

export interface LoginLimiter {
  /**
   * Reserve one attempt against this key. 0: allowed, and the attempt now counts; otherwise the seconds until the
   * key may try again (nothing was reserved that matters: the key is already at its limit).
   */
  take(key: string): Promise<number>;
  /** Give back one reservation (the attempt could not be checked: the store was unavailable). */
  refund(key: string): Promise<void>;
  /** Forget every attempt of this key (after a success). */
  reset(key: string): Promise<void>;
}

/** Limiter keys: one namespace per kind, so that a login string can never collide with an account id. */
export const limiterKey = {
  login: (normalised: string) => `login:${normalised}`,
  account: (id: string) => `account:${id}`,
};

export const limiterUnavailable = () =>
  new ApiError(503, 'limiter_unavailable', 'The failed-login limiter is unavailable. Try again later.', { 'Retry-After': '5' });

/** Seconds until the key may try again, from a rejection; anything else is rethrown. */
function waitOf(e: unknown): number {
  if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
  throw e;
}

/**
 * A limiter key as Redis stores it: HMAC-SHA-256 under the secret (base64url, 43 characters); without a secret, the
 * unkeyed SHA-256 digest (anyone who reads Redis can confirm a guessed login with one hash).
 */
export function redisKeyDigest(key: string, secret: string | undefined): string {
  return (secret ? createHmac('sha256', secret) : createHash('sha256')).update(key).digest('base64url');
}

/** A rate-limiter-flexible limiter as a LoginLimiter. */
class FlexibleLimiter implements LoginLimiter {
  constructor(
    private readonly rl: RateLimiterAbstract,
    /** Store keys as digests (Redis): the login never leaves the process. null: keys as they are (memory). */
    private readonly digest: ((key: string) => string) | null,
    /** A limiter error (Redis unreachable, with no insurance limiter): fail closed. */
    private readonly onError: (op: string, e: unknown) => void = () => {},
  ) {}

  private k(key: string): string {
    return this.digest ? this.digest(key) : key;
  }

  async take(key: string): Promise<number> {
    try {
      await this.rl.consume(this.k(key), 1);
      return 0;
    } catch (e) {
      if (e instanceof RateLimiterRes) return waitOf(e);
      this.onError('take', e);
      throw limiterUnavailable();
    }
  }

  async refund(key: string): Promise<void> {
    // Only while the key still holds reservations: after a reset (a success) or the end of the window, a reward would
    // take the count below zero, an extra attempt for whoever comes next. Best effort: a refund that fails leaves
    // one attempt counted, which is the safe side.
    const k = this.k(key);
    try {
      const held = await this.rl.get(k);
      if (held && held.consumedPoints > 0) await this.rl.reward(k, 1);
    } catch (e) {
      this.onError('refund', e);
    }
  }

  async reset(key: string): Promise<void> {
    // Best effort: the login has succeeded; failing it because the counter could not be cleared would be worse.
    await this.rl.delete(this.k(key)).catch((e: unknown) => this.onError('reset', e));
  }
}

export class MemoryLoginLimiter extends FlexibleLimiter {
  constructor(max: number, windowS: number) {
    super(new RateLimiterMemory({ points: max, duration: windowS }), null);
  }
}

export type RedisPolicy = 'fail_closed' | 'fail_open';

export interface LimitsConfig {
  login_failures: { max: number; window_s: number };
  client_requests?: { max: number; window_s: number } | undefined;
  redis_url: string | null;
  redis: { policy: RedisPolicy; timeout_ms: number; key_prefix: string; key_secret?: string | undefined };
}

export interface Limiters {
  login: LoginLimiter;
  /** Per-client request rate; null when limits.client_requests is not set. */
  requests: LoginLimiter | null;
  /** 'memory' or 'redis' (for the start-up line and tests). */
  backend: 'memory' | 'redis';
  close(): Promise<void>;
}

/**
 * The limiters limits configures. With redis_url, one ioredis client (no offline queue: a command while Redis is
 * unreachable fails at once instead of waiting; each command bounded by redis.timeout_ms) serves both.
 * auditKey: log.audit_key, the Redis keys' HMAC secret when limits.redis.key_secret is not set.
 */
export async function createLimiters(limits: LimitsConfig, logger: Logger, auditKey?: string): Promise<Limiters> {
  const lf = limits.login_failures;
  const cr = limits.client_requests;
  if (limits.redis_url === null) {
    return {
      login: new MemoryLoginLimiter(lf.max, lf.window_s),
      requests: cr ? new MemoryLoginLimiter(cr.max, cr.window_s) : null,
      backend: 'memory',
      close: async () => {},
    };
  }
  const secret = limits.redis.key_secret ?? auditKey;
  if (!secret) {
    logger.warn({}, 'limiter: neither limits.redis.key_secret nor log.audit_key is set: Redis keys are unkeyed SHA-256 digests of logins, and anyone who can read Redis can confirm a guessed login (set limits.redis.key_secret, the same on every replica)');
  }
  const digest = (key: string) => redisKeyDigest(key, secret);
  const { Redis: RedisClient } = await import('ioredis');
  const redis: Redis = new RedisClient(limits.redis_url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: limits.redis.timeout_ms,
    connectTimeout: Math.max(1000, limits.redis.timeout_ms),
    // Reconnect forever with a capped backoff: Redis coming back is noticed without a restart.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // One line per outage and one per recovery (ioredis emits an error per failed reconnect).
  let down = false;
  redis.on('error', (e: Error & { code?: string }) => {
    if (down) return;
    down = true;
    logger.error({ err_class: e.name, err_code: e.code, policy: limits.redis.policy }, 'limiter: Redis unreachable');
  });
  redis.on('ready', () => {
    if (down) logger.info({}, 'limiter: Redis reachable again');
    down = false;
  });
  // Serve only once the connection is up, or has failed, or connectTimeout has passed: a request that found it still
  // connecting would take the policy's path (fail_closed: 503 to verify; otherwise this process's memory, so that the
  // first requests after a start were counted apart from the rest).
  await new Promise<void>((resolve) => {
    const settle = () => {
      clearTimeout(timer);
      redis.off('ready', settle);
      redis.off('error', settle);
      resolve();
    };
    const timer = setTimeout(settle, Math.max(1000, limits.redis.timeout_ms));
    redis.once('ready', settle);
    redis.once('error', settle);
  });
  const onError = (op: string, e: unknown) => {
    const x = e as { name?: string; code?: string };
    logger.warn({ op, err_class: x?.name ?? typeof e, err_code: x?.code, policy: limits.redis.policy }, 'limiter: Redis call failed');
  };
  const store = (prefix: string, points: number, duration: number, failOpen: boolean) =>
    new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${limits.redis.key_prefix}:${prefix}`,
      points,
      duration,
      rejectIfRedisNotReady: true,
      ...(failOpen ? { insuranceLimiter: new RateLimiterMemory({ points, duration }) } : {}),
    });
  return {
    login: new FlexibleLimiter(store('login-failures', lf.max, lf.window_s, limits.redis.policy === 'fail_open'), digest, onError),
    requests: cr ? new FlexibleLimiter(store('client-requests', cr.max, cr.window_s, true), digest, onError) : null,
    backend: 'redis',
    async close() {
      redis.disconnect();
    },
  };
}

/** What `check` says about the limiter's Redis: reachable, or why not (a code and a hint; never the URL's secrets). */
export type RedisCheck = { ok: true; ms: number } | { ok: false; code: string; hint: string };

const REDIS_HINTS: [RegExp, string][] = [
  [/^ECONNREFUSED$/, 'nothing listens at that host and port'],
  [/^(ENOTFOUND|EAI_AGAIN)$/, 'the host name does not resolve'],
  [/^(ETIMEDOUT|timeout)$/, 'no answer in time: a firewall or network policy, or rediss:// against a plain port (or redis:// against a TLS one)'],
  [/^(ECONNRESET|EPROTO|ERR_SSL_\w+|closed)$/, 'the connection was dropped: usually rediss:// against a plain port, or redis:// against a TLS one'],
  [/^(WRONGPASS|NOAUTH|ERR_AUTH)$/, 'the password (or ACL user) in the URL is wrong or missing'],
  [/^ERR_DB_INDEX$/, 'the database number in the URL\'s path does not exist on this server (its "databases" setting)'],
  [/^NOPERM$/, 'this ACL user may not run the limiter\'s commands (a Lua script by EVALSHA/EVAL, and GET, SET, INCRBY, PTTL, DEL, MULTI/EXEC on the keys under redis.key_prefix)'],
  [/^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID)$/, 'the server\'s TLS certificate is not trusted for that host (NODE_EXTRA_CA_CERTS names a CA file)'],
];

/** A Redis failure as a code: the driver's or the reply's (WRONGPASS, NOPERM, ...), never its free text. */
function redisFailureCode(e: unknown): string {
  const code = errorCode(e);
  if (code) return code;
  const message = e instanceof Error ? e.message : '';
  const reply = /^([A-Z]{3,16})\b/.exec(message)?.[1];
  if (reply && reply !== 'ERR') return reply;
  if (/^ERR AUTH\b|invalid password|without any password configured/i.test(message)) return 'ERR_AUTH';
  if (/DB index is out of range/i.test(message)) return 'ERR_DB_INDEX';
  if (/timed? ?out/i.test(message)) return 'timeout';
  if (/connection is closed/i.test(message)) return 'closed';
  return errorClass(e);
}

/**
 * One real limiter round trip against the configured Redis, as `check` runs it: connect, PING, then consume and
 * delete one point on a throwaway key under the configured prefix (the limiter's own script, so an ACL that forbids
 * it is found too). Bounded by timeout_ms per command; nothing kept.
 */
export async function checkRedis(limits: Pick<LimitsConfig, 'redis_url' | 'redis'>): Promise<RedisCheck> {
  const { Redis: RedisClient } = await import('ioredis');
  const redis: Redis = new RedisClient(limits.redis_url!, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // PING below is the check; ioredis's own INFO-based ready check would print a warning under a narrow ACL.
    enableReadyCheck: false,
    commandTimeout: limits.redis.timeout_ms,
    connectTimeout: Math.max(1000, limits.redis.timeout_ms),
    retryStrategy: () => null,
  });
  let failure: unknown;
  redis.on('error', (e: unknown) => {
    failure ??= e;
  });
  const t0 = performance.now();
  try {
    await redis.connect();
    await redis.ping();
    const probe = new RateLimiterRedis({ storeClient: redis, keyPrefix: `${limits.redis.key_prefix}:check`, points: 1, duration: 5, rejectIfRedisNotReady: true });
    const key = `check-${process.pid}-${Date.now()}`;
    await probe.consume(key);
    await probe.delete(key);
    // The client selects the URL's database while connecting and only reports a refusal (a database number the
    // server doesn't have) as an 'error' event; the calls above then ran in database 0.
    if (failure) throw failure;
    return { ok: true, ms: performance.now() - t0 };
  } catch (e) {
    // A connection error reaches the 'error' listener with its code; the rejected call only says it was closed.
    const code = redisFailureCode(failure ?? e);
    return { ok: false, code, hint: REDIS_HINTS.find(([re]) => re.test(code))?.[1] ?? 'see the code' };
  } finally {
    redis.disconnect();
  }
}
