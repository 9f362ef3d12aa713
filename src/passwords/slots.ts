/**
 * A check that never started: its request was abandoned (its deadline passed, or its client left) while it waited
 * for a slot. No password was checked.
 */
export class VerificationAbandoned extends Error {
  constructor() {
    super('the request was abandoned before its password was checked');
    this.name = 'VerificationAbandoned';
  }
}

type Waiter = { start: () => void; since: number };

/**
 * The hash slots: at most `size` password checks run at once, the rest wait here.
 *
 * Two things a plain limiter (p-limit) does not do, and a burst of logins beyond the hash rate needs:
 * - A waiter whose request is abandoned (its deadline passed, its client left) leaves the queue at once, and its
 *   check never starts. Otherwise every check queued behind the deadline still runs, for callers already answered
 *   with a 503, and in a sustained burst no caller is ever answered in time.
 * - Oldest first while the oldest has waited less than `lifoAfterMs`; beyond that the queue holds more than can be
 *   worked off in good time, and the newest waiter goes first ("adaptive LIFO"): it can still be answered within
 *   its deadline, where the oldest would be answered at its deadline's edge, or after its caller gave up.
 */
export class HashSlots {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly size: number,
    readonly lifoAfterMs: number,
  ) {}

  /** Checks waiting for a slot (for tests and metrics). */
  get queued(): number {
    return this.waiting.length;
  }

  /** Checks running (at most size). */
  get active(): number {
    return this.running;
  }

  /** Run `check` in a slot; VerificationAbandoned, without running it, if `abandoned` aborts before it starts. */
  async run<T>(check: () => Promise<T>, abandoned?: AbortSignal): Promise<T> {
    if (abandoned?.aborted) throw new VerificationAbandoned();
    if (this.running < this.size) this.running++;
    else await this.slot(abandoned);
    try {
      return await check();
    } finally {
      this.release();
    }
  }

  private slot(abandoned: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new VerificationAbandoned());
      };
      const w: Waiter = {
        since: performance.now(),
        start: () => {
          abandoned?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      abandoned?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  /** A finished check hands its slot to the next waiter (the count stays), or frees it. */
  private release(): void {
    if (this.waiting.length === 0) {
      this.running--;
      return;
    }
    const overdue = performance.now() - this.waiting[0]!.since > this.lifoAfterMs;
    (overdue ? this.waiting.pop() : this.waiting.shift())!.start();
  }
}
