/**
 * NoSQL operator injection, through the real gateway (real tokens, loopback HTTP).
 *
 * 1. JSON values that are not strings — {"$ne": null}, {"$gt": ""}, {"$where": "sleep(100)"}, ["a"], ... — as login or
 *    password are refused with 400 invalid_request by the request schema, before any use case or store runs (proven
 *    with a spy on the store: zero calls). The gateway here uses the SQLite demo store; the HTTP layer is the same for
 *    every adapter.
 * 2. With a mongodb store configured at an unreachable address (127.0.0.1:1), the same objects are still 400 and never
 *    reach the driver; an operator-looking STRING ('$where', '{"$ne":null}') is a legitimate login value and is NOT
 *    refused by its shape (a username may contain '$' or braces, and refusing some strings would not make others
 *    safe). Decision: it is answered like any other login, here 503 store_unavailable because the server is
 *    unreachable, and what was handed to the driver is recorded and asserted: the string only as the operand of $eq
 *    (login) or an element of $in (user id), never as a key or an operator. The adapter's unit tests and the real
 *    server tests (test/adapters/mongodb.test.ts) prove the same at the query builders and on the wire.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UserStore } from '../../adapters/types.js';
import { call, startTestGateway, type ApiResponse, type TestGateway } from '../helpers/harness.js';

const VERIFY = '/v1/credentials/verify';
const LOOKUP = '/v1/users/lookup';
const ALICE = 'alice@example.com';
const ALICE_PASSWORD = 'correct horse battery staple';

const OPERATOR_LOGINS: unknown[] = [
  { $ne: null },
  { $gt: '' },
  { $where: 'sleep(100)' },
  ['a'],
  { $regex: '.*' },
  { $in: [ALICE] },
  { $eq: ALICE },
  [{ $ne: null }],
  { toString: 'x' },
];
const OPERATOR_PASSWORDS: unknown[] = [{ $ne: null }, { $gt: '' }, { $where: '1' }, ['x'], { $exists: true }];

function assertInvalid(r: ApiResponse, field: string, what: string): void {
  assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.json ?? {}).sort(), ['error', 'message'], what);
  assert.equal(r.json.error, 'invalid_request', what);
  assert.match(r.json.message, new RegExp(`\\b${field}\\b`), what);
}

/** Count every store call (the gateway's store is the one the server opened). */
function spyStore(store: UserStore): { calls: string[] } {
  const calls: string[] = [];
  for (const m of ['findCandidates', 'findById', 'markMigrated', 'unmarkMigrated'] as const) {
    const orig = store[m].bind(store) as (x: string) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[m] = (x: string) => {
      calls.push(`${m}(${JSON.stringify(x)})`);
      return orig(x);
    };
  }
  return { calls };
}

describe('operator objects as login or password: 400 before any store call (SQLite gateway)', () => {
  let gw: TestGateway;
  let token: string;
  let spy: { calls: string[] };
  before(async () => {
    gw = await startTestGateway();
    token = await gw.token();
    spy = spyStore(gw.running.store);
  });
  after(async () => gw?.close());

  for (const login of OPERATOR_LOGINS) {
    test(`login ${JSON.stringify(login)} → 400 invalid_request on verify and lookup`, async () => {
      const t0 = performance.now();
      assertInvalid(await call(gw.url, 'POST', VERIFY, { token, body: { login, password: ALICE_PASSWORD } }), 'login', 'verify');
      assertInvalid(await call(gw.url, 'POST', LOOKUP, { token, body: { login } }), 'login', 'lookup');
      assert.ok(performance.now() - t0 < 1000, 'answered at once (no password hashing, no query, no sleep)');
      assert.deepEqual(spy.calls, []);
    });
  }

  for (const password of OPERATOR_PASSWORDS) {
    test(`password ${JSON.stringify(password)} → 400 invalid_request`, async () => {
      assertInvalid(await call(gw.url, 'POST', VERIFY, { token, body: { login: ALICE, password } }), 'password', 'verify');
      assert.deepEqual(spy.calls, []);
    });
  }

  test('operators as extra top-level fields are unknown fields (the body schema is strict)', async () => {
    for (const body of [
      { login: ALICE, $where: 'sleep(100)' },
      { login: ALICE, 'login.$ne': null },
      { login: ALICE, $or: [{ login: { $ne: null } }] },
    ]) {
      const r = await call(gw.url, 'POST', LOOKUP, { token, body });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error, 'invalid_request');
      assert.match(r.json.message, /unknown field/);
    }
    assert.deepEqual(spy.calls, []);
  });

  test('form-encoded bodies (login[$ne]=) are never parsed into objects: 415', async () => {
    const r = await call(gw.url, 'POST', LOOKUP, { token, body: 'login[$ne]=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 415, r.text);
    assert.deepEqual(spy.calls, []);
  });

  test('an operator-looking string is a plain login: looked up, and nobody has it', async () => {
    for (const login of ['$where', '{"$ne":null}', '{"$gt": ""}']) {
      const r = await call(gw.url, 'POST', LOOKUP, { token, body: { login } });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.json.error, 'user_not_found');
    }
    assert.deepEqual(spy.calls, ['findCandidates("$where")', 'findCandidates("{\\"$ne\\":null}")', 'findCandidates("{\\"$gt\\": \\"\\"}")']);
    spy.calls.length = 0;
  });

  test('and a real login still works', async () => {
    const r = await call(gw.url, 'POST', VERIFY, { token, body: { login: ALICE, password: ALICE_PASSWORD } });
    assert.equal(r.status, 200, r.text);
    spy.calls.length = 0;
  });
});

describe('a mongodb store at an unreachable address: objects 400, operator-looking strings reach the driver only as $eq values (503)', () => {
  let gw: TestGateway;
  let token: string;
  let spy: { calls: string[] };
  const finds: { filter: unknown; options: unknown }[] = [];

  before(async () => {
    gw = await startTestGateway({
      store: {
        adapter: 'mongodb',
        url: 'mongodb://gateway:s3cret-pw@127.0.0.1:1/legacy',
        users: { table: 'users', columns: { id: '_id', email: 'email', username: 'username', password: 'hash', salt: 'salt' } },
        migration: { table: 'legacy_gateway_migrations' },
        query_timeout_ms: 300,
      },
      passwords: { scheme: 'auto' },
    });
    token = await gw.token();
    // Record what the store hands the driver, then let the driver fail as it does against 127.0.0.1:1.
    // (At the store's own query step: after a failed first connection the store replaces its driver client, so
    // the collection handle itself changes.)
    const store = gw.running.store as unknown as { find(q: { filter: unknown; options: unknown }): Promise<unknown> };
    const find = store.find.bind(store);
    store.find = (q) => {
      finds.push({ filter: q.filter, options: q.options });
      return find(q);
    };
    spy = spyStore(gw.running.store);
  });
  after(async () => gw?.close());

  test('operator objects as login or password: 400, the driver is never called', async () => {
    for (const login of OPERATOR_LOGINS) {
      assertInvalid(await call(gw.url, 'POST', VERIFY, { token, body: { login, password: 'x' } }), 'login', `verify ${JSON.stringify(login)}`);
      assertInvalid(await call(gw.url, 'POST', LOOKUP, { token, body: { login } }), 'login', `lookup ${JSON.stringify(login)}`);
    }
    for (const password of OPERATOR_PASSWORDS) {
      assertInvalid(await call(gw.url, 'POST', VERIFY, { token, body: { login: '$where', password } }), 'password', `password ${JSON.stringify(password)}`);
    }
    assert.deepEqual(spy.calls, []);
    assert.deepEqual(finds, []);
  });

  test("the '$where' STRING as login: 503 store_unavailable, and the driver got {$eq: '$where'} only", async () => {
    for (const [path, body] of [
      [LOOKUP, { login: '$where' }],
      [VERIFY, { login: '$where', password: 'sleep(100)' }],
    ] as const) {
      const r = await call(gw.url, 'POST', path, { token, body });
      assert.equal(r.status, 503, `${path}: ${r.text}`);
      assert.equal(r.json.error, 'store_unavailable');
      assert.equal(r.headers.get('retry-after'), '5');
      assert.doesNotMatch(r.text, /s3cret|127\.0\.0\.1|mongodb/i, 'no connection detail leaks');
    }
    assert.equal(finds.length, 2);
    for (const f of finds) {
      assert.deepEqual(f.filter, { $or: [{ email: { $eq: '$where' } }, { username: { $eq: '$where' } }] });
      assert.deepEqual((f.options as { collation?: unknown }).collation, { locale: 'en', strength: 2 });
    }
    finds.length = 0;
  });

  test('other operator-looking strings, as login and as user id, travel as values too', async () => {
    for (const login of ['{"$ne":null}', '{"$gt": ""}', 'this.password', '$gt']) {
      const r = await call(gw.url, 'POST', LOOKUP, { token, body: { login } });
      assert.equal(r.status, 503, r.text);
      assert.deepEqual(finds.shift()?.filter, { $or: [{ email: { $eq: login.toLowerCase() } }, { username: { $eq: login.toLowerCase() } }] });
    }
    const byId = await call(gw.url, 'GET', `/v1/users/${encodeURIComponent('legacy|{"$ne":null}')}`, { token });
    assert.equal(byId.status, 503, byId.text);
    assert.deepEqual(finds.shift()?.filter, { _id: { $in: ['{"$ne":null}'] } });
    const mark = await call(gw.url, 'PUT', `/v1/users/${encodeURIComponent('legacy|$where')}/migration`, { token });
    assert.equal(mark.status, 503, mark.text);
    assert.deepEqual(finds.shift()?.filter, { _id: { $in: ['$where'] } });
    assert.deepEqual(finds, []);
  });

  test('the connection string never reaches the logs', async () => {
    assert.ok(gw.logs.length > 0);
    for (const line of gw.logs) assert.doesNotMatch(line, /s3cret/);
  });
});
