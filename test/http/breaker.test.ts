/**
 * Resilience to the store, on the REAL PostgreSQL and MariaDB behind the fault-injecting proxy:
 * - the circuit breaker: after `failures` consecutive store failures requests fail fast (503 store_unavailable with
 *   Retry-After, without touching the store), /readyz is 503 and /metrics says open; after half_open_after_ms one
 *   probe goes through, and a success closes it;
 * - the per-request deadline: a stalled store answers 503 deadline_exceeded within resilience.deadline_ms even when
 *   the query timeout is longer;
 * - what does not count: a configuration gap or bad data (an http store without a count endpoint, a user without a
 *   usable id) answers 503 without opening the breaker.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { availability, createMysqlDatabase, createPostgresDatabase, env, lit, type TestDatabase } from '../helpers/databases.js';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy.js';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';
import { testStore } from '../helpers/store-config.js';

const FAILURES = 3;
const HALF_OPEN_MS = 1500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DIALECTS = [
  {
    kind: 'postgres' as const,
    title: 'PostgreSQL',
    serverUrl: env.postgresUrl,
    create: createPostgresDatabase,
    schema: ['CREATE TABLE users (id integer PRIMARY KEY, email varchar(255), username varchar(255), password_hash text NOT NULL)',
      'CREATE TABLE legacy_gateway_migrations (user_id varchar(255) PRIMARY KEY, migrated_at timestamptz NOT NULL)'],
  },
  {
    kind: 'mysql' as const,
    title: 'MariaDB',
    serverUrl: env.mysqlUrl,
    create: createMysqlDatabase,
    schema: ['CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255), username VARCHAR(255), password_hash TEXT NOT NULL) ENGINE=InnoDB',
      'CREATE TABLE legacy_gateway_migrations (user_id VARCHAR(255) PRIMARY KEY, migrated_at DATETIME(3) NOT NULL) ENGINE=InnoDB'],
  },
];

for (const d of DIALECTS) {
  const skip = await availability(d.kind);
  describe(`${d.title}: store circuit breaker and request deadline through a fault proxy`, { skip }, () => {
    let db: TestDatabase;
    let proxy: FaultProxy;
    let gw: TestGateway;
    let slow: TestGateway;
    let token = '';
    let slowToken = '';

    const store = (url: string, queryTimeoutMs: number) => ({ ...testStore(d.kind, url), query_timeout_ms: queryTimeoutMs, pool_max: 4 });

    before(async () => {
      db = await d.create();
      await db.exec([...d.schema, `INSERT INTO users VALUES (1, ${lit('ann@example.com')}, 'ann', ${lit(hashSync('ann-password', 4))})`]);
      const u = new URL(d.serverUrl);
      proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || (d.kind === 'postgres' ? 5432 : 3306)) });
      gw = await startTestGateway({
        store: store(proxy.url(db.url), 800),
        config: { resilience: { breaker: { failures: FAILURES, half_open_after_ms: HALF_OPEN_MS }, deadline_ms: 5000 } } as never,
        logLevel: 'info',
      });
      // Query timeout 4 s, deadline 700 ms: the deadline answers first.
      slow = await startTestGateway({
        store: store(proxy.url(db.url), 4000),
        config: { resilience: { breaker: { failures: 100, half_open_after_ms: HALF_OPEN_MS }, deadline_ms: 700 } } as never,
      });
      token = await gw.token();
      slowToken = await slow.token();
    });

    after(async () => {
      proxy?.resume();
      for (const g of [gw, slow]) {
        g?.running.server.closeAllConnections();
        await g?.close().catch(() => {});
      }
      await proxy?.close();
      await db?.drop();
    });

    const lookup = (g: TestGateway, t: string) => call(g.url, 'POST', '/v1/users/lookup', { token: t, body: { login: 'ann' } });
    const breakerLine = async (g: TestGateway) => {
      const text = (await call(g.url, 'GET', '/metrics')).text;
      return ['closed', 'open', 'half_open'].filter((st) => new RegExp(`legacy_gateway_store_breaker_state\\{state="${st}"\\} 1`).test(text));
    };

    test(`after ${FAILURES} failures the breaker opens: fast 503s that do not reach the store, /readyz 503, metrics say open`, async () => {
      assert.equal((await lookup(gw, token)).status, 200);
      assert.deepEqual(await breakerLine(gw), ['closed']);
      proxy.cut();
      for (let i = 0; i < FAILURES; i++) {
        const r = await lookup(gw, token);
        assert.equal(r.status, 503, r.text);
        assert.equal(r.json?.error, 'store_unavailable');
      }
      assert.equal(gw.running.gateway.breakerState, 'open');
      const before = proxy.stats().accepted;
      const t0 = performance.now();
      const fast = await Promise.all([lookup(gw, token), call(gw.url, 'POST', '/v1/credentials/verify', { token, body: { login: 'ann', password: 'ann-password' } })]);
      const ms = performance.now() - t0;
      for (const r of fast) {
        assert.equal(r.status, 503, r.text);
        assert.equal(r.json?.error, 'store_unavailable');
        assert.equal(r.headers.get('retry-after'), String(Math.ceil(HALF_OPEN_MS / 1000)));
      }
      // Well under the 800 ms query timeout each call would otherwise wait for (the machine may be busy).
      assert.ok(ms < 500, `failed fast: ${Math.round(ms)} ms`);
      assert.equal(proxy.stats().accepted, before, 'no connection was attempted while open');
      const ready = await call(gw.url, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(await breakerLine(gw), ['open']);
      assert.match((await call(gw.url, 'GET', '/metrics')).text, /legacy_gateway_store_breaker_opens_total 1/);
      assert.ok(gw.logs.some((l) => /store circuit breaker open/.test(l)));
    });

    test('a failed half-open probe opens it again; a successful one closes it, and requests are served', async () => {
      await sleep(HALF_OPEN_MS + 100);
      // Still cut: the probe fails and the breaker opens again.
      assert.equal((await lookup(gw, token)).status, 503);
      assert.equal(gw.running.gateway.breakerState, 'open');
      proxy.resume();
      // Not yet time for a probe: still failing fast although the store is back.
      assert.equal((await lookup(gw, token)).status, 503);
      await sleep(HALF_OPEN_MS + 100);
      // The readiness probe is the half-open call: it closes the breaker (no traffic needed).
      const ready = await call(gw.url, 'GET', '/readyz');
      assert.equal(ready.status, 200, ready.text);
      assert.equal(gw.running.gateway.breakerState, 'closed');
      assert.equal((await lookup(gw, token)).status, 200);
      assert.deepEqual(await breakerLine(gw), ['closed']);
      assert.ok(gw.logs.some((l) => /store circuit breaker closed/.test(l)));
    });

    test('a stalled store: verify and lookup answer 503 deadline_exceeded within the deadline, then recover', async () => {
      proxy.stall();
      try {
        const t0 = performance.now();
        const rs = await Promise.all([
          lookup(slow, slowToken),
          call(slow.url, 'POST', '/v1/credentials/verify', { token: slowToken, body: { login: 'ann', password: 'ann-password' } }),
        ]);
        const ms = performance.now() - t0;
        for (const r of rs) {
          assert.equal(r.status, 503, r.text);
          assert.equal(r.json?.error, 'deadline_exceeded');
          assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
        }
        assert.ok(ms >= 650 && ms < 2000, `answered at the deadline: ${Math.round(ms)} ms`);
      } finally {
        proxy.resume();
      }
      let status = 0;
      for (let i = 0; i < 20 && status !== 200; i++) {
        status = (await lookup(slow, slowToken)).status;
        if (status !== 200) await sleep(250);
      }
      assert.equal(status, 200);
    });
  });
}

describe('http store: a configuration gap or bad data answers 503 but never opens the breaker', () => {
  let svc: http.Server;
  let gw: TestGateway;
  let token = '';
  let dir: string;
  let calls = 0;

  before(async () => {
    // A legacy service with a lookup by username and a health check; "noid" is a user without an id.
    svc = http.createServer((req, res) => {
      calls++;
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const url = req.url ?? '';
      if (url === '/api/health') return send(200, { status: 'up' });
      if (url === '/api/users-by-username/ann') return send(200, { id: 1, email: 'ann@example.com', login: 'ann' });
      if (url === '/api/users-by-username/noid') return send(200, { email: 'noid@example.com', login: 'noid' });
      return send(404, {});
    });
    await new Promise<void>((r) => svc.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(path.join(tmpdir(), 'lg-breaker-http-'));
    gw = await startTestGateway({
      store: {
        adapter: 'http',
        url: `http://127.0.0.1:${(svc.address() as AddressInfo).port}/api`,
        users: { columns: { id: 'id', email: 'email', username: 'login' } },
        // No count endpoint: the status report can't be had.
        http: {
          migration_db: path.join(dir, 'marks.sqlite'),
          timeout_ms: 1000,
          verify: { mode: 'basic', path: '/profile' },
          lookup: { by_username: { path: '/users-by-username/{username}' } },
          health: { path: '/health' },
        },
      },
      config: { resilience: { breaker: { failures: FAILURES, half_open_after_ms: 60_000 }, deadline_ms: 5000 } } as never,
      logLevel: 'info',
    });
    token = await gw.token();
  });

  after(async () => {
    await gw?.close();
    svc?.closeAllConnections();
    await new Promise<void>((r) => (svc ? svc.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const lookup = (login: string) => call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login } });

  test(`GET /v1/migration/status without store.http.count, ${FAILURES * 3} times: 503 each, lookups and /readyz still work`, async () => {
    assert.equal((await lookup('ann')).status, 200);
    for (let i = 0; i < FAILURES * 3; i++) {
      const r = await call(gw.url, 'GET', '/v1/migration/status', { token });
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json?.error, 'store_unavailable');
    }
    assert.equal(gw.running.gateway.breakerState, 'closed');
    const before = calls;
    const r = await lookup('ann');
    assert.equal(r.status, 200, r.text);
    assert.ok(calls > before, 'the lookup reached the service');
    assert.equal((await call(gw.url, 'GET', '/readyz')).status, 200);
    assert.ok(!gw.logs.some((l) => /store circuit breaker open/.test(l)));
  });

  test(`a user without a usable id, ${FAILURES * 3} times: 503 each, the breaker stays closed`, async () => {
    for (let i = 0; i < FAILURES * 3; i++) {
      const r = await lookup('noid');
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json?.error, 'store_unavailable');
    }
    assert.equal(gw.running.gateway.breakerState, 'closed');
    assert.equal((await lookup('ann')).status, 200);
  });
});
