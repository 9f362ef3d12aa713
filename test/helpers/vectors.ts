/** Password test vectors made by independent implementations (test/fixtures/passwords/*.json, scripts/fixtures/*). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export interface Vector {
  scheme: string;
  password: string;
  stored: string;
  expected: boolean;
  params?: Record<string, unknown>;
  row?: { salt?: string; username?: string; email?: string };
  /** The exact command or published source that produced the vector. */
  source: string;
  command?: string;
  note?: string;
}

/** Fixtures are read relative to the repository root (tests run from there). */
export function loadVectors(family: string): Vector[] {
  return JSON.parse(readFileSync(path.resolve(process.cwd(), `test/fixtures/passwords/${family}.json`), 'utf8')) as Vector[];
}

/** Runs f while measuring the longest gap between event-loop turns (is the work really off the loop?). */
export async function maxLoopGap<T>(f: () => Promise<T>): Promise<{ value: T; gap: number }> {
  let gap = 0;
  let last = performance.now();
  let done = false;
  const ticker = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 1));
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    }
  })();
  const value = await f();
  done = true;
  await ticker;
  return { value, gap };
}
