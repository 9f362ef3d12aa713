/**
 * The paced load generator for bench/lookup.ts (not a test, not run on its own), in a process of its own. Started
 * with child_process.fork(); parent → child { type: 'pace', ...PaceJob } / { type: 'exit' }; child → parent
 * { type: 'ready' } / { type: 'paced', ...PaceResult } / { type: 'error', message }.
 *
 * Why a process of its own: a paced request's latency is timed by the generator, so every stall of the generator's
 * event loop (its own garbage collection, other work in its process) is added to the answers that arrive during it.
 * In the benchmark's own process, whose heap holds the storms' latencies and the seeding's leftovers, one SQLite-only
 * run showed an incremental-marking step of 12.9 ms during a paced turn, and that loop's delay reached p99 8.3 ms,
 * max 14.3 ms in its worst turn. Here the heap holds one turn's latencies, and the generator's own loop delay is
 * measured and reported with each turn, so that a reader can tell the generator's share of a p99 from the server's.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { loadTest } from 'loadtest';

export interface PaceJob {
  url: string;
  headers: Record<string, string>;
  /** Request bodies, used in turn (made by the parent: the logins are its business). */
  bodies: string[];
  rate: number;
  seconds: number;
}

export interface PaceResult {
  ok: number;
  bad: number;
  /** seconds */
  duration: number;
  /** ms, each request's from its creation to its answer's headers */
  lat: number[];
  /** this generator's own event-loop delay during the turn, ms */
  loopP99: number;
  loopMax: number;
}

/**
 * Paced (open-model) load: loadtest sends `rate` requests per second at evenly spaced moments whatever the answers
 * (HighResolutionTimer), as independent callers would. autocannon's overallRate is a per-second budget instead (each
 * connection runs at full speed until it has sent its share of the second, then waits for the next second), so its
 * latencies are those of full load for part of each second, not of the rate asked for.
 */
export async function pace(job: PaceJob): Promise<PaceResult> {
  const lat: number[] = [];
  let ok = 0;
  let bad = 0;
  let next = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    loadTest(
      {
        url: job.url,
        method: 'POST',
        contentType: 'application/json',
        headers: job.headers,
        body: () => job.bodies[next++ % job.bodies.length]!,
        requestsPerSecond: job.rate,
        maxSeconds: job.seconds,
        agentKeepAlive: true,
        timeout: 10_000,
        quiet: true,
        // loadtest's own requestElapsed is in whole milliseconds: time each request here instead, from its creation to
        // its answer's headers (the answer is one small packet).
        requestGenerator: (_o: unknown, params: RequestOptions, request: typeof httpRequest, callback: (res: IncomingMessage) => void) => {
          const t = performance.now();
          return request(params, (res) => {
            lat.push(performance.now() - t);
            callback(res);
          });
        },
        statusCallback: (error: unknown, result?: { statusCode?: number }) => {
          if (!error && result?.statusCode !== undefined && result.statusCode < 300) ok++;
          else bad++;
        },
      },
      (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
    );
  });
  const duration = (performance.now() - t0) / 1000;
  loop.disable();
  // monitorEventLoopDelay's figures are in nanoseconds; with resolution 1 its floor is about 1 ms.
  return { ok, bad, duration, lat, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6 };
}

// Only as the benchmark's forked child: a module that imports pace() (a test) sends and listens for nothing.
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const send = (m: unknown) => process.send?.(m);
  process.on('message', (m: { type: string } & Partial<PaceJob>) => {
    if (m.type === 'exit') process.exit(0);
    if (m.type === 'pace') {
      pace(m as PaceJob).then(
        (r) => send({ type: 'paced', ...r }),
        (e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
      );
    }
  });
  send({ type: 'ready' });
}
