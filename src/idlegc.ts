/**
 * Gives memory back when a load ends.
 *
 * Under load V8 grows its young generation to its maximum (two 16 MB semi-spaces on 64-bit Node 20) and promotes
 * short-lived objects into the old generation. When the load stops, nothing collects any more: the process keeps that
 * memory until the next load (docs/performance.md: 140-168 MB of RSS after a storm, against 86-93 MB idle). V8
 * shrinks the young generation at a collection that runs while the allocation rate is low, and a full collection
 * frees the old generation's garbage; but an idle process runs no collection at all.
 *
 * So the processes that serve (serve, demo) look at their own CPU time every intervalMs. Once they have been idle for
 * idleMs (every interval used less than idleCpuShare of one core) and V8's committed heap has grown by at least
 * minGrowthBytes since the last collection (or the start), they run a full collection: a few milliseconds, never
 * while busy. That frees the old generation's garbage. The young generation needs a second one: V8 shrinks it at a
 * collection only when its allocation rate over the last 5 s is low, and the first collection after a storm still
 * counts the storm's tail (measured with Node 20's V8: collections 2-6 s after a storm kept 32 MB, one 6 s after the
 * previous collection gave it back). So while the young generation is above youngLimitBytes, the idle process collects
 * again, retryMs after the previous collection, at most maxPerIdle times in one idle stretch. The gateway's own
 * start-up leaves the young generation at 16 MB: the first idle stretch after start gives that back too. A busy
 * process costs one getrusage() per interval; an idle one with nothing to give back, two heap readings more.
 * Started by serve, demo and the benchmark's gateway child. Its price (README, "Memory after a load"): a load that
 * starts right after a collection begins on a shrunken heap, and with some of V8's optimized code discarded (a full
 * collection that frees the objects such code holds weakly discards the code), so its first seconds cost more CPU
 * per request while V8 optimizes again.
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './logger.js';

export interface HeapReading {
  /** V8's committed heap, bytes. */
  committed: number;
  /** The young generation's committed size, bytes. */
  young: number;
}

export interface IdleCollectorOptions {
  /** How often the process looks at itself. */
  intervalMs?: number;
  /** How long the process must have been idle before it collects. */
  idleMs?: number;
  /** Idle: every interval used less than this share of one core's time (0.02: 2%). */
  idleCpuShare?: number;
  /** Collect when V8's committed heap is at least this much above its size after the last collection (or the start)... */
  minGrowthBytes?: number;
  /** ... or when the young generation is above this (V8 starts it at 1 MB, grows it to 32 MB under load). */
  youngLimitBytes?: number;
  /** The time between two collections in one idle stretch (while the young generation stays above youngLimitBytes). */
  retryMs?: number;
  /** At most this many collections in one idle stretch. */
  maxPerIdle?: number;
  /** The collection; by default V8's full collection (exposedGc). */
  collect?: () => void;
  heap?: () => HeapReading;
  /** This process's CPU time so far (user + system, all threads), microseconds. */
  cpuMicros?: () => number;
  logger?: Logger;
}

export interface IdleCollector {
  /** Collections run so far. */
  readonly collections: number;
  stop(): void;
}

/**
 * V8's full collection as a function, or undefined where it cannot be had. Without --expose-gc, the flag is set for the
 * moment it takes to make one new context, whose global gc is taken, and cleared again: no other context, the
 * gateway's own included, ever sees a gc global, and V8's flags are as they were (V8's code cache checks them).
 */
export function exposedGc(): (() => void) | undefined {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return () => void (own as () => unknown)();
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof gc === 'function' ? () => void (gc as () => unknown)() : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

const heapNow = (): HeapReading => {
  let young = 0;
  for (const space of v8.getHeapSpaceStatistics()) if (space.space_name === 'new_space') young = space.space_size;
  return { committed: v8.getHeapStatistics().total_heap_size, young };
};
const cpuTime = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export function collectWhenIdle(options: IdleCollectorOptions = {}): IdleCollector {
  const intervalMs = options.intervalMs ?? 2000;
  const idleMs = options.idleMs ?? 4000;
  const retryMs = options.retryMs ?? 6000;
  const maxPerIdle = options.maxPerIdle ?? 3;
  const idleCpuShare = options.idleCpuShare ?? 0.02;
  const minGrowth = options.minGrowthBytes ?? 8 * 1048576;
  const heap = options.heap ?? heapNow;
  const cpuMicros = options.cpuMicros ?? cpuTime;
  const log = options.logger;
  let collect = options.collect;
  let collections = 0;
  const youngLimit = options.youngLimitBytes ?? 4 * 1048576;
  let base = heap().committed;
  let lastCpu = cpuMicros();
  let idleFor = 0;
  /** Collections in this idle stretch, and the idle time of the last one. */
  let done = 0;
  let lastAt = 0;
  const timer = setInterval(() => {
    const cpu = cpuMicros();
    const busy = cpu - lastCpu >= idleCpuShare * intervalMs * 1000;
    lastCpu = cpu;
    if (busy) {
      idleFor = 0;
      done = 0;
      return;
    }
    idleFor += intervalMs;
    if (idleFor < idleMs || done >= maxPerIdle) return;
    const before = heap();
    const grown = before.committed >= base + minGrowth || before.young > youngLimit;
    if (!grown) {
      // Shrunk on its own (or never grew): measure growth from here.
      base = Math.min(base, before.committed);
      return;
    }
    if (done > 0 && idleFor - lastAt < retryMs) return;
    collect ??= exposedGc();
    if (!collect) {
      clearInterval(timer);
      log?.debug({}, 'idle collection unavailable: V8 did not expose its collector');
      return;
    }
    const t0 = performance.now();
    collect();
    collections++;
    done++;
    lastAt = idleFor;
    const after = heap();
    base = after.committed;
    // The collection's own CPU time is not the callers' load.
    lastCpu = cpuMicros();
    const mb = (n: number) => Math.round(n / 104857.6) / 10;
    log?.debug({ heap_mb_before: mb(before.committed), heap_mb_after: mb(after.committed), young_mb_after: mb(after.young), ms: Math.round((performance.now() - t0) * 10) / 10 }, 'idle: memory given back');
  }, intervalMs);
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
