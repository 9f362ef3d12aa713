/**
 * /metrics scraped after real traffic against a real PostgreSQL store: every documented family is there, and each
 * moved by exactly what the traffic did (requests by route and outcome, latency histograms, verify outcomes, hash
 * schemes seen, store calls, pool usage, marks written).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { availability, createPostgresDatabase, lit, type TestDatabase } from '../helpers/databases.js';
import { call, closeAndDrop, startTestGateway, type TestGateway } from '../helpers/harness.js';

const USERS = [
  { id: 1, email: 'alice@example.com', password: 'alice-password-1', blocked: false },
  { id: 2, email: 'bob@example.com', password: 'bob-password-1', blocked: true },
  { id: 3, email: 'carol@example.com', password: 'carol-password-1', blocked: false },
  { id: 4, email: 'dave@example.com', password: 'dave-password-1', blocked: false },
  { id: 5, email: 'erin@example.com', password: 'erin-password-1', blocked: false },
];
const PARALLEL_MARKS = 10;

/** The value of one series (exact label set), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /^[^{]+\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const got = m[1]!.split(/,(?=[a-z_]+=")/).sort();
    if (got.length === want.length && got.every((x, i) => x === want[i])) return Number(m[2]);
  }
  return undefined;
}

const skip = await availability('postgres');

describe('metrics: every family, moved by real traffic (PostgreSQL store)', { skip }, () => {
  let db: TestDatabase;
  let gw: TestGateway;
  let text = '';

  before(async () => {
    db = await createPostgresDatabase();
    await db.exec([
      'CREATE TABLE users (id integer PRIMARY KEY, email text, password_hash text NOT NULL, is_disabled boolean NOT NULL DEFAULT false)',
      'CREATE TABLE legacy_gateway_migrations (user_id varchar(255) PRIMARY KEY, migrated_at timestamptz NOT NULL)',
      ...USERS.map((u) => `INSERT INTO users VALUES (${u.id}, ${lit(u.email)}, ${lit(hashSync(u.password, 4))}, ${u.blocked})`),
    ]);
    gw = await startTestGateway({
      store: {
        adapter: 'postgres',
        url: db.url,
        pool_max: 3,
        users: { table: 'users', columns: { id: 'id', email: 'email', password: 'password_hash', blocked: 'is_disabled' } },
        migration: { table: 'legacy_gateway_migrations' },
      },
      config: { limits: { login_failures: { max: 2, window_s: 900 } }, profile: { user_id_prefix: '' } },
      logLevel: 'warn',
    });
    const token = await gw.token();
    const verify = (login: string, password: string) => call(gw.url, 'POST', '/v1/credentials/verify', { token, body: { login, password } });
    assert.equal((await verify('alice@example.com', 'alice-password-1')).status, 200); // match
    assert.equal((await verify('alice@example.com', 'wrong')).status, 401); // mismatch
    assert.equal((await verify('nobody@example.com', 'whatever')).status, 401); // unknown
    assert.equal((await verify('bob@example.com', 'bob-password-1')).status, 403); // blocked
    assert.equal((await verify('carol@example.com', 'x1')).status, 401); // mismatch
    assert.equal((await verify('carol@example.com', 'x2')).status, 401); // mismatch
    assert.equal((await verify('carol@example.com', 'x3')).status, 429); // locked_out
    assert.equal((await call(gw.url, 'PUT', '/v1/users/4/migration', { token })).status, 200); // written
    assert.equal((await call(gw.url, 'PUT', '/v1/users/4/migration', { token })).status, 200); // already
    assert.equal((await call(gw.url, 'PUT', '/v1/users/999/migration', { token })).status, 404); // not_found
    assert.equal((await verify('dave@example.com', 'dave-password-1')).status, 401); // migrated
    assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { token, body: { login: 'nobody@example.com' } })).status, 404);
    assert.equal((await call(gw.url, 'POST', '/v1/users/lookup', { body: { login: 'alice@example.com' } })).status, 401);
    assert.equal((await call(gw.url, 'DELETE', '/v1/users/4/migration', { token })).status, 204); // removed
    // Concurrent marks of one user: one is written, the others find it there.
    const parallel = await Promise.all(Array.from({ length: PARALLEL_MARKS }, () => call(gw.url, 'PUT', '/v1/users/5/migration', { token })));
    assert.deepEqual(new Set(parallel.map((p) => p.status)), new Set([200]));
    const r = await call(gw.url, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    text = r.text;
  });

  after(() => closeAndDrop(gw, db));

  test('refused tokens by reason: the request without a token, every other reason at 0', () => {
    const r = (reason: string) => sample(text, 'legacy_gateway_token_rejections_total', { reason });
    assert.equal(r('missing'), 1);
    for (const reason of ['malformed', 'audience', 'issuer', 'expired', 'algorithm', 'signature', 'unknown_kid', 'jwks_unreachable', 'client_not_allowed', 'insufficient_scope']) {
      assert.equal(r(reason), 0, reason);
    }
  });

  test('requests by route, status and outcome (the error code, or ok)', () => {
    const req = (route: string, status: string, outcome: string, method = 'POST') => sample(text, 'legacy_gateway_http_requests_total', { method, route, status, outcome });
    assert.equal(req('/v1/credentials/verify', '200', 'ok'), 1);
    assert.equal(req('/v1/credentials/verify', '401', 'invalid_credentials'), 5);
    assert.equal(req('/v1/credentials/verify', '403', 'user_blocked'), 1);
    assert.equal(req('/v1/credentials/verify', '429', 'too_many_attempts'), 1);
    assert.equal(req('/v1/users/lookup', '404', 'user_not_found'), 1);
    // No token: refused before the route ran, still counted under its route (never "unmatched").
    assert.equal(req('/v1/users/lookup', '401', 'invalid_token'), 1);
    assert.equal(req('unmatched', '401', 'invalid_token'), undefined);
    assert.equal(req('/v1/users/:user_id/migration', '200', 'ok', 'PUT'), 2 + PARALLEL_MARKS);
    assert.equal(req('/v1/users/:user_id/migration', '204', 'ok', 'DELETE'), 1);
  });

  test('latency histograms: buckets, sum and count per route', () => {
    assert.equal(sample(text, 'legacy_gateway_http_request_duration_seconds_count', { method: 'POST', route: '/v1/credentials/verify' }), 8);
    assert.equal(sample(text, 'legacy_gateway_http_request_duration_seconds_bucket', { method: 'POST', route: '/v1/credentials/verify', le: '+Inf' }), 8);
    assert.ok((sample(text, 'legacy_gateway_http_request_duration_seconds_sum', { method: 'POST', route: '/v1/credentials/verify' }) ?? 0) > 0);
    assert.match(text, /# TYPE legacy_gateway_http_request_duration_seconds histogram/);
  });

  test('verify outcomes: match, mismatch, unknown, blocked, locked_out, migrated', () => {
    const v = (outcome: string) => sample(text, 'legacy_gateway_verify_total', { outcome });
    assert.deepEqual(
      { match: v('match'), mismatch: v('mismatch'), unknown: v('unknown'), blocked: v('blocked'), locked_out: v('locked_out'), migrated: v('migrated') },
      { match: 1, mismatch: 3, unknown: 1, blocked: 1, locked_out: 1, migrated: 1 },
    );
  });

  test('hash schemes seen: the scheme of every stored password that was checked', () => {
    // alice (match, mismatch), bob (blocked after a match), carol twice (mismatch); not the unknown, migrated or locked-out ones.
    assert.equal(sample(text, 'legacy_gateway_password_schemes_total', { scheme: 'bcrypt' }), 5);
  });

  test('marks: written, already, removed, not_found (of concurrent marks of one user, one is written)', () => {
    const m = (result: string) => sample(text, 'legacy_gateway_migration_marks_total', { result });
    assert.deepEqual(
      { written: m('written'), already: m('already'), removed: m('removed'), not_found: m('not_found') },
      { written: 2, already: PARALLEL_MARKS, removed: 1, not_found: 1 },
    );
  });

  test('store calls timed by operation and result', () => {
    assert.ok((sample(text, 'legacy_gateway_store_operation_duration_seconds_count', { operation: 'findCandidates', result: 'ok' }) ?? 0) >= 8);
    assert.equal(sample(text, 'legacy_gateway_store_operation_duration_seconds_count', { operation: 'markMigrated', result: 'ok' }), 3 + PARALLEL_MARKS);
  });

  test('pool usage: open, idle, in_use, waiting and max of the store pool', () => {
    const p = (state: string) => sample(text, 'legacy_gateway_store_pool_connections', { state });
    assert.equal(p('max'), 3);
    assert.equal(p('waiting'), 0);
    const open = p('open');
    assert.ok(open !== undefined && open >= 1 && open <= 3, `open ${open}`);
    assert.equal((p('idle') ?? -1) + (p('in_use') ?? -1), open);
  });

  test('process metrics (prom-client defaults) are there too', () => {
    assert.match(text, /^process_cpu_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });
});
