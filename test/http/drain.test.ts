/**
 * drain: true — the last step before the legacy database is cut off. Every endpoint answers as if the store were
 * empty, and the store is never touched: not at start-up, not per request, not for readiness.
 *
 * 1. The gateway is handed a store that records and refuses every call: after every endpoint has been called, the
 *    record is empty. Answers: verify 401 invalid_credentials (byte for byte the unknown-user answer of a normal
 *    gateway, and about as slow: the decoy hash still runs), lookup / get / mark / unmark 404, status all zero with
 *    drain true, /readyz ready.
 * 2. Start-up from configuration alone, against a "database" that counts the connections made to it: none with
 *    drain on (and the same configuration without drain does connect, so the counter would have seen one).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { UserStore } from '../../adapters/types.js';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';
import { testStore } from '../helpers/store-config.js';

/** A store that answers nothing: every property read but close() is recorded, and every method throws. */
function untouchable(real: UserStore): { store: UserStore; touched: string[] } {
  const touched: string[] = [];
  const store = new Proxy(real, {
    get(target, prop) {
      if (prop === 'close') return () => target.close();
      if (typeof prop === 'symbol' || prop === 'then') return undefined;
      touched.push(prop);
      return () => {
        throw new Error(`the store was called: ${prop}`);
      };
    },
  });
  return { store, touched };
}

const ALICE = { login: 'alice@example.com', password: 'correct horse battery staple' };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timedVerify(gw: TestGateway, token: string, body: { login: string; password: string }) {
  const t0 = performance.now();
  const r = await call(gw.url, 'POST', '/v1/credentials/verify', { token, body });
  return { r, ms: performance.now() - t0 };
}

describe('drain: every endpoint answers as if the store were empty, and the store is never touched', () => {
  let drained: TestGateway;
  let normal: TestGateway;
  let touched: string[];
  let token: string;
  before(async () => {
    drained = await startTestGateway({
      config: { drain: true },
      wrapStore: (real) => {
        const u = untouchable(real);
        touched = u.touched;
        return u.store;
      },
    });
    normal = await startTestGateway();
    token = await drained.token();
  });
  after(async () => {
    await drained?.close();
    await normal?.close();
  });

  test('verify: 401 invalid_credentials for a real user with the right password, the unknown-user answer byte for byte', async () => {
    const d = await call(drained.url, 'POST', '/v1/credentials/verify', { token, body: ALICE });
    const unknown = await call(normal.url, 'POST', '/v1/credentials/verify', { token: await normal.token(), body: { login: 'nobody@example.com', password: 'whatever' } });
    assert.equal(d.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(d.text, unknown.text);
    assert.equal(d.headers.get('content-type'), unknown.headers.get('content-type'));
    // and the same user really is there for a normal gateway
    assert.equal((await call(normal.url, 'POST', '/v1/credentials/verify', { token: await normal.token(), body: ALICE })).status, 200);
  });

  test('verify costs what an unknown login costs: the decoy hash still runs', async (t) => {
    const normalToken = await normal.token();
    // warm both (the decoy is prepared at start-up; the first request may wait for it)
    await timedVerify(drained, token, { login: 'warm@example.com', password: 'x' });
    await timedVerify(normal, normalToken, { login: 'warm@example.com', password: 'x' });
    const d: number[] = [];
    const n: number[] = [];
    for (let i = 0; i < 7; i++) {
      d.push((await timedVerify(drained, token, { login: `drain${i}@example.com`, password: `pw-${i}` })).ms);
      n.push((await timedVerify(normal, normalToken, { login: `nobody${i}@example.com`, password: `pw-${i}` })).ms);
    }
    const ratio = median(d) / median(n);
    t.diagnostic(`median verify: drain ${median(d).toFixed(1)} ms, unknown user ${median(n).toFixed(1)} ms`);
    assert.ok(ratio > 0.4 && ratio < 2.5, `drain ${median(d).toFixed(1)} ms vs unknown user ${median(n).toFixed(1)} ms (ratio ${ratio.toFixed(2)})`);
    // a bcrypt verification (cost 10) takes tens of milliseconds: a drained verify is not an instant refusal
    assert.ok(median(d) > 15, `drain verify median ${median(d).toFixed(1)} ms`);
  });

  test('lookup, get, mark and unmark: 404 user_not_found for a user the store has', async () => {
    const lookup = await call(drained.url, 'POST', '/v1/users/lookup', { token, body: { login: 'alice@example.com' } });
    assert.equal(lookup.status, 404);
    assert.deepEqual(lookup.json, { error: 'user_not_found', message: lookup.json.message });
    for (const [method, p] of [
      ['GET', '/v1/users/legacy%7C1'],
      ['PUT', '/v1/users/legacy%7C1/migration'],
      ['DELETE', '/v1/users/legacy%7C1/migration'],
    ] as const) {
      const r = await call(drained.url, method, p, { token });
      assert.equal(r.status, 404, `${method} ${p}: ${r.status} ${r.text}`);
      assert.equal(r.json.error, 'user_not_found');
    }
    // input is still validated first
    assert.equal((await call(drained.url, 'POST', '/v1/users/lookup', { token, body: { login: '' } })).status, 400);
  });

  test('status: zeros, drain true, ready to decommission', async () => {
    const r = await call(drained.url, 'GET', '/v1/migration/status', { token });
    assert.equal(r.status, 200);
    const s = r.json;
    assert.deepEqual([s.total, s.migrated, s.exported, s.remaining, s.percent_migrated, s.drain], [0, 0, 0, 0, 0, true]);
    assert.deepEqual(s.per_day, []);
    assert.equal(s.decommission.ready, true);
    assert.equal(s.decommission.steps.find((x: { step: string }) => x.step === 'drain').done, true);
  });

  test('/readyz: ready without asking the store; tokens are still required', async () => {
    const r = await call(drained.url, 'GET', '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ready' });
    assert.equal((await call(drained.url, 'GET', '/v1/migration/status')).status, 401);
  });

  test('after all of the above, the store was never touched', () => {
    assert.deepEqual(touched, []);
  });

  test('the log says drain is on; metrics count the refusals as unknown users', async () => {
    assert.ok(drained.logs.some((l) => /drain is on/.test(l)));
    const m = await call(drained.url, 'GET', '/metrics');
    // (the unknown-user outcome is labelled "unknown" once the documented metric names are in; "unknown_user" before)
    assert.match(m.text, /^legacy_gateway_verify_total\{outcome="unknown(_user)?"\} [1-9]/m);
    assert.doesNotMatch(m.text, /^legacy_gateway_verify_total\{outcome="(success|match)"\} [1-9]/m);
  });
});

describe('drain: start-up never connects to the store', () => {
  let listener: Server;
  let port: number;
  let connections = 0;
  before(async () => {
    // Stands in for a database server: counts connections and drops them at once.
    listener = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => listener.close(() => resolve())));

  const store = () => testStore('postgres', `postgres://legacy@127.0.0.1:${port}/legacy`);

  test('drain on: starts, serves, reports ready, and never opens a connection', async () => {
    connections = 0;
    const gw = await startTestGateway({ store: store(), config: { drain: true } });
    try {
      const token = await gw.token();
      assert.equal((await call(gw.url, 'GET', '/readyz')).status, 200);
      assert.equal((await call(gw.url, 'POST', '/v1/credentials/verify', { token, body: ALICE })).status, 401);
      assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'alice' } })).status, 404);
      assert.equal((await call(gw.url, 'GET', '/v1/migration/status', { token })).json.total, 0);
    } finally {
      await gw.close();
    }
    assert.equal(connections, 0);
  });

  test('control: the same configuration without drain does connect (and is not ready)', async () => {
    connections = 0;
    const gw = await startTestGateway({ store: store() });
    try {
      assert.equal((await call(gw.url, 'GET', '/readyz')).status, 503);
    } finally {
      await gw.close();
    }
    assert.ok(connections > 0, 'the counter sees a normal start-up connect');
  });
});
