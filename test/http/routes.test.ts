/** The v1 endpoints' behaviour (DESIGN.md §2), end to end over HTTP with real tokens and a real SQLite store. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, startTestGateway, type TestGateway } from '../helpers/harness.js';

let gw: TestGateway;
let token: string;
before(async () => {
  gw = await startTestGateway();
  token = await gw.token();
});
after(async () => gw.close());

const verify = (login: string, password: string) => call(gw.url, 'POST', '/v1/credentials/verify', { token, body: { login, password } });
const lookup = (login: string) => call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login } });
const byId = (id: string) => call(gw.url, 'GET', `/v1/users/${encodeURIComponent(id)}`, { token });
const mark = (id: string) => call(gw.url, 'PUT', `/v1/users/${encodeURIComponent(id)}/migration`, { token });
const unmark = (id: string) => call(gw.url, 'DELETE', `/v1/users/${encodeURIComponent(id)}/migration`, { token });

const ALICE = 'correct horse battery staple';

describe('verify', () => {
  test('each legacy format in the demo store verifies and returns the profile', async () => {
    for (const [login, password, id] of [
      ['alice@example.com', ALICE, 'legacy|1'],
      ['bob', 'hunter2-but-longer', 'legacy|2'],
      ['carol@example.com', 'Pässwörd-ünïcode', 'legacy|3'],
      ['erin', 'erin-has-no-email', 'legacy|5'],
    ] as const) {
      const r = await verify(login, password);
      assert.equal(r.status, 200, `${login}: ${r.text}`);
      assert.equal(r.json.user.user_id, id);
    }
  });

  test('the profile is exactly the documented shape, lower-cased, absent values omitted', async () => {
    const r = await verify('ALICE@EXAMPLE.COM', ALICE);
    assert.deepEqual(r.json, {
      user: {
        user_id: 'legacy|1',
        email: 'alice@example.com',
        email_verified: true,
        username: 'alice',
        name: 'Alice Doe',
        given_name: 'Alice',
        family_name: 'Doe',
        blocked: false,
        app_metadata: { plan: 'gold' },
        user_metadata: { locale: 'en' },
      },
    });
    const erin = await verify('ERIN', 'erin-has-no-email');
    assert.equal('email' in erin.json.user, false);
    assert.equal('email_verified' in erin.json.user, false);
  });

  test('unknown user, wrong password and migrated user get the same 401 body', async () => {
    const unknown = await verify('nobody@example.com', 'whatever');
    const wrong = await verify('alice@example.com', 'correct horse battery stapl');
    let migrated;
    try {
      assert.equal((await mark('legacy|2')).status, 200);
      migrated = await verify('bob', 'hunter2-but-longer');
    } finally {
      await unmark('legacy|2');
    }
    for (const r of [unknown, wrong, migrated]) {
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), null, 'credential errors are not token errors');
    }
    assert.equal(wrong.text, unknown.text);
    assert.equal(migrated.text, unknown.text);
    assert.deepEqual(unknown.json, { error: 'invalid_credentials', message: 'Wrong username or password.' });
  });

  test('a disabled account gets 403 user_blocked only after a correct password', async () => {
    assert.equal((await verify('dave@example.com', 'wrong')).status, 401);
    const r = await verify('dave@example.com', 'dave-was-disabled');
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'user_blocked');
    assert.equal(r.json.user, undefined);
  });

  test('a login that matches two rows is 409 ambiguous_login', async () => {
    const r = await verify('DUP@example.com', 'dup-one-pass');
    assert.equal(r.status, 409);
    assert.equal(r.json.error, 'ambiguous_login');
  });
});

describe('lookup and get by id', () => {
  test('verify and lookup return a deep-equal profile for the same user', async () => {
    for (const [login, password] of [
      ['alice', ALICE],
      ['carol@example.com', 'Pässwörd-ünïcode'],
      ['dave', 'dave-was-disabled'],
    ] as const) {
      const l = await lookup(login.toUpperCase());
      assert.equal(l.status, 200);
      const g = await byId(l.json.user.user_id);
      assert.equal(g.status, 200);
      assert.deepEqual(g.json, l.json);
      if (login !== 'dave') {
        const v = await verify(login, password);
        assert.deepEqual(v.json, l.json);
      } else {
        assert.equal(l.json.user.blocked, true, 'lookup reports a blocked user as blocked');
      }
    }
  });

  test('unknown is 404 user_not_found; an id without the configured prefix is 404', async () => {
    const r = await lookup('nobody@example.com');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { error: 'user_not_found', message: 'No such user.' });
    assert.equal((await byId('legacy|999')).status, 404);
    assert.equal((await byId('1')).status, 404);
    assert.equal((await byId('other|1')).status, 404);
  });

  test('ambiguous lookup is 409', async () => {
    assert.equal((await lookup('dup@example.com')).status, 409);
  });
});

describe('migration marks', () => {
  test('marking twice keeps the first timestamp; then lookup 404, get 404, verify 401; unmark restores', async () => {
    try {
    const first = await mark('legacy|3');
    assert.equal(first.status, 200);
    assert.equal(first.json.user_id, 'legacy|3');
    assert.ok(!Number.isNaN(Date.parse(first.json.migrated_at)));
    await new Promise((r) => setTimeout(r, 20));
    const second = await mark('legacy|3');
    assert.equal(second.json.migrated_at, first.json.migrated_at);

    assert.equal((await lookup('carol@example.com')).status, 404);
    assert.equal((await byId('legacy|3')).status, 404);
    assert.equal((await verify('carol@example.com', 'Pässwörd-ünïcode')).status, 401);

    const del = await call(gw.url, 'DELETE', '/v1/users/legacy%7C3/migration', { token });
    assert.equal(del.status, 204);
    assert.equal(del.text, '');
    assert.equal((await lookup('carol@example.com')).status, 200);
    assert.equal((await verify('carol@example.com', 'Pässwörd-ünïcode')).status, 200);
    const again = await mark('legacy|3');
    assert.notEqual(again.json.migrated_at, first.json.migrated_at, 'a new mark after an unmark is a new record');
    } finally {
      // A failed assertion must not leave the mark behind for the next test.
      await unmark('legacy|3');
    }
  });

  test('marking or unmarking an unknown user is 404', async () => {
    assert.equal((await mark('legacy|999')).status, 404);
    assert.equal((await unmark('legacy|999')).status, 404);
  });

  test('parallel marks over HTTP agree on one timestamp', async () => {
    try {
      const all = await Promise.all(Array.from({ length: 10 }, () => mark('legacy|5')));
      assert.ok(all.every((r) => r.status === 200));
      assert.equal(new Set(all.map((r) => r.json.migrated_at)).size, 1);
    } finally {
      await unmark('legacy|5');
    }
  });

  test('status counts come from the store', async () => {
    const before = await call(gw.url, 'GET', '/v1/migration/status', { token });
    assert.equal(before.status, 200);
    assert.equal(before.json.total, 7);
    assert.equal(before.json.migrated, 0);
    try {
      await mark('legacy|1');
      const s = await call(gw.url, 'GET', '/v1/migration/status', { token });
      assert.equal(s.json.migrated, 1);
      assert.equal(s.json.remaining, 6);
      assert.equal(s.json.percent_migrated, 14.29);
    } finally {
      await unmark('legacy|1');
    }
  });
});

describe('what never leaves the gateway', () => {
  test('no hash, salt or password in any response', async () => {
    const bodies = [
      (await verify('alice', ALICE)).text,
      (await verify('bob', 'hunter2-but-longer')).text,
      (await lookup('carol')).text,
      (await byId('legacy|2')).text,
      (await verify('alice', 'nope')).text,
    ].join('\n');
    for (const needle of ['$2b$', 'pbkdf2_sha256$', '"password', '"salt', '"password_hash', ALICE, 'hunter2']) {
      assert.equal(bodies.includes(needle), false, `response contains ${needle}`);
    }
  });
});

describe('health', () => {
  test('healthz and readyz answer 200 without a token; metrics count outcomes', async () => {
    assert.equal((await call(gw.url, 'GET', '/healthz')).status, 200);
    assert.deepEqual((await call(gw.url, 'GET', '/readyz')).json, { status: 'ready' });
    const metrics = await call(gw.url, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /legacy_gateway_verify_total\{outcome="match"\} [1-9]/m);
  });

  test('an unreachable store gives 503 store_unavailable with Retry-After, and readyz 503', async () => {
    const other = await startTestGateway();
    try {
      await other.running.store.close();
      const r = await call(other.url, 'POST', '/v1/users/lookup', { token: await other.token(), body: { login: 'alice' } });
      assert.equal(r.status, 503);
      assert.equal(r.json.error, 'store_unavailable');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
      const ready = await call(other.url, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.json.error, 'store_unavailable');
    } finally {
      other.running.server.close();
      other.running.server.closeAllConnections();
      await other.issuer.close();
    }
  });
});

describe('failed-login limit', () => {
  test('after max failures for one login, 429 too_many_attempts with Retry-After; other logins unaffected', async () => {
    const lim = await startTestGateway({ config: { limits: { login_failures: { max: 3, window_s: 60 } } } });
    try {
      const t = await lim.token();
      const v = (login: string, password: string) => call(lim.url, 'POST', '/v1/credentials/verify', { token: t, body: { login, password } });
      for (let i = 0; i < 3; i++) assert.equal((await v('alice', 'bad')).status, 401);
      const blocked = await v('ALICE', ALICE);
      assert.equal(blocked.status, 429);
      assert.equal(blocked.json.error, 'too_many_attempts');
      const ra = Number(blocked.headers.get('retry-after'));
      assert.ok(ra > 0 && ra <= 60, `Retry-After ${ra}`);
      assert.equal((await v('bob', 'hunter2-but-longer')).status, 200);
    } finally {
      await lim.close();
    }
  });
});

describe('a stored value no scheme recognises', () => {
  test('verifies false (401, never a 500) and is logged once, without the value', async () => {
    const { createRequire } = await import('node:module');
    const Database = createRequire(import.meta.url)('better-sqlite3');
    const odd = await startTestGateway();
    try {
      const db = new Database(odd.dbFile);
      db.prepare('UPDATE users SET password_hash = ? WHERE id = 2').run('weird-format:c2VjcmV0LXZhbHVl');
      db.close();
      const t = await odd.token();
      for (let i = 0; i < 3; i++) {
        const r = await call(odd.url, 'POST', '/v1/credentials/verify', { token: t, body: { login: 'bob', password: 'weird-format:c2VjcmV0LXZhbHVl' } });
        assert.equal(r.status, 401);
        assert.equal(r.json.error, 'invalid_credentials');
      }
      const warnings = odd.logs.filter((l) => l.includes('matched no configured scheme'));
      assert.equal(warnings.length, 1, 'logged once');
      assert.match(warnings[0]!, /"reason":"unrecognised"/);
      assert.equal(odd.logs.join('\n').includes('c2VjcmV0LXZhbHVl'), false, 'the stored value never reaches the log');
    } finally {
      await odd.close();
    }
  });
});
