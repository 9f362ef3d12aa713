/**
 * Test harness: a real gateway on an ephemeral loopback port, a SQLite legacy store in a temp dir,
 * a local issuer with its JWKS on loopback, and captured log output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../src/config.js';
import { createDemoDatabase, DEMO_USERS, demoConfig, type DemoUser } from '../../src/demo.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/devtokens.js';
import { createLogger } from '../../src/logger.js';
import { startServer, type Running } from '../../src/server.js';

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
 */
export async function startTestGateway(
  opts: { users?: DemoUser[]; config?: DeepPartial<Config>; store?: Record<string, unknown>; passwords?: Record<string, unknown>; logLevel?: string } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-test-'));
  const dbFile = path.join(dir, 'legacy.sqlite');
  createDemoDatabase(dbFile, opts.users ?? TEST_USERS);
  const issuer = await startLocalIssuer('https://legacy-gateway.test', 'test-client');
  const base = demoConfig(dbFile, issuer.issuer, issuer.audience, 0) as Record<string, unknown>;
  if (opts.store) base.store = opts.store;
  if (opts.passwords) base.passwords = opts.passwords;
  const config = parseConfig(merge(base, opts.config), {});
  const logs: string[] = [];
  const logger = createLogger(opts.logLevel ?? 'debug', { write: (s: string) => void logs.push(s) });
  const running = await startServer(config, logger);
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
