/**
 * Failed-login limiter (limits.login_failures): at most `max` attempts that did not succeed per key within
 * `window_s`; then verify answers 429 too_many_attempts with Retry-After until the window ends.
 *
 * An attempt is RESERVED before the password is checked (rate-limiter-flexible's consume(), atomic per key), so
 * a burst of concurrent wrong passwords can't all slip past a limit that was read before any of them finished.
 * A success gives the reservations back (reset); a failure keeps them; a store outage refunds them.
 *
 * Keys are the normalised login and, once the row is known, the legacy account itself: an account's email, its
 * username and every case variant of them share one budget.
 * In memory, per process. (A limiter shared by several replicas is a separate piece of work.)
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

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

export class MemoryLoginLimiter implements LoginLimiter {
  private readonly rl: RateLimiterMemory;

  constructor(max: number, windowS: number) {
    this.rl = new RateLimiterMemory({ points: max, duration: windowS });
  }

  async take(key: string): Promise<number> {
    try {
      await this.rl.consume(key, 1);
      return 0;
    } catch (e) {
      if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      throw e;
    }
  }

  async refund(key: string): Promise<void> {
    await this.rl.reward(key, 1);
  }

  async reset(key: string): Promise<void> {
    await this.rl.delete(key);
  }
}
