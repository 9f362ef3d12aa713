/**
 * limits.redis_url: the failed-login limiter shared by every replica, on the REAL Redis.
 *
 * 1. Two gateway PROCESSES (node dist/src/main.js serve) on one store and one Redis: wrong passwords alternated
 *    between them are refused after login_failures.max in total, and a success on either resets the count.
 * 2. Redis unreachable (a fault proxy in front of it, cut): fail_closed answers verify 503 limiter_unavailable (and
 *    lookups still work); fail_open falls back to the process's memory and still limits; both recover on their own.
 * 3. Redis never holds a login: its keys are HMAC digests under limits.redis.key_secret (never the unkeyed SHA-256
 *    that anyone reading Redis could compute from a guessed login); without a secret, start-up warns.
 * 4. limits.client_requests: a per-client request rate, shared through Redis too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createHash, createHmac } from 'node:crypto';
import { Redis } from 'ioredis';
import { createDemoDatabase } from '../../src/demo.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/devtokens.js';
import { createLogger } from '../../src/logger.js';
import { createLimiters, limiterKey, redisKeyDigest, type LimitsConfig } from '../../src/limiter.js';
import { normaliseLogin } from '../../src/matching.js';
import { availability, env, uniqueName } from '../helpers/databases.js';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy.js';
import { call, startTestGateway, TEST_USERS, type TestGateway } from '../helpers/harness.js';
import { startChild, type Child } from '../helpers/walkthrough.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const MAX = 4;
const skip = await availability('redis');

/** The limiter's HMAC secret, shared by both processes (each reads it from its environment through ${VAR}). */
const KEY_SECRET = 'limiter-key-secret-shared-by-replicas';

function rawConfig(opts: { db: string; issuer: LocalIssuer; redisUrl: string; prefix: string; policy?: string; clientRequests?: { max: number; window_s: number }; keySecret?: string }) {
  return {
    server: { host: '127.0.0.1', port: 0 },
    auth: { issuer: opts.issuer.issuer, audience: opts.issuer.audience, jwks_uri: opts.issuer.jwksUri, allow_insecure_http: true },
    store: {
      adapter: 'sqlite',
      url: opts.db,
      users: { table: 'users', columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash', blocked: 'is_disabled' } },
      migration: { table: 'legacy_gateway_migrations' },
    },
    profile: { user_id_prefix: 'legacy|' },
    limits: {
      login_failures: { max: MAX, window_s: 600 },
      redis_url: opts.redisUrl,
      redis: { policy: opts.policy ?? 'fail_closed', timeout_ms: 300, key_prefix: opts.prefix, ...(opts.keySecret ? { key_secret: opts.keySecret } : {}) },
      ...(opts.clientRequests ? { client_requests: opts.clientRequests } : {}),
    },
    log: { level: 'info' },
  };
}

const USER = TEST_USERS.find((u) => u.id === 1)!; // Alice
const BOB = TEST_USERS.find((u) => u.id === 2)!;

describe('two gateway processes share the failed-login limit through Redis', { skip }, () => {
  let dir: string;
  let issuer: LocalIssuer;
  const children: Child[] = [];
  const urls: string[] = [];
  let token = '';
  const prefix = uniqueName('lgtest');

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lg-redis-'));
    const db = path.join(dir, 'legacy.sqlite');
    createDemoDatabase(db, TEST_USERS);
    issuer = await startLocalIssuer('https://legacy-gateway.test', 'test-client');
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, JSON.stringify(rawConfig({ db, issuer, redisUrl: env.redisUrl, prefix, keySecret: '${LG_LIMITER_KEY}' })));
    for (let i = 0; i < 2; i++) {
      const c = startChild([MAIN, 'serve', '--config', file], { PATH: process.env.PATH ?? '', LG_LIMITER_KEY: KEY_SECRET });
      children.push(c);
      const m = await c.waitFor(/"listen":"(http:\/\/[^"]+)"[^\n]*legacy-gateway listening/);
      urls.push(m[1]!);
    }
    token = await issuer.mint({});
  });

  after(async () => {
    await Promise.all(children.map((c) => c.kill()));
    await issuer?.close();
    const r = new Redis(env.redisUrl);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const verify = (i: number, login: string, password: string) =>
    call(urls[i % 2]!, 'POST', '/v1/credentials/verify', { token, body: { login, password } });

  test('both processes use Redis (start-up line), two different processes', () => {
    for (const c of children) assert.match(c.stdout(), /"backend":"redis"/);
    assert.notEqual(children[0]!.proc.pid, children[1]!.proc.pid);
    assert.notEqual(urls[0], urls[1]);
  });

  test(`wrong passwords alternated between the two are refused after ${MAX} in total, even the right one`, async () => {
    for (let i = 0; i < MAX; i++) {
      const r = await verify(i, i % 2 ? USER.email! : USER.username!, `wrong-${i}`);
      assert.equal(r.status, 401, `attempt ${i + 1} on process ${i % 2}: ${r.text}`);
    }
    for (const i of [0, 1]) {
      const r = await verify(i, USER.username!, USER.password);
      assert.equal(r.status, 429, `process ${i}: ${r.text}`);
      assert.equal(r.json?.error, 'too_many_attempts');
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    }
  });

  test('a success on either process resets the count for both', async () => {
    for (let i = 0; i < MAX - 1; i++) assert.equal((await verify(i, BOB.username!, `wrong-${i}`)).status, 401);
    // The success uses the same login: it clears that login's count and the account's (src/limiter.ts).
    assert.equal((await verify(1, BOB.username!, BOB.password)).status, 200, 'the right password before the limit');
    // Had the count not been reset, the second wrong attempt below would already be refused.
    for (let i = 0; i < MAX - 1; i++) assert.equal((await verify(i + 1, BOB.username!, `again-${i}`)).status, 401);
    assert.equal((await verify(0, BOB.username!, BOB.password)).status, 200);
  });

  test('Redis holds no login: every key under the prefix is a digest', async () => {
    // Every limiter key these tests can have left: the logins used (as the gateway normalises them) and the accounts.
    const ours = [USER.username!, USER.email!, BOB.username!].map((l) => limiterKey.login(normaliseLogin(l))).concat([USER, BOB].map((u) => limiterKey.account(String(u.id))));
    const hmac = new Set(ours.map((k) => createHmac('sha256', KEY_SECRET).update(k).digest('base64url')));
    const unkeyed = new Set(ours.map((k) => createHash('sha256').update(k).digest('base64url')));
    assert.deepEqual([...hmac], ours.map((k) => redisKeyDigest(k, KEY_SECRET)));
    const r = new Redis(env.redisUrl);
    try {
      const keys = await r.keys(`${prefix}:*`);
      assert.ok(keys.length > 0, 'the limiter wrote to Redis');
      for (const k of keys) {
        assert.doesNotMatch(k, /alice|bob|example|@/i, k);
        assert.match(k, new RegExp(`^${prefix}:login-failures:[A-Za-z0-9_-]{43}$`), k);
        const digest = k.slice(`${prefix}:login-failures:`.length);
        assert.ok(!unkeyed.has(digest), `${k} is the unkeyed SHA-256 of a limiter key: one hash confirms a guessed login`);
        assert.ok(hmac.has(digest), `${k} is the HMAC of one of our limiter keys under the shared secret`);
      }
    } finally {
      r.disconnect();
    }
  });
});

describe('the Redis key secret: limits.redis.key_secret, else log.audit_key, else a start-up warning', { skip }, () => {
  const limits = (key_secret?: string): LimitsConfig => ({
    login_failures: { max: 3, window_s: 60 },
    redis_url: env.redisUrl,
    redis: { policy: 'fail_closed', timeout_ms: 300, key_prefix: uniqueName('lgtest'), ...(key_secret ? { key_secret } : {}) },
  });
  const prefixOf = (l: LimitsConfig) => `${l.redis.key_prefix}:login-failures:`;

  async function keysAfterOneTake(l: LimitsConfig, auditKey?: string): Promise<{ keys: string[]; logs: string[] }> {
    const logs: string[] = [];
    const limiters = await createLimiters(l, createLogger('info', { write: (s: string) => void logs.push(s) }), auditKey);
    const r = new Redis(env.redisUrl);
    try {
      // The client connects in the background (and refuses commands until it is ready): poll.
      let wait: number | undefined;
      for (let i = 0; i < 50 && wait === undefined; i++) {
        wait = await limiters.login.take(limiterKey.login('carol@example.com')).catch(async () => {
          await new Promise((res) => setTimeout(res, 100));
          return undefined;
        });
      }
      assert.equal(wait, 0);
      const keys = (await r.keys(`${prefixOf(l)}*`)).map((k) => k.slice(prefixOf(l).length));
      if (keys.length) await r.del(...keys.map((k) => prefixOf(l) + k));
      return { keys, logs };
    } finally {
      r.disconnect();
      await limiters.close();
    }
  }
  const raw = limiterKey.login('carol@example.com');

  test('key_secret set: the key is its HMAC; no warning', async () => {
    const { keys, logs } = await keysAfterOneTake(limits('a-key-secret-of-enough-length'), 'an-audit-key-that-is-not-used');
    assert.deepEqual(keys, [createHmac('sha256', 'a-key-secret-of-enough-length').update(raw).digest('base64url')]);
    assert.ok(!logs.some((l) => /unkeyed/.test(l)));
  });

  test('only log.audit_key: the key is its HMAC', async () => {
    const { keys } = await keysAfterOneTake(limits(), 'an-audit-key-of-enough-length');
    assert.deepEqual(keys, [createHmac('sha256', 'an-audit-key-of-enough-length').update(raw).digest('base64url')]);
  });

  test('neither: the unkeyed digest, and one start-up warning that says so', async () => {
    const { keys, logs } = await keysAfterOneTake(limits());
    assert.deepEqual(keys, [createHash('sha256').update(raw).digest('base64url')]);
    const warnings = logs.filter((l) => /unkeyed SHA-256/.test(l));
    assert.equal(warnings.length, 1, logs.join(''));
    assert.match(warnings[0]!, /"level":40/);
    assert.match(warnings[0]!, /limits\.redis\.key_secret/);
  });
});

describe('refunds on Redis give back only what the key still holds', { skip }, () => {
  test('after a success\'s reset, refunds add nothing: the count never goes below zero; a held reservation is given back', async () => {
    const l: LimitsConfig = {
      login_failures: { max: 2, window_s: 60 },
      redis_url: env.redisUrl,
      redis: { policy: 'fail_closed', timeout_ms: 300, key_prefix: uniqueName('lgtest'), key_secret: KEY_SECRET },
    };
    const limiters = await createLimiters(l, createLogger('silent'));
    const key = limiterKey.login('refund@example.com');
    try {
      // The client connects in the background (and refuses commands until it is ready): poll.
      let first: number | undefined;
      for (let i = 0; i < 50 && first === undefined; i++) {
        first = await limiters.login.take(key).catch(async () => {
          await new Promise((res) => setTimeout(res, 100));
          return undefined;
        });
      }
      assert.equal(first, 0);
      await limiters.login.reset(key);
      await limiters.login.refund(key);
      await limiters.login.refund(key);
      // One reservation, given back: it is held, so the refund counts.
      assert.equal(await limiters.login.take(key), 0);
      await limiters.login.refund(key);
      assert.deepEqual([await limiters.login.take(key), await limiters.login.take(key)], [0, 0], 'the whole budget, after the held one was given back');
      assert.ok((await limiters.login.take(key)) > 0, 'still max 2 after refunds that found nothing to give back');
    } finally {
      await limiters.login.reset(key);
      await limiters.close();
    }
  });
});

describe('start-up waits for Redis: the first requests after a start are counted in Redis', { skip }, () => {
  test('the first take right after createLimiters is answered by Redis, for the failed-login limit (fail_closed) and the client request rate', async () => {
    const prefix = uniqueName('lgtest');
    const l: LimitsConfig = {
      login_failures: { max: 2, window_s: 60 },
      redis_url: env.redisUrl,
      redis: { policy: 'fail_closed', timeout_ms: 300, key_prefix: prefix, key_secret: KEY_SECRET },
      client_requests: { max: 5, window_s: 60 },
    };
    const limiters = await createLimiters(l, createLogger('silent'));
    const r = new Redis(env.redisUrl);
    try {
      // No polling: a client still connecting would refuse the command (fail_closed: an error, a 503 to verify)...
      assert.equal(await limiters.login.take(limiterKey.login('first@example.com')), 0);
      // ... and the request rate would be counted in this process's memory instead (it fails open).
      assert.equal(await limiters.requests!.take('client:first-client'), 0);
      const keys = await r.keys(`${prefix}:*`);
      assert.equal(keys.filter((k) => k.startsWith(`${prefix}:login-failures`)).length, 1, keys.join(' '));
      assert.equal(keys.filter((k) => k.startsWith(`${prefix}:client-requests`)).length, 1, keys.join(' '));
    } finally {
      const keys = await r.keys(`${prefix}:*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
      await limiters.close();
    }
  });
});

describe('Redis unreachable: the configured policy', { skip }, () => {
  let proxy: FaultProxy;
  let closed: TestGateway;
  let open: TestGateway;
  let token = '';
  let openToken = '';
  const prefix = uniqueName('lgtest');

  before(async () => {
    const u = new URL(env.redisUrl);
    proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || 6379) });
    const redisUrl = `redis://${proxy.host}:${proxy.port}${u.pathname}`;
    const limits = (policy: string) => ({ login_failures: { max: MAX, window_s: 600 }, redis_url: redisUrl, redis: { policy, timeout_ms: 300, key_prefix: prefix } });
    closed = await startTestGateway({ config: { limits: limits('fail_closed') } as never, logLevel: 'info' });
    open = await startTestGateway({ config: { limits: limits('fail_open') } as never, logLevel: 'info' });
    token = await closed.token();
    openToken = await open.token();
  });

  after(async () => {
    proxy?.resume();
    await closed?.close();
    await open?.close();
    await proxy?.close();
    const r = new Redis(env.redisUrl);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
  });

  test('fail_closed: verify answers 503 limiter_unavailable with Retry-After, quickly; lookups still answer', async () => {
    assert.equal((await call(closed.url, 'POST', '/v1/credentials/verify', { token, body: { login: 'alice', password: USER.password } })).status, 200);
    proxy.cut();
    try {
      const t0 = performance.now();
      const r = await call(closed.url, 'POST', '/v1/credentials/verify', { token, body: { login: 'alice', password: USER.password } });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json?.error, 'limiter_unavailable');
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
      assert.ok(performance.now() - t0 < 2000, `answered in ${Math.round(performance.now() - t0)} ms`);
      const l = await call(closed.url, 'POST', '/v1/users/lookup', { token, body: { login: 'alice' } });
      assert.equal(l.status, 200, 'lookups do not need the limiter');
      assert.ok(closed.logs.some((line) => /limiter: Redis/.test(line)), 'the outage is logged');
      assert.ok(!closed.logs.some((line) => line.includes(env.redisUrl.replace(/^redis:\/\//, '')) && /password/.test(line)));
    } finally {
      proxy.resume();
    }
    // Recovers by itself (ioredis reconnects).
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await call(closed.url, 'POST', '/v1/credentials/verify', { token, body: { login: 'alice', password: USER.password } })).status;
    }
    assert.equal(status, 200, 'verify works again once Redis is back');
  });

  test('fail_open: verify keeps working on the in-memory limiter, which still locks out after max', async () => {
    proxy.cut();
    try {
      const v = (password: string) => call(open.url, 'POST', '/v1/credentials/verify', { token: openToken, body: { login: 'bob', password } });
      assert.equal((await v(BOB.password)).status, 200);
      for (let i = 0; i < MAX; i++) assert.equal((await v(`wrong-${i}`)).status, 401);
      const r = await v(BOB.password);
      assert.equal(r.status, 429, r.text);
    } finally {
      proxy.resume();
    }
  });
});

describe('limits.client_requests: a request rate per API client, shared through Redis', { skip }, () => {
  let gw: TestGateway;
  const prefix = uniqueName('lgtest');
  before(async () => {
    gw = await startTestGateway({
      config: { limits: { login_failures: { max: 10, window_s: 600 }, redis_url: env.redisUrl, redis: { policy: 'fail_closed', timeout_ms: 300, key_prefix: prefix }, client_requests: { max: 5, window_s: 60 } } } as never,
    });
  });
  after(async () => {
    await gw?.close();
    const r = new Redis(env.redisUrl);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
  });

  test('the sixth request of one client within the window is 429 too_many_requests; another client is not affected', async () => {
    const token = await gw.token();
    for (let i = 0; i < 5; i++) assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'alice' } })).status, 200);
    const r = await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'alice' } });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json?.error, 'too_many_requests');
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    const other = await gw.issuer.mint({ azp: 'another-client', sub: 'another-client@clients' });
    assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { token: other, body: { login: 'alice' } })).status, 200);
  });
});
