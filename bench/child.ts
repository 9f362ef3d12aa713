/**
 * Child process for bench/lookup.ts (not a test, not run on its own). Started with child_process.fork() and one
 * JSON argument; it listens on loopback and reports over the IPC channel, so the load generator (autocannon, in the
 * parent) does not share this process's CPU, and this process's own CPU time and RSS can be read:
 *   { mode: 'gateway', config }            the real gateway: parseConfig + startServer (src/server.ts)
 *   { mode: 'floor', store, port, replay }  a bare node:http server, the SAME driver and pool (adapters/*),
 *                                           running exactly the SQL the gateway ran for a lookup; no auth, no Express
 *   { mode: 'template', store, port, replay } a bare node:http server that opens a NEW connection per request
 *                                           (as the stock IdP script templates do), runs the same SQL, closes it
 *   { mode: 'express', store, port, replay }  the mandated HTTP stack and nothing of the gateway's: Express 5 with
 *                                           helmet and express.json() on a /v1 router, the server-made prototypes
 *                                           the gateway runs with (src/http/prototypes.ts), the same pool and SQL;
 *                                           no token, no validation, no log, no metrics, no audit
 * Messages: child → parent { type: 'ready', url } / { type: 'stats', cpu, rss, heap, syscalls } / { type: 'error', message };
 * parent → child { type: 'stats' } / { type: 'exit' }.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import helmet from 'helmet';
import type { SqlDriver } from '../adapters/sql.js';
import { parseConfig } from '../src/config.js';
import { expressMessageClasses } from '../src/http/prototypes.js';
import { collectWhenIdle } from '../src/idlegc.js';
import { createLogger } from '../src/logger.js';
import { startServer } from '../src/server.js';
import { openBenchDriver, openOneShot, replayLookup, type BenchStore, type Replay } from './helpers.js';

type Spec =
  | { mode: 'gateway'; config: unknown }
  | { mode: 'floor' | 'template' | 'express'; store: BenchStore; port: number; replay: Replay };

const send = (m: unknown) => process.send?.(m);

/** Read and write system calls so far (Linux's /proc/self/io syscr + syscw: socket reads and writes included), or null. */
function ioSyscalls(): number | null {
  try {
    const io = readFileSync('/proc/self/io', 'utf8');
    const n = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(io)?.[1] ?? NaN);
    const total = n('syscr') + n('syscw');
    return Number.isFinite(total) ? total : null;
  } catch {
    return null;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function listen(server: ReturnType<typeof createServer>, port: number) {
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A bare node:http lookup endpoint around `run(login)`. */
function bareServer(port: number, run: (login: string) => Promise<unknown>) {
  const handler: RequestListener = async (req, res) => {
    try {
      const body = JSON.parse(await readBody(req)) as { login?: unknown };
      if (typeof body.login !== 'string') return json(res, 400, { error: 'invalid_request' });
      const user = await run(body.login);
      if (!user) return json(res, 404, { error: 'user_not_found' });
      json(res, 200, { user });
    } catch {
      json(res, 503, { error: 'store_unavailable' });
    }
  };
  return listen(createServer(handler), port);
}

/** The same endpoint on Express 5 + helmet + express.json(), laid out and served as the gateway's app is. */
function expressServer(port: number, run: (login: string) => Promise<unknown>) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(helmet());
  const v1 = express.Router();
  v1.use(express.json({ limit: '16kb' }));
  v1.post('/users/lookup', async (req, res) => {
    const login = (req.body as { login?: unknown } | undefined)?.login;
    if (typeof login !== 'string') return void res.status(400).json({ error: 'invalid_request' });
    try {
      const user = await run(login);
      if (!user) return void res.status(404).json({ error: 'user_not_found' });
      res.json({ user });
    } catch {
      res.status(503).json({ error: 'store_unavailable' });
    }
  });
  app.use('/v1', v1);
  return listen(createServer(expressMessageClasses(app), app), port);
}

async function main() {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  let close: () => Promise<void>;
  let url: string;
  if (spec.mode === 'gateway') {
    const config = parseConfig(spec.config, {});
    const logger = createLogger(config.log.level);
    const running = await startServer(config, logger);
    // As `serve` does: memory grown for a load is given back once the process is idle.
    collectWhenIdle({ logger });
    url = running.url;
    close = running.close;
  } else if (spec.mode === 'floor' || spec.mode === 'express') {
    const driver: SqlDriver = await openBenchDriver(spec.store);
    const run = (login: string) => replayLookup((sql, p) => driver.all(sql, p), spec.replay, login);
    const s = await (spec.mode === 'floor' ? bareServer : expressServer)(spec.port, run);
    url = s.url;
    close = async () => {
      await s.close();
      await driver.close();
    };
  } else {
    const s = await bareServer(spec.port, async (login) => {
      const conn = await openOneShot(spec.store);
      try {
        return await replayLookup(conn.all, spec.replay, login);
      } finally {
        await conn.close();
      }
    });
    url = s.url;
    close = s.close;
  }
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stats') {
      const mem = process.memoryUsage();
      // heap: V8's heap as committed (heapTotal: the young generation's semi-spaces included); the rest of the RSS is code, stacks and the C heap.
      send({ type: 'stats', cpu: process.cpuUsage(), rss: mem.rss, heap: mem.heapTotal, syscalls: ioSyscalls() });
    }
    if (m?.type === 'exit') {
      const t = setTimeout(() => process.exit(0), 3000);
      t.unref();
      close().then(() => process.exit(0), () => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', url });
}

main().catch((e: unknown) => {
  send({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  setTimeout(() => process.exit(1), 100);
});
