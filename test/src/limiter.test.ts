import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryLoginLimiter } from '../../src/limiter.js';

/** A hand-driven clock in milliseconds. */
function clock(start = 1_700_000_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

const MAX_KEYS = 100_000;

function sizeOf(limiter: MemoryLoginLimiter): number {
  return (limiter as any).entries.size as number;
}

describe('MemoryLoginLimiter', () => {
  test('a key with no failures may try now', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(3, 60, c.now);
    assert.equal(l.retryAfter('alice'), 0);
  });

  test('allows up to max failures, then answers retryAfter > 0', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(3, 60, c.now);
    l.fail('alice');
    assert.equal(l.retryAfter('alice'), 0);
    l.fail('alice');
    assert.equal(l.retryAfter('alice'), 0, 'still allowed after max-1 failures');
    l.fail('alice');
    const r = l.retryAfter('alice');
    assert.ok(r > 0, `expected a lockout after max failures, got ${r}`);
    assert.equal(r, 60);
  });

  test('max = 1 locks after the first failure', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(1, 30, c.now);
    l.fail('k');
    assert.equal(l.retryAfter('k'), 30);
  });

  test('retryAfter is in whole seconds, rounded up, counted from the first failure of the window', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(3, 900, c.now);
    l.fail('bob'); // window ends at +900 s
    c.advance(10_000);
    l.fail('bob');
    c.advance(10_000);
    l.fail('bob');
    assert.equal(l.retryAfter('bob'), 880);
    c.advance(500);
    assert.equal(l.retryAfter('bob'), 880, '879.5 s rounds up to 880');
    c.advance(500);
    assert.equal(l.retryAfter('bob'), 879);
    c.advance(878_999);
    assert.equal(l.retryAfter('bob'), 1, '1 ms left is still 1 s');
  });

  test('further failures while locked do not extend the window', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(2, 60, c.now);
    l.fail('k');
    l.fail('k');
    c.advance(30_000);
    l.fail('k');
    l.fail('k');
    assert.equal(l.retryAfter('k'), 30);
  });

  test('the lockout ends when the window ends, and a new window starts fresh', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(2, 60, c.now);
    l.fail('k');
    l.fail('k');
    assert.equal(l.retryAfter('k'), 60);
    c.advance(59_999);
    assert.equal(l.retryAfter('k'), 1);
    c.advance(1);
    assert.equal(l.retryAfter('k'), 0);
    // New window: one failure is not yet a lockout.
    l.fail('k');
    assert.equal(l.retryAfter('k'), 0);
    l.fail('k');
    assert.equal(l.retryAfter('k'), 60);
  });

  test('failures from an expired window do not count towards the next one (without a retryAfter in between)', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(2, 60, c.now);
    l.fail('k');
    c.advance(61_000);
    l.fail('k');
    assert.equal(l.retryAfter('k'), 0);
  });

  test('reset() clears a lockout', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(2, 60, c.now);
    l.fail('k');
    l.fail('k');
    assert.ok(l.retryAfter('k') > 0);
    l.reset('k');
    assert.equal(l.retryAfter('k'), 0);
    l.fail('k');
    assert.equal(l.retryAfter('k'), 0, 'count restarted from zero after reset');
    l.reset('never-seen'); // harmless
  });

  test('keys are independent', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(2, 60, c.now);
    l.fail('alice');
    l.fail('alice');
    l.fail('bob');
    assert.ok(l.retryAfter('alice') > 0);
    assert.equal(l.retryAfter('bob'), 0);
    assert.equal(l.retryAfter('carol'), 0);
    l.reset('alice');
    l.fail('bob');
    assert.equal(l.retryAfter('alice'), 0);
    assert.ok(l.retryAfter('bob') > 0);
  });

  test('expired entries are removed when read', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(2, 60, c.now);
    l.fail('k');
    assert.equal(sizeOf(l), 1);
    c.advance(60_000);
    assert.equal(l.retryAfter('k'), 0);
    assert.equal(sizeOf(l), 0);
  });
});

describe('MemoryLoginLimiter: bounded memory', () => {
  test(`more than ${MAX_KEYS} distinct live keys never grow the map beyond ${MAX_KEYS}`, () => {
    const c = clock();
    const l = new MemoryLoginLimiter(5, 900, c.now);
    for (let i = 0; i < MAX_KEYS + 50; i++) {
      l.fail(`user-${i}@example.com`);
      if (i % 10_000 === 0) c.advance(1);
    }
    assert.ok(sizeOf(l) <= MAX_KEYS, `map grew to ${sizeOf(l)}`);
    assert.ok(sizeOf(l) >= MAX_KEYS - 1, 'the newest keys are still tracked');
    // The newest key is still counted.
    const last = `user-${MAX_KEYS + 49}@example.com`;
    for (let i = 0; i < 4; i++) l.fail(last);
    assert.ok(l.retryAfter(last) > 0);
  });

  test('when full, expired entries are swept before live ones are dropped', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(2, 60, c.now);
    for (let i = 0; i < MAX_KEYS; i++) l.fail(`old-${i}`);
    assert.equal(sizeOf(l), MAX_KEYS);
    c.advance(61_000); // every old entry has expired
    l.fail('fresh');
    l.fail('fresh');
    assert.equal(sizeOf(l), 1, 'expired entries swept, only the fresh one remains');
    assert.equal(l.retryAfter('fresh'), 60);
  });

  test('once full, each new key costs little (no full-map scan per failure)', () => {
    const c = clock();
    const l = new MemoryLoginLimiter(5, 900, c.now);
    for (let i = 0; i < MAX_KEYS; i++) l.fail(`fill-${i}`);
    // An attacker spraying distinct logins: every call lands on a full map of live entries.
    const extra = 300;
    const t0 = performance.now();
    for (let i = 0; i < extra; i++) l.fail(`spray-${i}`);
    const ms = performance.now() - t0;
    assert.ok(sizeOf(l) <= MAX_KEYS);
    // A Map insert + eviction is microseconds; 300 of them should take well under 300 ms (1 ms each is
    // already generous). Sweeping all 100k entries on every insert costs milliseconds per call.
    assert.ok(ms < 300, `${extra} failures on a full limiter took ${ms.toFixed(0)} ms (${(ms / extra).toFixed(2)} ms each, on the event loop)`);
  });
});
