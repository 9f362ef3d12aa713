/**
 * The lookup benchmark's figures (bench/lookup.ts): stretches of load, what one configuration's stretches add up to,
 * and configurations taking turns. No I/O here: the load itself is lookup.ts's.
 */

/** One configuration's figures. */
export interface Measured {
  rps: number;
  ok: number;
  bad: number;
  p50: number;
  p95: number;
  p99: number;
  cpuUsPerReq: number | null;
  /** read + write system calls per request (Linux), null where unknown */
  syscallsPerReq: number | null;
  rssMb: number | null;
  /** V8's committed heap (heapTotal) of the server process after the load, null where unknown */
  heapMb?: number | null;
}

/**
 * One stretch of load on one configuration: the generator's counts and latencies (ms), and the server's CPU time
 * (µs), system calls and memory around it (null where not known). Several stretches of one configuration make one
 * Measured.
 */
export interface Stretch {
  ok: number;
  bad: number;
  /** seconds */
  duration: number;
  lat: number[];
  cpuUs: number | null;
  syscalls: number | null;
  rssMb: number | null;
  heapMb: number | null;
}

/** The nearest-rank percentile of sorted values; NaN for none. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function pcts(lat: number[]) {
  const s = Float64Array.from(lat).sort();
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
}

/**
 * One configuration's figures over its stretches: requests/s over their total time, percentiles over all their
 * latencies, CPU and system calls per request over all their requests (null if any stretch lacks them), RSS and heap
 * as the last stretch left them.
 */
export function measured(parts: readonly Stretch[]): Measured {
  const last = parts[parts.length - 1];
  if (!last) throw new Error('measured: no stretches');
  const sum = (k: (s: Stretch) => number | null) => (parts.some((x) => k(x) === null) ? null : parts.reduce((a, x) => a + k(x)!, 0));
  const ok = sum((x) => x.ok)!;
  const bad = sum((x) => x.bad)!;
  const n = ok + bad;
  const cpuUs = sum((x) => x.cpuUs);
  const syscalls = sum((x) => x.syscalls);
  return {
    rps: ok / sum((x) => x.duration)!,
    ok,
    bad,
    ...pcts(parts.flatMap((x) => x.lat)),
    cpuUsPerReq: cpuUs !== null && n ? cpuUs / n : null,
    syscallsPerReq: syscalls !== null && n ? syscalls / n : null,
    rssMb: last.rssMb,
    heapMb: last.heapMb,
  };
}

/**
 * Configurations measured side by side, taking turns: `rounds` rounds of seconds/rounds each, each round in the same
 * order (A B C A B C ...), so that a change of the machine's speed during the measurement falls on every
 * configuration alike instead of on whichever ran first or last. Each configuration's figures are over all its
 * stretches; the last configuration's stretch is the last one.
 */
export async function alternate<K extends string>(runs: readonly (readonly [K, (seconds: number) => Promise<Stretch>])[], seconds: number, rounds: number): Promise<Record<K, Measured>> {
  const parts = new Map<K, Stretch[]>(runs.map(([k]) => [k, []]));
  for (let i = 0; i < rounds; i++) {
    for (const [k, run] of runs) parts.get(k)!.push(await run(seconds / rounds));
  }
  return Object.fromEntries([...parts].map(([k, v]) => [k, measured(v)])) as Record<K, Measured>;
}
