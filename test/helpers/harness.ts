/**
 * Test harness: a real gateway on an ephemeral loopback port, a SQLite legacy store in a temp dir,
 * a local issuer with its JWKS on loopback, and captured log output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createStore } from '../../adapters/index.js';
import type { UserStore } from '../../adapters/types.js';
import { parseConfig, type Config } from '../../src/config.js';
import { createDemoDatabase, DEMO_USERS, demoConfig, type DemoUser } from '../../src/demo.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/devtokens.js';
import { createLogger } from '../../src/logger.js';
import { startServer, type Running } from '../../src/server.js';
import { sinkLog } from './logsink.js';

/** Demo users plus two rows that share an email case-insensitively (for ambiguous_login). */
export const TEST_USERS: DemoUser[] = [
  ...DEMO_USERS,
  { id: 6, email: 'Dup@Example.com', username: 'dup-one', password: 'dup-one-pass', scheme: 'bcrypt' },
  { id: 7, email: 'dup@example.com', username: 'dup-two', password: 'dup-two-pass', scheme: 'bcrypt' },
];

export interface TestGateway {
  url: string;
  issuer: LocalIssuer;
  config: Config;
  running: Running;
  dbFile: string;
  /** Every log line written so far, raw. */
  logs: string[];
  /** A token with every scope (or the given ones). */
  token(scope?: string): Promise<string>;
  close(): Promise<void>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> | T[K] : T[K] };

function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
    return out;
  }
  return over;
}

/**
 * users: seed the SQLite demo store with these users (default TEST_USERS).
 * config: deep-merged over the demo configuration.
 * store / passwords: REPLACE those sections (for a real PostgreSQL/MariaDB store, a preset, ...), raw as in YAML.
 * wrapStore: the store the gateway gets is wrapStore(the real store) (to slow a call down, or make close() hang).
 */
export async function startTestGateway(
  opts: {
    users?: DemoUser[];
    config?: DeepPartial<Config>;
    store?: Record<string, unknown>;
    passwords?: Record<string, unknown>;
    logLevel?: string;
    wrapStore?: (store: UserStore) => UserStore;
  } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-test-'));
  const dbFile = path.join(dir, 'legacy.sqlite');
  createDemoDatabase(dbFile, opts.users ?? TEST_USERS);
  const issuer = await startLocalIssuer('https://legacy-gateway.test', 'test-client');
  let config: Config;
  let running: Running;
  const logs: string[] = [];
  let wrapped: UserStore | undefined;
  try {
    const base = demoConfig(dbFile, issuer.issuer, issuer.audience, 0) as Record<string, unknown>;
    // The local issuer's JWKS is plain http on loopback: only accepted with this flag (demoConfig sets it too).
    base.auth = { ...(base.auth as Record<string, unknown>), allow_insecure_http: true };
    // Many suites fail the store on purpose, request after request, and then expect the next request to reach it:
    // the store circuit breaker is kept closed unless a suite configures it (test/http/breaker.test.ts does).
    base.resilience = { breaker: { failures: 1000 } };
    if (opts.store) base.store = opts.store;
    if (opts.passwords) base.passwords = opts.passwords;
    config = parseConfig(merge(base, opts.config), {});
    const logger = createLogger(opts.logLevel ?? 'debug', {
      write: (s: string) => {
        logs.push(s);
        sinkLog(s);
      },
    });
    wrapped = opts.wrapStore ? opts.wrapStore(await createStore(config.store)) : undefined;
    running = await startServer(config, logger, wrapped);
  } catch (e) {
    // A gateway that fails to start (a test of exactly that, or a broken fixture) leaves nothing running behind:
    // a live issuer or pool would keep the test process from exiting.
    await wrapped?.close().catch(() => {});
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: running.url,
    issuer,
    config,
    running,
    dbFile,
    logs,
    token: (scope) => issuer.mint(scope === undefined ? {} : { scope }),
    async close() {
      await running.close();
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Tear down a suite's gateway and database: the database is dropped even when closing the gateway fails, so that
 * one failing suite leaves nothing behind for the next.
 */
export async function closeAndDrop(gw: TestGateway | undefined, db: { drop(): Promise<void> } | undefined): Promise<void> {
  try {
    await gw?.close();
  } catch {
    // keep tearing down
  } finally {
    await db?.drop();
  }
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** One HTTP call. body: an object is sent as JSON; a string or Buffer is sent raw. */
export async function call(
  url: string,
  method: string,
  pathname: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined;
  if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) body = opts.body;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(url + pathname, { method, headers, body: body as BodyInit | undefined });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export interface RawResponse {
  /** 0 when the server closed the connection without an answer. */
  status: number;
  head: string;
  body: string;
  /** Everything received. */
  raw: string;
  /** ms from the first byte sent until the server closed (or the timeout hit). */
  ms: number;
  /** true when the server closed the connection (false: our timeout hit first). */
  closed: boolean;
}

/**
 * Send bytes over a raw loopback socket (what fetch would refuse to send: absolute-form targets, trickled heads)
 * and collect the answer until the server closes or timeoutMs passes. chunks: sent one every intervalMs.
 */
export async function rawRequest(
  url: string,
  payload: string | string[],
  opts: { intervalMs?: number; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const { connect } = await import('node:net');
  const u = new URL(url);
  const chunks = Array.isArray(payload) ? payload : [payload];
  return new Promise((resolve) => {
    const socket = connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ''));
    let raw = '';
    let sent = 0;
    let t0 = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearInterval(timer);
      clearTimeout(deadline);
      socket.destroy();
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      resolve({ status: m ? Number(m[1]) : 0, head, body: rest.join('\r\n\r\n'), raw, ms: Date.now() - t0, closed });
    };
    const deadline = setTimeout(() => finish(false), opts.timeoutMs ?? 10_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (raw += d));
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      t0 = Date.now();
      const next = () => {
        if (sent < chunks.length && !socket.destroyed) socket.write(chunks[sent++]!);
        else clearInterval(timer);
      };
      next();
      if (chunks.length > 1) timer = setInterval(next, opts.intervalMs ?? 100);
    });
  });
}

/** Wrap a store so that some methods are replaced (the others keep working on the real store). */
export function wrapStore(store: UserStore, over: Partial<Record<keyof UserStore, (real: UserStore) => unknown>>): UserStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const replace = over[prop as keyof UserStore];
      if (replace) return replace(target);
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * A store whose migrationStatus() waits `ms` before answering: a request in flight for a shutdown test.
 * `entered` resolves once such a request has reached the store.
 */
export function slowStatusStore(ms: number): { wrap: (s: UserStore) => UserStore; entered: Promise<void> } {
  let resolve!: () => void;
  const entered = new Promise<void>((r) => (resolve = r));
  return {
    entered,
    wrap: (s) =>
      wrapStore(s, {
        migrationStatus: (real) => async () => {
          resolve();
          await new Promise((r) => setTimeout(r, ms));
          return real.migrationStatus();
        },
      }),
  };
}
