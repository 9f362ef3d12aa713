/**
 * Lookup benchmark (not a test): the gateway against baselines measured in the same run, on PostgreSQL, MariaDB/MySQL
 * and SQLite, each seeded with 100,000 users and the indexes `legacy-gateway check` prints.
 *
 *   npm run bench   (or: node dist/bench/lookup.js [--seconds 8] [--concurrency 16] [--stores postgres,mysql,sqlite]
 *                         [--users 100000] [--pool 10] [--log-level info] [--profile DIR])
 *   --profile DIR writes a V8 CPU profile of each server child (node --cpu-prof) to DIR/<mode>-<store>/.
 *
 * Storms come from autocannon, in this process; every server under test runs in a child process (bench/child.ts),
 * so its CPU time and RSS are its own. Per store, all at the same concurrency:
 *   gateway   POST /v1/users/lookup through the real gateway (token check, Express, store, profile)
 *   (a) raw   the same SQL (captured from the gateway's own store for a lookup), same driver and pool size, in a loop
 *   (b) floor a bare node:http server, same driver, pool and SQL, JSON response, no auth: the floor of any HTTP API
 *   (b′) Express floor: the mandated stack (Express 5, helmet, express.json(), the gateway's server-made prototypes)
 *             with the same pool and SQL and nothing of the gateway's own: the floor of this gateway's stack, which
 *             splits the gap to (b) into what the stack costs and what the gateway's own work costs
 *   (c) template style: a bare node:http server opening a new connection per request, same SQL
 *   half rate: the gateway again, paced at half its measured maximum rate (loadtest, evenly spaced requests, in a
 *             process of its own: bench/pacer.ts), for p99; the floor (b) is paced at the same rate, for comparison
 * and once (first available store) verify: POST /v1/credentials/verify vs (d) raw native bcrypt.verify at cost 10,
 * same concurrency, same UV_THREADPOOL_SIZE as the gateway process.
 * The gateway, (b) and (b′) run side by side and take turns (alternate()), because this machine's speed drifts by
 * tens of percent from minute to minute, and configurations measured one after the other each got their own minute's
 * speed: their storms in turns of 1 s, their paced runs in turns of 2 s. The turns are short so that the gateway
 * never idles long enough between its own turns for its idle collection (src/idlegc.ts: 4 s below 2% CPU), which
 * would make its next turn start with a shrunken heap and part of its optimized code discarded: these measure a
 * steady load. The verify comparison is one stretch each, not turns: the end of an autocannon turn abandons the
 * verifications in flight, whose hashes would run on into the next turn. (a) and (c) run alone, after them.
 * Start to ready: from spawning the gateway's process to its first 200 from /readyz, timed once the machine is quiet
 * again after seeding, with V8's code cache (src/launch.ts); first, on the demo store, a start without the cache and
 * one with it.
 * Databases are created as lg_bench_<random> and dropped at the end (also on failure, Ctrl-C and the watchdog).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { hashSync, verify as bcryptVerify } from '@node-rs/bcrypt';
import autocannon from 'autocannon';
import type BetterSqlite3 from 'better-sqlite3';
import type * as MySQL from 'mysql2/promise';
import type PG from 'pg';
import type { Row, SqlDriver } from '../adapters/sql.js';
import { parseConfig, type Config } from '../src/config.js';
import { indexSuggestions, migrationDdl } from '../src/dba.js';
import { CLI_CALLER } from '../src/audit.js';
import { createDemoDatabase, demoConfig } from '../src/demo.js';
import { startLocalIssuer } from '../src/devtokens.js';
import { cacheFileFor } from '../src/launch.js';
import { createLogger } from '../src/logger.js';
import { buildGateway } from '../src/server.js';
import { benchArgs, usageError } from './args.js';
import { openBenchDriver, openGatewayStore, replayLookup, type BenchAdapter, type BenchStore, type Replay } from './helpers.js';
import { alternate, measured, type Measured, type Stretch } from './measure.js';
import type { PaceJob, PaceResult } from './pacer.js';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));

const USAGE = `Lookup benchmark: the gateway against baselines measured in the same run (raw driver, bare node:http, template style).

  node dist/bench/lookup.js [--seconds 8] [--concurrency 16] [--stores postgres,mysql,sqlite] [--users 100000]
                            [--pool 10] [--log-level info] [--profile DIR]

  --profile DIR   write a V8 CPU profile of each server child under DIR/<mode>-<store>/
It seeds lg_bench_<random> databases on 127.0.0.1 (PostgreSQL as postgres, MariaDB as root) and drops them at the end.`;
const values = benchArgs(
  USAGE,
  { seconds: '8', concurrency: '16', stores: 'postgres,mysql,sqlite', users: '100000', pool: '10', 'log-level': 'info', profile: undefined },
  ['seconds'],
  ['concurrency', 'users', 'pool'],
);
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const USERS = Number(values.users);
const POOL = Number(values.pool);
const LOG_LEVEL = values['log-level']!;
/** --profile DIR: each server child runs with --cpu-prof and writes its .cpuprofile files under DIR. */
const PROFILE_DIR = values.profile ? path.resolve(values.profile) : undefined;
const profileArgs = (name: string) => (PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, name)] : []);
const STORES = values.stores!.split(',').map((s) => s.trim()).filter(Boolean) as BenchAdapter[];
const PASSWORD = 'benchmark-password-1';
/** Turns per configuration (alternate): storms in turns of about 1 s, paced runs in turns of about 2 s. */
const STORM_ROUNDS = Math.max(1, Math.round(SECONDS));
const PACED_ROUNDS = Math.max(1, Math.round(SECONDS / 2));
/** How long after the load the RSS is read a second time: src/idlegc.ts gives memory back 4-12 s after a load ends. */
const AFTER_IDLE_S = 15;
const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
const MY_ADMIN = 'mysql://root@127.0.0.1:3306/';
const WATCHDOG_MS = 9.5 * 60_000;
const QUERY_TIMEOUT_MS = 5000;
const T_START = performance.now();

for (const s of STORES) if (!['postgres', 'mysql', 'sqlite'].includes(s)) usageError(`--stores: unknown store ${JSON.stringify(s.slice(0, 40))} (postgres, mysql, sqlite)`, USAGE);
if (!STORES.length) usageError('--stores: name at least one store', USAGE);
if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(LOG_LEVEL)) usageError(`--log-level: one of fatal, error, warn, info, debug, trace, silent`, USAGE);

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: databases, children, temp files. Runs in finally, on SIGINT/SIGTERM and from the watchdog.
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
  })();
  return cleaning;
}
const bail = (why: string, code: number) => {
  console.error(why);
  const t = setTimeout(() => process.exit(code), 20_000);
  t.unref();
  cleanup().finally(() => process.exit(code));
};
process.on('SIGINT', () => bail('interrupted: dropping the bench databases', 130));
process.on('SIGTERM', () => bail('terminated: dropping the bench databases', 143));
setTimeout(() => bail(`watchdog: still running after ${WATCHDOG_MS / 60_000} min, aborting`, 2), WATCHDOG_MS).unref();

// ---------------------------------------------------------------------------------------------------------------
// Small utilities.
const log = (s = '') => console.log(s);
const f = (n: number | null | undefined, d = 0) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
const secs = () => ((performance.now() - T_START) / 1000).toFixed(0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errText = (e: unknown) => (e instanceof Error ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ''}${e.message}` : String(e)).split('\n')[0]!;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const randomId = () => 1 + Math.floor(Math.random() * USERS);
/** An existing user's login, half as the email, half as the username, in mixed case (the gateway folds case). */
const randomLogin = () => {
  const id = randomId();
  return Math.random() < 0.5 ? `user${id}@example.com` : `User${id}`;
};

// ---------------------------------------------------------------------------------------------------------------
// Child processes (bench/child.ts).
interface Child {
  proc: ChildProcess;
  url: string;
  spawnedAt: number;
  stats(): Promise<{ cpuUs: number; rssMb: number; heapMb: number; syscalls: number | null }>;
  stop(): Promise<void>;
}

/**
 * A forked process of the benchmark's (bench/child.ts, bench/pacer.ts): the tail of its stderr, for error messages,
 * and a stop that asks it to exit and kills it after 5 s, registered with the clean-ups.
 */
function forkBench(file: string, args: string[], execArgv: string[]) {
  const proc = fork(path.join(HERE, file), args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: process.env, execArgv });
  let tail = '';
  proc.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-2000);
  });
  let exited = false;
  proc.once('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (exited) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.send?.({ type: 'exit' });
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  };
  cleanups.push(stop);
  return { proc, stderr: () => tail, stop };
}

async function spawnChild(spec: unknown, execArgv: string[] = []): Promise<Child> {
  const spawnedAt = performance.now();
  const { proc, stderr, stop } = forkBench('child.js', [JSON.stringify(spec)], execArgv);
  const waiters: ((m: { cpu: NodeJS.CpuUsage; rss: number; heap: number; syscalls: number | null }) => void)[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start within 30 s ${stderr()}`)), 30_000);
    proc.on('message', (m: { type: string; url?: string; message?: string; cpu?: NodeJS.CpuUsage; rss?: number; heap?: number; syscalls?: number | null }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.url!);
      } else if (m.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`child failed: ${m.message} ${stderr()}`));
      } else if (m.type === 'stats') waiters.shift()?.({ cpu: m.cpu!, rss: m.rss!, heap: m.heap ?? NaN, syscalls: m.syscalls ?? null });
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) ${stderr()}`));
    });
  });
  return {
    proc,
    url,
    spawnedAt,
    stats: () =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('child stats timeout')), 5000);
        waiters.push((m) => {
          clearTimeout(t);
          resolve({ cpuUs: m.cpu.user + m.cpu.system, rssMb: m.rss / 1048576, heapMb: m.heap / 1048576, syscalls: m.syscalls });
        });
        proc.send({ type: 'stats' });
      }),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Load.
/** autocannon against url+path, one POST per request with a fresh body. */
function cannon(url: string, p: string, body: () => string, headers: Record<string, string>, seconds: number) {
  return new Promise<{ ok: number; bad: number; duration: number; lat: number[] }>((resolve, reject) => {
    const lat: number[] = [];
    const inst = autocannon(
      {
        url,
        connections: CONCURRENCY,
        duration: seconds,
        timeout: 10,
        headers: { 'content-type': 'application/json', ...headers },
        requests: [{ method: 'POST', path: p, setupRequest: (req) => ({ ...req, body: body() }) }],
      },
      (err, res) => {
        if (err) return reject(err);
        resolve({ ok: res['2xx'], bad: res.non2xx + res.errors, duration: res.duration, lat });
      },
    );
    inst.on('response', (_c, _status, _bytes, ms) => lat.push(ms));
  });
}

async function httpLoad(child: Child, p: string, body: () => string, headers: Record<string, string>, seconds: number): Promise<Stretch> {
  const before = await child.stats();
  const r = await cannon(child.url, p, body, headers, seconds);
  return stretch(before, await child.stats(), { ok: r.ok, bad: r.bad, duration: r.duration, lat: r.lat });
}

type Stats = Awaited<ReturnType<Child['stats']>>;

/** A stretch's figures: `r` from the generator, the server child's CPU, system calls and RSS from its stats around it. */
function stretch(before: Stats, after: Stats, r: { ok: number; bad: number; duration: number; lat: number[] }): Stretch {
  const syscalls = after.syscalls !== null && before.syscalls !== null ? after.syscalls - before.syscalls : null;
  return { ...r, cpuUs: after.cpuUs - before.cpuUs, syscalls, rssMb: after.rssMb, heapMb: after.heapMb };
}

/** The paced load generator (bench/pacer.ts), in its own process: its loop's stalls would be added to the latencies. */
interface Pacer {
  run(job: PaceJob): Promise<PaceResult>;
  stop(): Promise<void>;
}

async function startPacer(): Promise<Pacer> {
  const { proc, stderr, stop } = forkBench('pacer.js', [], []);
  let pending: { resolve: (r: PaceResult) => void; reject: (e: Error) => void } | null = null;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pacer did not start within 30 s ${stderr()}`)), 30_000);
    proc.on('message', (m: { type: string; message?: string } & PaceResult) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve();
        return;
      }
      const p = pending;
      pending = null;
      if (m.type === 'paced') p?.resolve(m);
      else if (m.type === 'error') p?.reject(new Error(`pacer: ${m.message} ${stderr()}`));
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      const e = new Error(`pacer exited (${code}) ${stderr()}`);
      reject(e);
      pending?.reject(e);
    });
  });
  return {
    run: (job) =>
      new Promise((resolve, reject) => {
        pending = { resolve, reject };
        proc.send({ type: 'pace', ...job });
      }),
    stop,
  };
}

/** A paced configuration's figures, with the rate and the generator's own loop delay (worst turn's p99 and max). */
type Paced = Measured & { rate: number; pacerLoop?: { p99: number; max: number } | undefined };

/** The paced generator's own event-loop delay, per configuration: the worst turn's p99 and max, ms. */
const pacerLoop = new Map<string, { p99: number; max: number }>();

/**
 * Paced (open-model) load on `child` from the pacer (bench/pacer.ts: loadtest, evenly spaced requests whatever the
 * answers, as independent callers would send them); latency is from each request's creation to its answer.
 */
async function pacedLoad(pacer: Pacer, child: Child, p: string, body: () => string, headers: Record<string, string>, seconds: number, rate: number): Promise<Stretch> {
  const bodies = Array.from({ length: Math.ceil(rate * seconds) + 16 }, body);
  const before = await child.stats();
  const r = await pacer.run({ url: `${child.url}${p}`, headers, bodies, rate, seconds });
  const seen = pacerLoop.get(child.url) ?? { p99: 0, max: 0 };
  pacerLoop.set(child.url, { p99: Math.max(seen.p99, r.loopP99), max: Math.max(seen.max, r.loopMax) });
  return stretch(before, await child.stats(), { ok: r.ok, bad: r.bad, duration: r.duration, lat: r.lat });
}

/** `concurrency` loops of `op` in this process for `seconds` (no HTTP). CPU is this process's. */
async function loop(op: () => Promise<boolean>, seconds: number): Promise<Stretch> {
  const lat: number[] = [];
  let ok = 0;
  let bad = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          if (await op()) ok++;
          else bad++;
        } catch {
          bad++;
        }
        lat.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { ok, bad, duration: elapsed, lat, cpuUs: cpu.user + cpu.system, syscalls: null, rssMb: null, heapMb: null };
}

// ---------------------------------------------------------------------------------------------------------------
// Seeding.
const NAMES = { postgres: 'PostgreSQL', mysql: 'MariaDB/MySQL', sqlite: 'SQLite' } as const;

interface Seeded {
  url: string;
  /** Run DDL as a DBA would paste it (several statements and comments allowed). */
  exec(sql: string): Promise<void>;
  analyze(): Promise<void>;
  close(): Promise<void>;
}

async function seedPostgres(db: string, hash: string): Promise<Seeded> {
  const pg = require('pg') as typeof PG;
  const admin = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${db}`);
  } finally {
    await admin.end();
  }
  cleanups.push(async () => {
    const a = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
    await a.connect();
    try {
      await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      log(`  dropped PostgreSQL database ${db}`);
    } finally {
      await a.end();
    }
  });
  const url = `postgres://postgres@127.0.0.1:5432/${db}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`CREATE TABLE users (id integer PRIMARY KEY, email text, username text, password_hash text, full_name text, given_name text,
    family_name text, email_confirmed integer, is_disabled integer NOT NULL DEFAULT 0, plan text, locale text)`);
  await c.query(
    `INSERT INTO users SELECT g, 'user' || g || '@example.com', 'user' || g, $1, 'User ' || g, 'User', g::text, 1, 0, 'free', 'en'
     FROM generate_series(1, $2::int) g`,
    [hash, USERS],
  );
  // VACUUM as well: a freshly loaded table's rows carry no hint bits and no visibility map, which the first reader
  // would set (dirtying pages) and autovacuum would come back for, during whichever configuration runs first.
  // CHECKPOINT: the load's dirty pages are written now, not by the checkpointer during a measurement.
  const analyze = async () => {
    await c.query('VACUUM ANALYZE');
    await c.query('CHECKPOINT');
  };
  return { url, exec: async (sql) => void (await c.query(sql)), analyze, close: () => c.end() };
}

async function seedMysql(db: string, hash: string): Promise<Seeded> {
  const mysql = require('mysql2/promise') as typeof MySQL;
  const admin = await mysql.createConnection({ uri: MY_ADMIN, connectTimeout: 3000 });
  try {
    await admin.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4`);
  } finally {
    await admin.end();
  }
  cleanups.push(async () => {
    const a = await mysql.createConnection({ uri: MY_ADMIN, connectTimeout: 3000 });
    try {
      await a.query(`DROP DATABASE IF EXISTS ${db}`);
      log(`  dropped MariaDB database ${db}`);
    } finally {
      await a.end();
    }
  });
  const url = `mysql://root@127.0.0.1:3306/${db}`;
  const c = await mysql.createConnection({ uri: url, multipleStatements: true, charset: 'utf8mb4' });
  await c.query(`CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255), username VARCHAR(255), password_hash VARCHAR(255),
    full_name VARCHAR(255), given_name VARCHAR(100), family_name VARCHAR(100), email_confirmed TINYINT, is_disabled TINYINT NOT NULL DEFAULT 0,
    plan VARCHAR(50), locale VARCHAR(10)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  const cols = (n: string) => `${n}, CONCAT('user', ${n}, '@example.com'), CONCAT('user', ${n}), ?, CONCAT('User ', ${n}), 'User', ${n}, 1, 0, 'free', 'en'`;
  try {
    await c.query(`INSERT INTO users SELECT ${cols('seq')} FROM seq_1_to_${USERS}`, [hash]);
  } catch {
    // No Sequence engine (MySQL): a recursive CTE.
    await c.query('SET SESSION cte_max_recursion_depth = 1000000').catch(() => {});
    await c.query(`INSERT INTO users WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ${USERS}) SELECT ${cols('n')} FROM s`, [hash]);
  }
  return { url, exec: async (sql) => void (await c.query(sql)), analyze: async () => void (await c.query('ANALYZE TABLE users')), close: () => c.end() };
}

async function seedSqlite(dir: string, hash: string): Promise<Seeded> {
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const file = path.join(dir, `lg_bench_${randomBytes(4).toString('hex')}.sqlite`);
  const db = new Database(file);
  // check's index for SQLite is on the gateway's lg_lower(); only a connection that registers it can build it.
  db.function('lg_lower', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v));
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, username TEXT, password_hash TEXT, full_name TEXT, given_name TEXT,
    family_name TEXT, email_confirmed INTEGER, is_disabled INTEGER NOT NULL DEFAULT 0, plan TEXT, locale TEXT)`);
  const ins = db.prepare(`INSERT INTO users VALUES (?, ?, ?, ?, ?, 'User', ?, 1, 0, 'free', 'en')`);
  db.transaction(() => {
    for (let i = 1; i <= USERS; i++) ins.run(i, `user${i}@example.com`, `user${i}`, hash, `User ${i}`, String(i));
  })();
  return { url: file, exec: async (sql) => void db.exec(sql), analyze: async () => void db.exec('ANALYZE'), close: async () => void db.close() };
}

async function reachable(a: BenchAdapter): Promise<string | null> {
  try {
    if (a === 'postgres') {
      const pg = require('pg') as typeof PG;
      const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
      await c.connect();
      await c.end();
    } else if (a === 'mysql') {
      const mysql = require('mysql2/promise') as typeof MySQL;
      await (await mysql.createConnection({ uri: MY_ADMIN, connectTimeout: 3000 })).end();
    }
    return null;
  } catch (e) {
    return errText(e);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Capturing the gateway's own SQL for a lookup, and its plan.
async function capture(config: Config): Promise<{ replay: Replay; plan: string }> {
  let rec: { sql: string; params: unknown[]; rows: Row[] }[] | null = null;
  let driver!: SqlDriver;
  const store = await openGatewayStore(config.store, (d) => {
    driver = d;
    return {
      dialect: d.dialect,
      all: async (sql, params) => {
        const rows = await d.all(sql, params);
        rec?.push({ sql, params: [...params], rows });
        return rows;
      },
      run: (sql, params) => d.run(sql, params),
      close: () => d.close(),
    };
  });
  try {
    const { gateway } = await buildGateway(config, createLogger('silent'), store);
    rec = [];
    await gateway.lookup('User42', CLI_CALLER);
    // Only the lookup's own statements: from the first that binds the login on (background work such as the decoy's
    // sampling may run statements at the same time).
    const all = rec as { sql: string; params: unknown[]; rows: Row[] }[];
    rec = null;
    const start = all.findIndex((c) => c.params.includes('user42'));
    const calls = start < 0 ? [] : all.slice(start).filter((c, i) => i === 0 || c.params.some((p) => p === 'user42' || all[start]!.rows.some((r) => String(r.f_id) === String(p))));
    const first = calls[0];
    if (!first) throw new Error('the gateway ran no SQL for a lookup');
    const replay: Replay = { needle: 'user42', ids: first.rows.map((r) => String(r.f_id)), calls: calls.map(({ sql, params }) => ({ sql, params })) };
    let plan: string;
    try {
      if (config.store.adapter === 'postgres') {
        const rows = await driver.all(`EXPLAIN ${first.sql}`, first.params);
        plan = rows.map((r) => String(r['QUERY PLAN'])).join('\n');
      } else if (config.store.adapter === 'mysql') {
        const rows = await driver.all(`EXPLAIN ${first.sql}`, first.params);
        plan = rows.map((r) => `type=${String(r.type)} key=${String(r.key)} rows=${String(r.rows)} ${String(r.Extra ?? '')}`).join('\n');
      } else {
        const rows = await driver.all(`EXPLAIN QUERY PLAN ${first.sql}`, first.params);
        plan = rows.map((r) => String(r.detail)).join('\n');
      }
    } catch (e) {
      plan = `(EXPLAIN failed: ${errText(e)})`;
    }
    return { replay, plan };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
interface StoreResult {
  adapter: BenchAdapter;
  skipped?: string;
  seedS?: number;
  startToReadyMs?: number;
  idleRssMb?: number;
  rssAfterLoadMb?: number;
  heapAfterLoadMb?: number;
  /** The same, AFTER_IDLE_S seconds after the load ended (src/idlegc.ts gives memory back once idle). */
  rssAfterIdleMb?: number;
  heapAfterIdleMb?: number;
  gw?: Measured;
  half?: Paced;
  floorHalf?: Paced;
  raw?: Measured;
  floor?: Measured;
  express?: Measured;
  template?: Measured;
  verify?: { gw: Measured; raw: Measured; threadpool: string };
}

/** Busy and total CPU time of the machine so far (Linux /proc/stat, in ticks), or null elsewhere. */
function cpuTicks(): { busy: number; total: number } | null {
  try {
    const [, ...t] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const n = t.slice(0, 8).map(Number); // user nice system idle iowait irq softirq steal
    const total = n.reduce((a, b) => a + b, 0);
    return { busy: total - n[3]! - n[4]!, total };
  } catch {
    return null;
  }
}

/**
 * Wait (at most 15 s) until the machine is quiet: under 15% busy over a quarter second. Right after seeding, the
 * database server is still writing (PostgreSQL's checkpoint, InnoDB's flush): a start timed then measures that, not
 * the gateway. Returns the seconds waited.
 */
async function quiet(): Promise<number> {
  const t0 = performance.now();
  let a = cpuTicks();
  while (a && performance.now() - t0 < 15_000) {
    await sleep(250);
    const b = cpuTicks()!;
    if (b.total > a.total && (b.busy - a.busy) / (b.total - a.total) < 0.15) break;
    a = b;
  }
  return (performance.now() - t0) / 1000;
}

async function waitReady(url: string, spawnedAt: number): Promise<number> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    try {
      const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === 200) return performance.now() - spawnedAt;
    } catch {
      // not listening yet
    }
    await sleep(5);
  }
  throw new Error('gateway not ready within 30 s');
}

async function benchStore(adapter: BenchAdapter, dir: string, hash: string, issuer: Awaited<ReturnType<typeof startLocalIssuer>>, token: string, doVerify: boolean): Promise<StoreResult> {
  const res: StoreResult = { adapter };
  const down = await reachable(adapter);
  if (down) {
    log(`${NAMES[adapter]}: server unreachable (${down}): skipped`);
    return { adapter, skipped: `unreachable: ${down}` };
  }
  log(`## ${NAMES[adapter]}  [t=${secs()} s]`);
  const name = `lg_bench_${randomBytes(5).toString('hex')}`;
  const t0 = performance.now();
  const seeded = adapter === 'postgres' ? await seedPostgres(name, hash) : adapter === 'mysql' ? await seedMysql(name, hash) : await seedSqlite(dir, hash);
  const port = await freePort();
  const base = demoConfig(seeded.url, issuer.issuer, issuer.audience, port);
  const raw = JSON.parse(
    JSON.stringify({
      ...base,
      server: { ...base.server, host: '127.0.0.1', port },
      store: { ...base.store, adapter, url: seeded.url, pool_max: POOL, query_timeout_ms: QUERY_TIMEOUT_MS },
      limits: { ...base.limits, login_failures: { max: 1_000_000, window_s: 1 } },
      log: { level: LOG_LEVEL },
    }),
  ) as unknown;
  const config = parseConfig(raw, {});
  try {
    const ddl = migrationDdl(config);
    await seeded.exec(ddl);
    log(`  ${USERS} users seeded; migration DDL run: ${ddl.replace(/\s+/g, ' ')}`);
    // The dialect the gateway's own driver reports for this server (PostgreSQL: whether it folds with ICU).
    // Opened as the gateway opens it, after the tables exist (MySQL reads the login columns' collations).
    const probe = await openGatewayStore(config.store);
    const dialect = probe.dialect;
    await probe.close();
    for (const stmt of indexSuggestions(config, dialect)) {
      if (stmt.trim().startsWith('--')) {
        log(`  index suggestion is a comment, nothing run: ${stmt}`);
        continue;
      }
      try {
        await seeded.exec(stmt);
        log(`  index run: ${stmt}`);
      } catch (e) {
        log(`  index suggestion FAILED (${errText(e)}): ${stmt}`);
      }
    }
    await seeded.analyze();
  } finally {
    await seeded.close();
  }
  res.seedS = (performance.now() - t0) / 1000;
  log(`  seeding + indexes + ANALYZE: ${f(res.seedS, 1)} s`);

  const bs: BenchStore = { adapter, url: seeded.url, poolMax: POOL, queryTimeoutMs: QUERY_TIMEOUT_MS };
  const { replay, plan } = await capture(config);
  log(`  the gateway's SQL for one lookup (${replay.calls.length} statement${replay.calls.length === 1 ? '' : 's'}):`);
  for (const c of replay.calls) log(`    ${c.sql}   -- params ${JSON.stringify(c.params)}`);
  log(`  plan of the first: ${plan.split('\n').join(' | ')}`);

  const auth = { authorization: `Bearer ${token}` };
  const lookupBody = () => JSON.stringify({ login: randomLogin() });

  // Gateway.
  const waited = await quiet();
  const gw = await spawnChild({ mode: 'gateway', config: raw }, profileArgs(`gateway-${adapter}`));
  res.startToReadyMs = await waitReady(gw.url, gw.spawnedAt);
  await sleep(1000);
  res.idleRssMb = (await gw.stats()).rssMb;
  log(`  gateway: start to ready ${f(res.startToReadyMs)} ms (after ${f(waited, 1)} s waiting for a quiet machine), idle RSS ${f(res.idleRssMb, 1)} MB  [t=${secs()} s]`);

  // The gateway, (b) the floor and (b′) the Express floor side by side, taking turns (alternate): storms, then the
  // gateway and the floor paced at half the gateway's maximum rate.
  const floor = await spawnChild({ mode: 'floor', store: bs, port: 0, replay }, profileArgs(`floor-${adapter}`));
  const express = await spawnChild({ mode: 'express', store: bs, port: 0, replay }, profileArgs(`express-${adapter}`));
  try {
    await cannon(gw.url, '/v1/users/lookup', lookupBody, auth, 2);
    await cannon(floor.url, '/v1/users/lookup', lookupBody, {}, 1);
    await cannon(express.url, '/v1/users/lookup', lookupBody, {}, 1);
    const storm = (c: Child, h: Record<string, string>) => (s: number) => httpLoad(c, '/v1/users/lookup', lookupBody, h, s);
    const storms = await alternate([['floor', storm(floor, {})], ['express', storm(express, {})], ['gw', storm(gw, auth)]], SECONDS, STORM_ROUNDS);
    res.gw = storms.gw;
    res.floor = storms.floor;
    res.express = storms.express;
    log(`  storms (${STORM_ROUNDS} turns each): gateway ${f(res.gw.rps)} req/s, (b) bare node:http floor ${f(res.floor.rps)}, (b′) Express floor ${f(res.express.rps)} (non-2xx/errors ${res.gw.bad}, ${res.floor.bad}, ${res.express.bad})  [t=${secs()} s]`);
    const rate = Math.max(1, Math.round(res.gw.rps / 2));
    const pacer = await startPacer();
    try {
      const paced = (c: Child, h: Record<string, string>) => (s: number) => pacedLoad(pacer, c, '/v1/users/lookup', lookupBody, h, s, rate);
      // One short paced stretch each first, not counted: the pacer's own code warms up (compiles) on them, and each
      // server's first paced requests (after its storms and the other's turn) are not a steady load's.
      await paced(floor, {})(0.5);
      await paced(gw, auth)(0.5);
      pacerLoop.clear();
      const half = await alternate([['floor', paced(floor, {})], ['gw', paced(gw, auth)]], SECONDS, PACED_ROUNDS);
      res.half = { ...half.gw, rate, pacerLoop: pacerLoop.get(gw.url) };
      res.floorHalf = { ...half.floor, rate, pacerLoop: pacerLoop.get(floor.url) };
    } finally {
      await pacer.stop();
    }
    const gen = (m: { pacerLoop?: { p99: number; max: number } | undefined }) => `${f(m.pacerLoop?.p99, 1)} / ${f(m.pacerLoop?.max, 1)} ms`;
    log(`  paced at ${rate} req/s: gateway p50 ${f(res.half.p50, 2)} ms, p99 ${f(res.half.p99, 2)} ms; (b) floor p50 ${f(res.floorHalf.p50, 2)} ms, p99 ${f(res.floorHalf.p99, 2)} ms`);
    log(`  the paced generator's own event-loop delay, worst turn's p99 / max: during the gateway's turns ${gen(res.half)}, the floor's ${gen(res.floorHalf)}`);
  } finally {
    await floor.stop();
    await express.stop();
  }
  // The RSS at the end of the gateway's last load: its last paced turn (the last turn of all), or the verify storm's.
  let lastLoad: Measured = res.half;
  if (doVerify) {
    const verifyBody = () => JSON.stringify({ login: `user${randomId()}@example.com`, password: PASSWORD });
    await cannon(gw.url, '/v1/credentials/verify', verifyBody, auth, 1);
    await loop(async () => bcryptVerify(PASSWORD, hash), 1);
    // One stretch each, the gateway's first (after 2 s of warm-ups), not in turns: a turn's end abandons the
    // verifications in flight, whose hashes would run on into raw bcrypt's turn, and raw bcrypt's turn (in this
    // process) would leave the gateway idle long enough for its idle collection before its next turn, whose end the
    // RSS reading is.
    const vGw = measured([await httpLoad(gw, '/v1/credentials/verify', verifyBody, auth, SECONDS)]);
    const vRaw = measured([await loop(async () => bcryptVerify(PASSWORD, hash), SECONDS)]);
    lastLoad = vGw;
    res.verify = { gw: vGw, raw: vRaw, threadpool: process.env.UV_THREADPOOL_SIZE ?? '4 (default)' };
    log(`  verify: gateway ${f(vGw.rps)} req/s, raw bcrypt ${f(vRaw.rps)} verifies/s`);
  }
  const loadEnded = performance.now();
  res.rssAfterLoadMb = lastLoad.rssMb ?? undefined;
  res.heapAfterLoadMb = lastLoad.heapMb ?? undefined;
  await sleep(Math.max(0, AFTER_IDLE_S * 1000 - (performance.now() - loadEnded)));
  const afterIdle = await gw.stats();
  res.rssAfterIdleMb = afterIdle.rssMb;
  res.heapAfterIdleMb = afterIdle.heapMb;
  log(`  gateway RSS at the load's end ${f(res.rssAfterLoadMb, 1)} MB, ${AFTER_IDLE_S} s later ${f(res.rssAfterIdleMb, 1)} MB`);
  await gw.stop();

  // (a) raw driver loop, in this process.
  const driver = await openBenchDriver(bs);
  try {
    const op = async () => (await replayLookup((s, p) => driver.all(s, p), replay, randomLogin())) !== null;
    await loop(op, 1);
    res.raw = measured([await loop(op, SECONDS)]);
  } finally {
    await driver.close();
  }
  log(`  (a) raw driver: ${f(res.raw.rps)} queries/s  [t=${secs()} s]`);

  // (c) template style: alone, after the rest (each of its requests opens and closes a database connection).
  const template = await spawnChild({ mode: 'template', store: bs, port: 0, replay }, profileArgs(`template-${adapter}`));
  try {
    await cannon(template.url, '/v1/users/lookup', lookupBody, {}, 1);
    res.template = measured([await httpLoad(template, '/v1/users/lookup', lookupBody, {}, SECONDS)]);
    log(`  (c) template style: ${f(res.template.rps)} req/s (${res.template.bad} non-2xx/errors)`);
  } finally {
    await template.stop();
  }
  return res;
}

// ---------------------------------------------------------------------------------------------------------------
/**
 * Start to ready on the demo store without and with V8's code cache (src/launch.ts): the cache of the child's bundle
 * is removed, a first start compiles and writes it, a second start reads it. Every later gateway child (the stores'
 * start to ready) starts with it, as every start after the first one does.
 */
async function codeCacheStarts(dir: string, issuer: Awaited<ReturnType<typeof startLocalIssuer>>): Promise<{ cold: number; cached: number } | null> {
  const cache = cacheFileFor(path.join(HERE, 'child.cjs'));
  rmSync(cache, { force: true });
  const db = path.join(dir, 'demo.sqlite');
  createDemoDatabase(db);
  const config = JSON.parse(JSON.stringify(demoConfig(db, issuer.issuer, issuer.audience, 0)));
  const start = async () => {
    await quiet();
    const c = await spawnChild({ mode: 'gateway', config });
    try {
      const ms = await waitReady(c.url, c.spawnedAt);
      // The cache is written about 2 s after a start that had none.
      for (let i = 0; i < 50 && !existsSync(cache); i++) await sleep(100);
      return ms;
    } finally {
      await c.stop();
    }
  };
  const cold = await start();
  if (!existsSync(cache)) {
    log(`code cache: not written beside ${path.join(HERE, 'child.cjs')} (read-only?): every start compiles`);
    return null;
  }
  const cached = await start();
  log(`start to ready on the demo store: ${f(cold)} ms at the first start after a build (compiles, writes V8's code cache), ${f(cached)} ms with the cache  [t=${secs()} s]`);
  return { cold, cached };
}

// ---------------------------------------------------------------------------------------------------------------
async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-bench-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  log(`# legacy-gateway lookup benchmark`);
  log(`node ${process.version}, ${availableParallelism()} cores, ${USERS} users per store, concurrency ${CONCURRENCY}, ${SECONDS} s per measurement, pool_max ${POOL}, gateway log level ${LOG_LEVEL}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  log('');
  const hash = hashSync(PASSWORD, 10);
  const issuer = await startLocalIssuer('https://legacy-gateway.bench', 'bench-client');
  cleanups.push(() => issuer.close());
  const token = await issuer.mint({}, { expiresIn: '1h' });
  const starts = await codeCacheStarts(dir, issuer);
  log('');
  const results: StoreResult[] = [];
  let verified = false;
  for (const a of STORES) {
    try {
      const r = await benchStore(a, dir, hash, issuer, token, !verified);
      if (r.verify) verified = true;
      results.push(r);
    } catch (e) {
      // Reported with the others, and the run exits 1: a measurement that failed is not a result (an unreachable
      // server, above, is a skip).
      log(`  ${NAMES[a]}: FAILED: ${errText(e)}`);
      results.push({ adapter: a, skipped: `failed: ${errText(e)}` });
      process.exitCode = 1;
    }
    log('');
  }
  report(results, starts);
}

function report(results: StoreResult[], starts: { cold: number; cached: number } | null) {
  const ran = results.filter((r) => !r.skipped && r.gw && r.floor && r.template && r.raw);
  const lat = (m?: Measured) => (m ? `${f(m.p50, 1)} / ${f(m.p95, 1)} / ${f(m.p99, 1)}` : '–');
  log(`## Results (concurrency ${CONCURRENCY}, ${SECONDS} s each; requests/s count 2xx only)`);
  log('');
  log('| store | gateway rps | (a) raw rps | (b) floor rps | (b′) Express floor rps | (c) template rps | ratio vs (b) | ratio vs (b′) | ratio vs (c) | p50/p95/p99 ms | CPU µs/req | RSS MB |');
  log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    if (r.skipped) {
      log(`| ${NAMES[r.adapter]} | skipped: ${r.skipped} | | | | | | | | | | |`);
      continue;
    }
    if (!r.gw) continue;
    const ratio = (m: Measured | undefined, digits: number) => (m ? `${f(r.gw!.rps / m.rps, digits)}×` : '–');
    log(`| ${NAMES[r.adapter]} | ${f(r.gw.rps)} | ${f(r.raw?.rps)} | ${f(r.floor?.rps)} | ${f(r.express?.rps)} | ${f(r.template?.rps)} | ${ratio(r.floor, 2)} | ${ratio(r.express, 2)} | ${ratio(r.template, 1)} | ${lat(r.gw)} | ${f(r.gw.cpuUsPerReq)} | ${f(r.gw.rssMb, 1)} |`);
  }
  log('');
  log('Every configuration (CPU and RSS of the server process; (a) runs in the bench process, so its CPU includes the loop and no RSS is given):');
  log('');
  log('| store | configuration | rps | p50/p95/p99 ms | CPU µs/req | read+write syscalls/req | RSS MB | non-2xx/errors |');
  log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of ran) {
    const rows: [string, Measured | undefined][] = [
      ['gateway POST /v1/users/lookup', r.gw],
      [`gateway paced at half its max rate (${r.half?.rate}/s)`, r.half],
      ['(a) raw driver loop, same SQL and pool', r.raw],
      ['(b) bare node:http, same pool and SQL', r.floor],
      [`(b) paced at the gateway's half rate (${r.floorHalf?.rate}/s)`, r.floorHalf],
      ["(b′) Express 5 + helmet + express.json(), same pool and SQL, nothing of the gateway's", r.express],
      ['(c) template style, new connection per request', r.template],
    ];
    if (r.verify) {
      rows.push(['gateway POST /v1/credentials/verify', r.verify.gw], [`(d) raw bcrypt.verify cost 10 (threadpool ${r.verify.threadpool})`, r.verify.raw]);
    }
    for (const [label, m] of rows) log(`| ${NAMES[r.adapter]} | ${label} | ${f(m?.rps)} | ${lat(m)} | ${f(m?.cpuUsPerReq)} | ${f(m?.syscallsPerReq, 1)} | ${f(m?.rssMb, 1)} | ${m?.bad ?? '–'} |`);
  }
  log('');
  log(`| store | seed s | start to ready ms | idle RSS MB | RSS at the load's end MB (V8 heap) | RSS ${AFTER_IDLE_S} s after the load MB (V8 heap) | the floor (b) after its loads MB (V8 heap) |`);
  log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of ran) {
    const fl = r.floorHalf ?? r.floor;
    log(`| ${NAMES[r.adapter]} | ${f(r.seedS, 1)} | ${f(r.startToReadyMs)} | ${f(r.idleRssMb, 1)} | ${f(r.rssAfterLoadMb, 1)} (${f(r.heapAfterLoadMb, 1)}) | ${f(r.rssAfterIdleMb, 1)} (${f(r.heapAfterIdleMb, 1)}) | ${f(fl?.rssMb, 1)} (${f(fl?.heapMb, 1)}) |`);
  }
  log('');
  log(
    starts
      ? `Start to ready is with V8's code cache, as every start after the first: on the demo store ${f(starts.cached)} ms with it, ${f(starts.cold)} ms at the first start after a build (without it).`
      : 'Start to ready is without V8\'s code cache (it could not be written).',
  );
  log('');
  log('## Targets');
  const target = (ok: boolean | null, text: string) => log(`- ${ok === null ? 'NOT MEASURED' : ok ? 'MET' : 'NOT MET'}: ${text}`);
  for (const a of ['postgres', 'mysql'] as const) {
    const r = ran.find((x) => x.adapter === a);
    target(r ? r.gw!.rps >= 0.8 * r.floor!.rps : null, `${NAMES[a]} lookup ≥ 0.8× the bare node:http floor (b): ${r ? `${f(r.gw!.rps / r.floor!.rps, 2)}×` : 'not run'}`);
    if (r?.express) {
      log(`  (not a target: the Express floor (b′), the mandated stack with nothing of the gateway's, is ${f(r.express.rps / r.floor!.rps, 2)}× (b); the gateway is ${f(r.gw!.rps / r.express.rps, 2)}× (b′))`);
    }
  }
  for (const r of ran) target(r.gw!.rps >= 10 * r.template!.rps, `${NAMES[r.adapter]} lookup ≥ 10× template style (c): ${f(r.gw!.rps / r.template!.rps, 1)}×`);
  for (const r of ran) target(r.half!.p99 <= 10, `${NAMES[r.adapter]} p99 at half the maximum lookup rate (${r.half!.rate}/s, paced) ≤ 10 ms: ${f(r.half!.p99, 2)} ms (the floor at that rate: ${f(r.floorHalf?.p99, 2)} ms; the generator's own loop delay in the gateway's turns, worst p99 / max: ${f(r.half!.pacerLoop?.p99, 1)} / ${f(r.half!.pacerLoop?.max, 1)} ms)`);
  const v = ran.find((r) => r.verify)?.verify;
  target(v ? v.gw.rps >= 0.95 * v.raw.rps : null, `verify ≥ 0.95× raw bcrypt (d): ${v ? `${f(v.gw.rps / v.raw.rps, 3)}× (${f(v.gw.rps)} vs ${f(v.raw.rps)}/s)` : 'not run'}`);
  for (const r of ran) target(r.idleRssMb! < 100, `${NAMES[r.adapter]} idle RSS < 100 MB: ${f(r.idleRssMb, 1)} MB`);
  for (const r of ran) target(r.rssAfterLoadMb! < 130, `${NAMES[r.adapter]} RSS after load < 130 MB, read at the load's end: ${f(r.rssAfterLoadMb, 1)} MB`);
  for (const r of ran) target(r.rssAfterIdleMb! < 130, `${NAMES[r.adapter]} RSS after load < 130 MB, read ${AFTER_IDLE_S} s after it: ${f(r.rssAfterIdleMb, 1)} MB`);
  for (const r of ran) target(r.startToReadyMs! < 500, `${NAMES[r.adapter]} start to ready < 500 ms: ${f(r.startToReadyMs)} ms`);
  log('');
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    log(`wall time ${secs()} s`);
    process.exit(process.exitCode ?? 0);
  });
