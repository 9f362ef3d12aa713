/**
 * Failed-login limiter (limits.login_failures): after `max` failures for one login within `window_s`,
 * verify answers 429 too_many_attempts with Retry-After until the window ends.
 * In memory, per process. (A shared Redis-backed limiter is a separate piece of work.)
 */
export interface LoginLimiter {
  /** Seconds until the login may try again, or 0 when it may try now. */
  retryAfter(key: string): number;
  fail(key: string): void;
  reset(key: string): void;
}

const MAX_KEYS = 100_000;

export class MemoryLoginLimiter implements LoginLimiter {
  private readonly entries = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly max: number,
    private readonly windowS: number,
    private readonly now: () => number = Date.now,
  ) {}

  retryAfter(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    const t = this.now();
    if (e.resetAt <= t) {
      this.entries.delete(key);
      return 0;
    }
    return e.count >= this.max ? Math.ceil((e.resetAt - t) / 1000) : 0;
  }

  fail(key: string): void {
    const t = this.now();
    const e = this.entries.get(key);
    if (e && e.resetAt > t) {
      e.count += 1;
      return;
    }
    // Delete first so the map stays in expiry order (every window has the same length).
    this.entries.delete(key);
    if (this.entries.size >= MAX_KEYS) this.sweep(t);
    this.entries.set(key, { count: 1, resetAt: t + this.windowS * 1000 });
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  private sweep(t: number): void {
    // Entries are in expiry order: stop at the first live one.
    for (const [k, e] of this.entries) {
      if (e.resetAt > t) break;
      this.entries.delete(k);
    }
    // Still full of live entries: drop the oldest rather than grow without bound.
    while (this.entries.size >= MAX_KEYS) {
      const first = this.entries.keys().next().value;
      if (first === undefined) break;
      this.entries.delete(first);
    }
  }
}
