/**
 * The http store end to end: the real gateway, real tokens, and a real legacy web service (node:http on loopback)
 * that checks passwords itself. The service can be switched to failing, slow, or dropping connections.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

interface ServiceUser {
  id: number;
  email: string | null;
  username: string;
  password: string;
  name?: string;
  verified?: boolean;
  disabled?: boolean;
  plan?: string;
}

const USERS: ServiceUser[] = [
  { id: 1, email: 'Alice@Example.com', username: 'Alice', password: 'correct horse battery staple', name: 'Alice Doe', verified: true, plan: 'gold' },
  { id: 2, email: 'bob@example.com', username: 'bob', password: 'hunter2-but-longer' },
  { id: 3, email: 'carol@example.com', username: 'carol', password: 'carol-is-disabled', disabled: true },
  { id: 4, email: 'dup@example.com', username: 'dup-one', password: 'dup-pass' },
  { id: 5, email: 'DUP@example.com', username: 'dup-two', password: 'dup-pass' },
  { id: 6, email: 'limit@example.com', username: 'limit', password: 'limit-pass' },
];
const SERVICE_KEY = 'service-api-key-do-not-log';

type Mode = 'ok' | 'fail' | 'slow' | 'drop';

/** A legacy web service: GET /api/profile (Basic), by-email / by-username / by-id, a count, a health check. */
async function startService() {
  const state = { mode: 'ok' as Mode, calls: 0, keys: new Set<string>() };
  const timers = new Set<NodeJS.Timeout>();
  const view = (u: ServiceUser) => ({
    id: u.id,
    attributes: { email: u.email, login: u.username, display_name: u.name ?? null, email_confirmed: u.verified ?? false, locked: u.disabled ?? false, plan: u.plan ?? null },
  });
  const match = (login: string) => USERS.filter((u) => u.email?.toLowerCase() === login.toLowerCase() || u.username.toLowerCase() === login.toLowerCase());
  const server = http.createServer((req, res) => {
    state.calls++;
    state.keys.add(String(req.headers['x-api-key']));
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const answer = () => {
      const seg = (req.url ?? '').split('?')[0]!.split('/').slice(1).map((s) => decodeURIComponent(s));
      if (seg[0] !== 'api') return send(404, {});
      const [, head, arg] = seg;
      if (head === 'health') return send(200, { status: 'up' });
      if (head === 'profile') {
        const auth = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');
        const i = auth.indexOf(':');
        const found = match(auth.slice(0, i));
        if (found.length > 1) return send(409, { error: 'several accounts' });
        const u = found[0];
        return u && u.password === auth.slice(i + 1) ? send(200, { result: view(u) }) : send(401, { error: 'bad credentials' });
      }
      if (head === 'users-by-email' && arg !== undefined) {
        const found = USERS.filter((u) => u.email?.toLowerCase() === arg.toLowerCase());
        return found.length ? send(200, { result: found.map(view) }) : send(404, {});
      }
      if (head === 'users-by-username' && arg !== undefined) {
        const u = USERS.find((x) => x.username.toLowerCase() === arg.toLowerCase());
        return u ? send(200, { result: view(u) }) : send(404, {});
      }
      if (head === 'users' && arg !== undefined) {
        const u = USERS.find((x) => String(x.id) === arg);
        return u ? send(200, { result: view(u) }) : send(404, {});
      }
      if (head === 'count') return send(200, { total: USERS.length });
      return send(404, {});
    };
    if (state.mode === 'fail') return send(500, { error: 'database is down' });
    if (state.mode === 'drop') return void req.socket.destroy();
    if (state.mode === 'slow') {
      const t = setTimeout(() => {
        timers.delete(t);
        answer();
      }, 3000);
      timers.add(t);
      return;
    }
    answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`,
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let svc: Awaited<ReturnType<typeof startService>>;
let gw: TestGateway;
let token: string;
let dir: string;

before(async () => {
  svc = await startService();
  dir = mkdtempSync(path.join(tmpdir(), 'lg-http-e2e-'));
  gw = await startTestGateway({
    store: {
      adapter: 'http',
      url: svc.url,
      users: {
        columns: {
          id: 'id',
          email: 'attributes.email',
          username: 'attributes.login',
          name: 'attributes.display_name',
          email_verified: 'attributes.email_confirmed',
          blocked: 'attributes.locked',
        },
        app_metadata: ['attributes.plan'],
      },
      http: {
        migration_db: path.join(dir, 'marks.sqlite'),
        timeout_ms: 500,
        verify: { mode: 'basic', path: '/profile' },
        lookup: {
          by_email: { path: '/users-by-email/{email}' },
          by_username: { path: '/users-by-username/{username}' },
          by_id: { path: '/users/{id}' },
        },
        count: { path: '/count', count_path: 'total' },
        health: { path: '/health' },
        response: { user_path: 'result' },
        headers: { 'X-Api-Key': SERVICE_KEY },
      },
    },
    config: { limits: { login_failures: { max: 3, window_s: 60 } } },
  });
  token = await gw.token();
});
after(async () => {
  await gw?.close();
  await svc?.close();
  rmSync(dir, { recursive: true, force: true });
});

const verify = (login: string, password: string) => call(gw.url, 'POST', '/v1/credentials/verify', { token, body: { login, password } });
const lookup = (login: string) => call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login } });
const byId = (id: string) => call(gw.url, 'GET', `/v1/users/${encodeURIComponent(id)}`, { token });
const mark = (id: string) => call(gw.url, 'PUT', `/v1/users/${encodeURIComponent(id)}/migration`, { token });
const unmark = (id: string) => call(gw.url, 'DELETE', `/v1/users/${encodeURIComponent(id)}/migration`, { token });

const ALICE = USERS[0]!.password;
const ALICE_PROFILE = {
  user_id: 'legacy|1',
  email: 'alice@example.com',
  email_verified: true,
  username: 'alice',
  name: 'Alice Doe',
  blocked: false,
  app_metadata: { plan: 'gold' },
  user_metadata: {},
};

/** Run with the service in a mode, restoring it afterwards. */
async function inMode<T>(mode: Mode, fn: () => Promise<T>): Promise<T> {
  svc.state.mode = mode;
  try {
    return await fn();
  } finally {
    svc.state.mode = 'ok';
  }
}

describe('http store end to end: verify', () => {
  test('the right password: 200 with the profile, mapped from the nested response and lower-cased', async () => {
    const r = await verify('alice@example.com', ALICE);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { user: ALICE_PROFILE });
    assert.equal((await verify('BOB', USERS[1]!.password)).json.user.user_id, 'legacy|2');
  });

  test('wrong password and unknown user: the same 401 body', async () => {
    const wrong = await verify('alice@example.com', 'correct horse battery stapl');
    const unknown = await verify('nobody@example.com', 'whatever');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.json.error, 'invalid_credentials');
    assert.equal((await verify('alice@example.com', ALICE)).status, 200, 'a success resets the failure count');
  });

  test('a success resets the failure count: with max 3, fail ×2, ok, fail ×2, ok (without the reset the 5th is 429)', async () => {
    const seq: number[] = [];
    for (const pw of ['wrong-a', 'wrong-b', ALICE, 'wrong-c', 'wrong-d', ALICE]) seq.push((await verify('alice', pw)).status);
    assert.deepEqual(seq, [401, 401, 200, 401, 401, 200]);
  });

  test('a blocked account: 401 with a wrong password, 403 only after the right one', async () => {
    assert.equal((await verify('carol', 'nope')).status, 401);
    const r = await verify('carol', USERS[2]!.password);
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'user_blocked');
  });

  test('a login the service says is ambiguous: 409', async () => {
    const r = await verify('dup@example.com', 'dup-pass');
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'ambiguous_login');
  });

  test('the failed-login limiter still applies', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await verify('limit', `wrong-${i}`)).status, 401);
    const calls = svc.state.calls;
    const r = await verify('limit', 'limit-pass');
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    assert.equal(svc.state.calls, calls, 'a limited login never reaches the service');
  });
});

describe('http store end to end: lookup and get by id', () => {
  test('lookup by email and by username: 200 with the same profile as verify; unknown: 404', async () => {
    for (const login of ['ALICE@example.com', 'alice']) {
      const r = await lookup(login);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { user: ALICE_PROFILE });
    }
    const none = await lookup('nobody@example.com');
    assert.equal(none.status, 404);
    assert.equal(none.json.error, 'user_not_found');
    assert.equal((await lookup('dup@example.com')).status, 409);
  });

  test('get by id', async () => {
    assert.deepEqual((await byId('legacy|1')).json, { user: ALICE_PROFILE });
    assert.equal((await byId('legacy|999')).status, 404);
    assert.equal((await byId('legacy|../count')).status, 404);
  });
});

describe('http store end to end: migration marks', () => {
  test('mark-migrated: verify 401 (same body as a wrong password), lookup and get 404; unmark restores', async () => {
    const wrongBody = (await verify('bob', 'not-it')).text;
    try {
    const m = await mark('legacy|2');
    assert.equal(m.status, 200, m.text);
    assert.equal(m.json.user_id, 'legacy|2');
    assert.equal((await mark('legacy|2')).json.migrated_at, m.json.migrated_at, 'idempotent: first timestamp');
    const v = await verify('bob', USERS[1]!.password);
    assert.equal(v.status, 401);
    assert.equal(v.text, wrongBody);
    assert.equal((await lookup('bob')).status, 404);
    assert.equal((await byId('legacy|2')).status, 404);
    const s = await call(gw.url, 'GET', '/v1/migration/status', { token });
    assert.equal(s.status, 200);
    assert.deepEqual([s.json.total, s.json.migrated, s.json.remaining], [USERS.length, 1, USERS.length - 1]);
    } finally {
      // Restores the mark even when an assertion above failed (the next tests expect bob unmarked).
      assert.equal((await unmark('legacy|2')).status, 204);
    }
    assert.equal((await verify('bob', USERS[1]!.password)).status, 200);
    assert.equal((await lookup('bob')).status, 200);
    assert.equal((await mark('legacy|999')).status, 404, 'no such user in the service');
    assert.equal((await unmark('legacy|999')).status, 404);
  });
});

describe('http store end to end: the service failing', () => {
  const expect503 = (r: Awaited<ReturnType<typeof call>>) => {
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error, 'store_unavailable');
    assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After');
  };

  test('500 from the service: 503 store_unavailable with Retry-After; readyz 503', async () => {
    await inMode('fail', async () => {
      expect503(await verify('alice@example.com', ALICE));
      expect503(await lookup('alice'));
      expect503(await mark('legacy|1'));
      assert.equal((await call(gw.url, 'GET', '/readyz')).status, 503);
    });
    assert.equal((await call(gw.url, 'GET', '/readyz')).status, 200);
  });

  test('a dropped connection: 503', async () => {
    await inMode('drop', async () => {
      expect503(await verify('alice@example.com', ALICE));
      expect503(await lookup('bob'));
    });
  });

  test('a slow service: 503 within the timeout, not after the service finally answers', async () => {
    await inMode('slow', async () => {
      for (const send of [() => verify('alice@example.com', ALICE), () => lookup('alice')]) {
        const t0 = Date.now();
        expect503(await send());
        const took = Date.now() - t0;
        assert.ok(took >= 450 && took < 1500, `answered after ${took} ms (timeout 500 ms, service 3 s)`);
      }
    });
  });

  test('a service failure is not a failed login: the limiter is not charged', async () => {
    await inMode('fail', async () => {
      for (let i = 0; i < 4; i++) expect503(await verify('bob', 'whatever'));
    });
    assert.equal((await verify('bob', USERS[1]!.password)).status, 200);
  });
});

describe('http store end to end: what never leaves the gateway', () => {
  test('the service key is sent; no password or service key in logs or responses', async () => {
    assert.deepEqual([...svc.state.keys], [SERVICE_KEY]);
    await inMode('fail', async () => void (await verify('alice@example.com', ALICE)));
    const logs = gw.logs.join('\n');
    for (const secret of [ALICE, USERS[1]!.password, SERVICE_KEY, 'database is down']) {
      assert.equal(logs.includes(secret), false, `logs contain ${secret}`);
    }
    assert.match(logs, /legacy service GET \/profile: answered 500/);
    const metrics = await call(gw.url, 'GET', '/metrics');
    assert.match(metrics.text, /legacy_gateway_verify_total\{outcome="rejected"\} [1-9]/);
  });
});
