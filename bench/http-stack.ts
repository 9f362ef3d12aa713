/**
 * What the HTTP stack alone costs (not a test): the same JSON answer to the same POST, with no database, served by
 *   node:http          a bare server: read the body, JSON.parse, answer (the floor of bench/lookup.ts without its pool)
 *   express            Express 5 with express.json(), one route on a /v1 router (the gateway's layout)
 *   express + helmet   the same behind helmet()
 *   ... , server-made prototypes
 *                      the same two on a server that creates requests and responses with the app's prototypes
 *                      already (src/http/prototypes.ts, as the gateway runs it), so that Express's per-request
 *                      Object.setPrototypeOf changes nothing
 * each in its own child process, loaded by autocannon from this one at the same concurrency. It prints requests/s and
 * the server's CPU time per request. It shows how much of bench/lookup.ts's gap to its floor (b) is the mandated HTTP
 * stack itself rather than the gateway's own work.
 *
 *   node dist/bench/http-stack.js [--seconds 6] [--concurrency 16]
 */
import { fork } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import express from 'express';
import helmet from 'helmet';
import { expressMessageClasses } from '../src/http/prototypes.js';
import { benchArgs } from './args.js';

const SERVER_MADE = ', server-made prototypes';
type Mode = 'node:http' | 'express' | 'express + helmet' | `express${typeof SERVER_MADE}` | `express + helmet${typeof SERVER_MADE}`;
const MODES: Mode[] = ['node:http', 'express', 'express + helmet', `express${SERVER_MADE}`, `express + helmet${SERVER_MADE}`];
const ANSWER = JSON.stringify({ user: { user_id: 'legacy|1', email: 'alice@example.com', email_verified: true, username: 'alice', name: 'Alice Doe' } });

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function serve(mode: Mode): Server {
  if (mode === 'node:http') {
    return createServer((req, res) => {
      body(req).then((text) => {
        JSON.parse(text);
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(ANSWER) });
        res.end(ANSWER);
      }, () => res.destroy());
    });
  }
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (mode.startsWith('express + helmet')) app.use(helmet());
  const v1 = express.Router();
  v1.use(express.json({ limit: '16kb' }));
  v1.post('/users/lookup', (_req, res) => {
    res.json(JSON.parse(ANSWER));
  });
  app.use('/v1', v1);
  return mode.endsWith(SERVER_MADE) ? createServer(expressMessageClasses(app), app) : createServer(app);
}

async function child(mode: Mode): Promise<void> {
  const server = serve(mode);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.on('message', (m: string) => {
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() });
    else process.exit(0);
  });
  process.send?.({ port: (server.address() as AddressInfo).port });
}

async function main(): Promise<void> {
  const values = benchArgs(
    `HTTP stack benchmark: the same answer from node:http, Express, Express + helmet, with and without server-made prototypes.

  node dist/bench/http-stack.js [--seconds 6] [--concurrency 16]`,
    { seconds: '6', concurrency: '16' },
    ['seconds'],
    ['concurrency'],
  );
  const seconds = Number(values.seconds);
  const connections = Number(values.concurrency);
  const rows: { mode: Mode; rps: number; cpuMs: number; p99: number }[] = [];
  for (const mode of MODES) {
    const proc = fork(fileURLToPath(import.meta.url), ['--child', mode]);
    const port = await new Promise<number>((resolve) => proc.once('message', (m: { port: number }) => resolve(m.port)));
    const load = (s: number) =>
      new Promise<autocannon.Result>((resolve, reject) =>
        autocannon(
          { url: `http://127.0.0.1:${port}/v1/users/lookup`, method: 'POST', connections, duration: s, headers: { 'content-type': 'application/json' }, body: '{"login":"alice@example.com"}' },
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
    const cpu = () => new Promise<NodeJS.CpuUsage>((resolve) => {
      proc.once('message', (m: { cpu: NodeJS.CpuUsage }) => resolve(m.cpu));
      proc.send('cpu');
    });
    await load(1); // warm-up
    const before = await cpu();
    const r = await load(seconds);
    const after = await cpu();
    const used = (after.user + after.system - before.user - before.system) / 1000;
    rows.push({ mode, rps: r.requests.average, cpuMs: used / Math.max(1, r.requests.total), p99: r.latency.p99 });
    proc.send('exit');
  }
  const floor = rows[0]!;
  console.log(`\n### HTTP stack alone: the same answer, no database (concurrency ${connections}, ${seconds} s each)\n`);
  console.log('| server | requests/s | vs node:http | CPU per request | p99 |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.mode} | ${r.rps.toFixed(0)} | ${(r.rps / floor.rps).toFixed(2)}× | ${r.cpuMs.toFixed(3)} ms | ${r.p99} ms |`);
}

if (process.argv[2] === '--child') void child(process.argv[3] as Mode);
else main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
