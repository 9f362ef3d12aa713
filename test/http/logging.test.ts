/**
 * Secrets never appear in logs or responses (DESIGN.md §2: "No password hash, salt or secret ever appears in a
 * profile, a log line or an error"). Plant distinctive passwords, stored hashes and bearer tokens in every place a
 * client can put them, then search every captured log line and every response for them.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { createLogger, fixedFieldsLogger, FIXED_LINE_REDACT_PATHS, REDACT_PATHS } from '../../src/logger.js';
import { call, startTestGateway, wrapStore, type ApiResponse, type TestGateway } from '../helpers/harness.js';

const PLANTED = 'Pl4nted-Secret-Password-9f3e';
const ALICE_PASSWORD = 'correct horse battery staple';
const BOB_PASSWORD = 'hunter2-but-longer';
const CAROL_PASSWORD = 'Pässwörd-ünïcode';
const GARBAGE_TOKEN = 'garbage.token.value-7a1b';
const BASIC = Buffer.from(`alice@example.com:${PLANTED}`).toString('base64');

const VERIFY = '/v1/credentials/verify';
const LOOKUP = '/v1/users/lookup';

let gw: TestGateway;
let token: string;
let hashes: { alice: string; bob: string; carol: string };

interface Sent {
  reqId: string;
  what: string;
  method: string;
  status: number;
  route: string | undefined;
  res: ApiResponse;
}
const sent: Sent[] = [];
let seq = 0;

/** One call with its own X-Request-Id, remembered with what the request log line must say. */
async function send(
  what: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> },
  expect: { status: number; route?: string; code?: string },
): Promise<ApiResponse> {
  const reqId = `lt-${++seq}`;
  const res = await call(gw.url, method, path, { ...opts, headers: { ...(opts.headers ?? {}), 'x-request-id': reqId } });
  assert.equal(res.status, expect.status, `${what}: ${res.text.slice(0, 300)}`);
  if (expect.code) assert.equal(res.json?.error, expect.code, `${what}: ${res.text.slice(0, 300)}`);
  sent.push({ reqId, what, method, status: res.status, route: expect.route, res });
  return res;
}

function secrets(): [string, string][] {
  const [header, payload, signature] = token.split('.');
  assert.ok(header && payload && signature, 'the test token is a JWT');
  return [
    ['planted password', PLANTED],
    ["alice's password", ALICE_PASSWORD],
    ["bob's password", BOB_PASSWORD],
    ["carol's password", CAROL_PASSWORD],
    ["alice's bcrypt hash", hashes.alice],
    ["bob's pbkdf2 hash", hashes.bob],
    ["carol's ASP.NET hash", hashes.carol],
    ['valid bearer token', token],
    ['valid bearer token signature', signature],
    ['garbage bearer token', GARBAGE_TOKEN],
    ['basic credentials', BASIC],
  ];
}

/** Hash markers that must never reach a client, whatever the user. */
const HASH_MARKERS = ['$2a$', '$2b$', '$2y$', 'pbkdf2_sha256$', 'pbkdf2$', '$argon2'];

before(async () => {
  gw = await startTestGateway({ logLevel: 'trace' });
  token = await gw.token();
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const db = new Database(gw.dbFile, { readonly: true, fileMustExist: true });
  try {
    const get = (id: number) => (db.prepare('SELECT password_hash FROM users WHERE id = ?').get(id) as { password_hash: string }).password_hash;
    hashes = { alice: get(1), bob: get(2), carol: get(3) };
  } finally {
    db.close();
  }
  assert.match(hashes.alice, /^\$2[aby]\$10\$/);
  assert.match(hashes.bob, /^pbkdf2_sha256\$/);
  assert.ok(hashes.carol.length > 40);
});
after(async () => gw?.close());

test('plant secrets in every request', async () => {
  const t = { token };
  const V = { route: VERIFY };
  // Passwords: wrong for an existing user, for an unknown user, and the right ones.
  await send('planted password, existing user', 'POST', VERIFY, { ...t, body: { login: 'alice@example.com', password: PLANTED } }, { ...V, status: 401, code: 'invalid_credentials' });
  await send('planted password, unknown user', 'POST', VERIFY, { ...t, body: { login: 'nobody-7c2d@example.com', password: PLANTED } }, { ...V, status: 401, code: 'invalid_credentials' });
  await send('planted password, username login', 'POST', VERIFY, { ...t, body: { login: 'bob', password: PLANTED } }, { ...V, status: 401, code: 'invalid_credentials' });
  await send("alice's correct password", 'POST', VERIFY, { ...t, body: { login: 'alice@example.com', password: ALICE_PASSWORD } }, { ...V, status: 200 });
  await send("bob's correct password", 'POST', VERIFY, { ...t, body: { login: 'bob', password: BOB_PASSWORD } }, { ...V, status: 200 });
  await send("carol's correct password", 'POST', VERIFY, { ...t, body: { login: 'carol@example.com', password: CAROL_PASSWORD } }, { ...V, status: 200 });
  // Stored hashes sent back as passwords (pass-the-hash) and as logins.
  await send("alice's hash as her password", 'POST', VERIFY, { ...t, body: { login: 'alice@example.com', password: hashes.alice } }, { ...V, status: 401, code: 'invalid_credentials' });
  await send("bob's hash as his password", 'POST', VERIFY, { ...t, body: { login: 'bob', password: hashes.bob } }, { ...V, status: 401, code: 'invalid_credentials' });
  await send("carol's hash as her password", 'POST', VERIFY, { ...t, body: { login: 'carol', password: hashes.carol } }, { ...V, status: 401, code: 'invalid_credentials' });
  await send("alice's hash as a login (verify)", 'POST', VERIFY, { ...t, body: { login: hashes.alice, password: PLANTED } }, { ...V, status: 401, code: 'invalid_credentials' });
  await send("alice's hash as a login (lookup)", 'POST', LOOKUP, { ...t, body: { login: hashes.alice } }, { route: LOOKUP, status: 404, code: 'user_not_found' });
  await send("bob's hash as a login (lookup)", 'POST', LOOKUP, { ...t, body: { login: hashes.bob } }, { route: LOOKUP, status: 404, code: 'user_not_found' });
  // Secrets inside requests that fail validation or parsing (error objects carry the raw body).
  await send('planted password in malformed JSON', 'POST', VERIFY, { ...t, body: `{"login":"alice@example.com","password":"${PLANTED}"`, headers: { 'content-type': 'application/json' } }, { ...V, status: 400, code: 'malformed_json' });
  await send('planted password with a NUL', 'POST', VERIFY, { ...t, body: { login: 'alice@example.com', password: `${PLANTED}\u0000` } }, { ...V, status: 400, code: 'invalid_request' });
  await send('planted password too long', 'POST', VERIFY, { ...t, body: { login: 'alice@example.com', password: PLANTED.repeat(200) } }, { ...V, status: 400, code: 'invalid_request' });
  await send('planted password as a number-typed login', 'POST', VERIFY, { ...t, body: { login: 1, password: PLANTED } }, { ...V, status: 400, code: 'invalid_request' });
  await send('planted password with an extra field', 'POST', VERIFY, { ...t, body: { login: 'alice@example.com', password: PLANTED, remember: PLANTED } }, { ...V, status: 400, code: 'invalid_request' });
  await send('hash as password on lookup (extra field)', 'POST', LOOKUP, { ...t, body: { login: 'alice@example.com', password: hashes.alice } }, { route: LOOKUP, status: 400, code: 'invalid_request' });
  await send('planted password, wrong content type', 'POST', VERIFY, { ...t, body: `login=alice%40example.com&password=${PLANTED}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, { ...V, status: 415, code: 'unsupported_media_type' });
  await send('planted password, latin1 charset', 'POST', VERIFY, { ...t, body: JSON.stringify({ login: 'alice@example.com', password: PLANTED }), headers: { 'content-type': 'application/json; charset=latin1' } }, { ...V, status: 415, code: 'unsupported_media_type' });
  await send('planted password in an oversized body', 'POST', VERIFY, { ...t, body: { login: 'alice@example.com', password: PLANTED, pad: 'x'.repeat(20_000) } }, { ...V, status: 413, code: 'payload_too_large' });
  await send('planted password in the query string', 'POST', `${VERIFY}?password=${PLANTED}&login=alice`, { ...t, body: { login: 'alice@example.com', password: PLANTED } }, { ...V, status: 401, code: 'invalid_credentials' });
  // Reads.
  await send('lookup alice', 'POST', LOOKUP, { ...t, body: { login: 'alice@example.com' } }, { route: LOOKUP, status: 200 });
  await send('lookup bob', 'POST', LOOKUP, { ...t, body: { login: 'bob' } }, { route: LOOKUP, status: 200 });
  for (const id of [1, 2, 3, 4, 5]) {
    await send(`GET user ${id}`, 'GET', `/v1/users/legacy%7C${id}`, t, { route: '/v1/users/:user_id', status: 200 });
  }
  // Bearer tokens: garbage, in the query string, in both places, Basic credentials.
  await send('garbage bearer token', 'POST', VERIFY, { token: GARBAGE_TOKEN, body: { login: 'alice@example.com', password: PLANTED } }, { ...V, status: 401, code: 'invalid_token' });
  await send('garbage token, GET user', 'GET', '/v1/users/legacy%7C1', { token: GARBAGE_TOKEN }, { route: '/v1/users/:user_id', status: 401, code: 'invalid_token' });
  await send('valid token as a query string only', 'GET', `/v1/users/legacy%7C1?access_token=${encodeURIComponent(token)}`, {}, { route: '/v1/users/:user_id', status: 401, code: 'invalid_token' }); // tokens travel in the Authorization header only
  await send('valid token in the query string and the header', 'POST', `${VERIFY}?access_token=${encodeURIComponent(token)}`, { token, body: { login: 'alice@example.com', password: PLANTED } }, { ...V, status: 401, code: 'invalid_token' });
  await send('garbage token as a query string', 'GET', `/v1/users/legacy%7C1?access_token=${GARBAGE_TOKEN}`, {}, { route: '/v1/users/:user_id', status: 401, code: 'invalid_token' });
  await send('valid token as a query string on an unknown route', 'GET', `/v1/nope?access_token=${encodeURIComponent(token)}`, {}, { route: 'unmatched', status: 401, code: 'invalid_token' });
  await send('token as a query string on healthz', 'GET', `/healthz?access_token=${encodeURIComponent(token)}&password=${PLANTED}`, {}, { route: '/healthz', status: 200 });
  await send('basic credentials', 'POST', VERIFY, { body: { login: 'alice@example.com', password: PLANTED }, headers: { authorization: `Basic ${BASIC}` } }, { ...V, status: 401, code: 'invalid_token' });
  await send('token without the Bearer scheme', 'GET', '/v1/users/legacy%7C1', { headers: { authorization: token } }, { route: '/v1/users/:user_id', status: 401, code: 'invalid_token' });
  await send('token in a cookie', 'GET', '/v1/users/legacy%7C1', { headers: { cookie: `access_token=${token}; password=${PLANTED}` } }, { route: '/v1/users/:user_id', status: 401, code: 'invalid_token' });
  await send('token in a custom header', 'GET', '/v1/users/legacy%7C1', { token, headers: { 'x-api-key': token, 'x-password': PLANTED } }, { route: '/v1/users/:user_id', status: 200 });
  await send('token in the path', 'GET', `/v1/users/${encodeURIComponent(token)}`, { token }, token.length > 256 ? { route: '/v1/users/:user_id', status: 400, code: 'invalid_request' } : { route: '/v1/users/:user_id', status: 404, code: 'user_not_found' });
  await send('planted password in the path', 'GET', `/v1/users/${PLANTED}`, { token }, { route: '/v1/users/:user_id', status: 404, code: 'user_not_found' });
  await send('metrics', 'GET', '/metrics', {}, { route: '/metrics', status: 200 });
  await send('hash in the path', 'GET', `/v1/users/${encodeURIComponent(hashes.alice)}`, { token }, { route: '/v1/users/:user_id', status: 404, code: 'user_not_found' });
});

test('a request log line per call, with route and status (so the checks below are not vacuous)', async () => {
  assert.ok(sent.length >= 40, `${sent.length} calls made`);
  // The line is written on 'finish', which can land just after the client has its response.
  const deadline = Date.now() + 2000;
  const lineFor = (reqId: string) =>
    gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.msg === 'request' && o.req_id === reqId);
  while (Date.now() < deadline && !sent.every((s) => lineFor(s.reqId).length === 1)) await new Promise((r) => setTimeout(r, 20));
  for (const s of sent) {
    const lines = lineFor(s.reqId);
    assert.equal(lines.length, 1, `${s.what}: exactly one request line for ${s.reqId}, got ${lines.length}`);
    const line = lines[0]!;
    assert.equal(line.level, 30, `${s.what}: info level`);
    assert.equal(line.method, s.method, `${s.what}: method`);
    assert.equal(line.status, s.status, `${s.what}: status`);
    assert.equal(typeof line.route, 'string', `${s.what}: route`);
    assert.equal(typeof line.ms, 'number', `${s.what}: duration`);
  }
  assert.ok(gw.logs.length > sent.length, 'other lines (start-up, decoy) were logged too');
});

// The request line's route (also the metrics label) must be the full mounted route for a matched endpoint,
// whether the handler answered or threw (401/404/400 from inside the route go through the error handler), and also
// when the request was refused before its route ran (a token refused, a body that could not be parsed): the route
// is then found from the method and path in the route table. An unknown path stays "unmatched".
test('the request line names the full route, for successes and errors alike', () => {
  const lines = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.msg === 'request');
  const wrong: string[] = [];
  for (const s of sent) {
    if (!s.route) continue;
    const line = lines.find((o) => o.req_id === s.reqId);
    if (line?.route !== s.route) wrong.push(`${s.what} (${s.status}): route ${JSON.stringify(line?.route)}, expected ${s.route}`);
  }
  assert.deepEqual(wrong, [], `wrong route in ${wrong.length} request line(s):\n${wrong.join('\n')}`);
});

test('no planted secret appears in any log line', () => {
  const all = gw.logs.join('\n');
  assert.ok(all.length > 1000, 'logs were captured');
  for (const [name, value] of secrets()) {
    assert.ok(value.length >= 8, `${name} is distinctive`);
    const hits = gw.logs.filter((l) => l.includes(value));
    assert.deepEqual(hits, [], `${name} appears in ${hits.length} log line(s):\n${hits.join('\n').slice(0, 2000)}`);
    // Also JSON-escaped (a hash or password inside a nested JSON string would be escaped once more).
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) assert.ok(!all.includes(escaped), `${name} appears JSON-escaped in the logs`);
  }
  for (const marker of HASH_MARKERS) assert.ok(!all.includes(marker), `a hash marker ${marker} appears in the logs`);
  assert.ok(!all.includes('access_token'), 'the logs contain a query string (access_token)');
  // The request body, query string, headers and secret-bearing fields are never logged (or only as "[redacted]").
  const forbidden = new Set(['body', 'query', 'headers', 'url', 'originalUrl', 'password', 'hash', 'salt', 'token', 'authorization', 'cookie', 'access_token', 'password_hash']);
  for (const line of gw.logs) {
    const walk = (o: unknown): void => {
      if (!o || typeof o !== 'object') return;
      for (const [k, v] of Object.entries(o)) {
        if (forbidden.has(k)) assert.equal(v, '[redacted]', `log field ${k} is not redacted: ${line}`);
        walk(v);
      }
    };
    walk(JSON.parse(line));
  }
});

test('no log line has error level (no unhandled error on the way)', () => {
  const bad = gw.logs.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
  assert.deepEqual(bad, []);
});

test('no response carries a password hash or a planted secret', () => {
  for (const s of sent) {
    const text = s.res.text;
    for (const marker of HASH_MARKERS) assert.ok(!text.includes(marker), `${s.what}: response contains ${marker}: ${text.slice(0, 300)}`);
    for (const [name, value] of secrets()) {
      assert.ok(!text.includes(value), `${s.what}: response contains ${name}: ${text.slice(0, 300)}`);
    }
    for (const [h, v] of s.res.headers) {
      for (const [name, value] of secrets()) assert.ok(!v.includes(value), `${s.what}: response header ${h} contains ${name}`);
    }
    const body = s.res.json as Record<string, unknown> | undefined;
    if (s.status >= 400) {
      assert.ok(body, `${s.what}: error body is JSON`);
      assert.deepEqual(Object.keys(body).sort(), ['error', 'message'], `${s.what}: error shape`);
    }
  }
});

test('profiles from verify, lookup and GET carry no secret fields', () => {
  const profiles = sent.filter((s) => s.status === 200 && s.res.json?.user).map((s) => [s.what, s.res.json.user as Record<string, unknown>] as const);
  assert.ok(profiles.length >= 8, `${profiles.length} profiles returned`);
  const forbidden = /pass|hash|salt|secret|token|credential|pwd/i;
  for (const [what, p] of profiles) {
    const keys: string[] = [];
    const walk = (o: unknown, prefix: string) => {
      if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) {
        keys.push(`${prefix}${k}`);
        walk(v, `${prefix}${k}.`);
      }
    };
    walk(p, '');
    for (const k of keys) assert.doesNotMatch(k, forbidden, `${what}: profile key ${k}`);
    assert.match(String(p.user_id), /^legacy\|\d+$/, `${what}: user_id`);
  }
  // The three read paths give the same profile for alice (one mapper).
  const alice = profiles.filter(([, p]) => p.user_id === 'legacy|1').map(([, p]) => JSON.stringify(p));
  assert.ok(alice.length >= 3);
  assert.equal(new Set(alice).size, 1, 'verify, lookup and GET give alice the same profile');
});

test('an unexpected error is logged by class only: no message, stack, input value or path', async () => {
  const secretLogin = 'leaky-login-5b2c@example.com';
  const egw = await startTestGateway({
    logLevel: 'trace',
    wrapStore: (s) =>
      wrapStore(s, {
        migrationStatus: () => async () => {
          // What Node's URL parser, a driver or a bug throws: the input value in the message and in a property.
          const e = new TypeError(`Invalid URL: http://x/?access_token=${PLANTED}&login=${secretLogin}`) as TypeError & { input?: string; code?: string };
          e.input = `http://x/?access_token=${PLANTED}`;
          e.code = 'ERR_INVALID_URL';
          throw e;
        },
      }),
  });
  try {
    const t = await egw.token();
    const r = await call(egw.url, 'GET', `/v1/migration/status?login=${secretLogin}`, { token: t });
    assert.equal(r.status, 500);
    assert.deepEqual(r.json, { error: 'internal_error', message: 'Internal error.' });
    await new Promise((res) => setTimeout(res, 50));
    const errors = egw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.level === 50);
    assert.equal(errors.length, 1, egw.logs.join(''));
    const line = errors[0]!;
    assert.equal(line.msg, 'unhandled error');
    assert.equal(line.err_class, 'TypeError');
    assert.equal(line.err_code, 'ERR_INVALID_URL');
    assert.equal(line.route, '/v1/migration/status');
    assert.equal(line.err, undefined, 'the error object itself is not logged');
    const all = egw.logs.join('\n');
    assert.doesNotMatch(all, /"stack"|\\n\s+at /, 'a stack trace reached the logs');
    for (const v of [PLANTED, secretLogin, 'Invalid URL', 'login=', t.split('.')[2]!]) {
      assert.ok(!all.includes(v), `${JSON.stringify(v)} reached the logs`);
    }
  } finally {
    await egw.close();
  }
});

test('the request line\'s logger has no wildcard path, yet still redacts the top-level secret fields; the main logger keeps the wildcards', () => {
  assert.ok(FIXED_LINE_REDACT_PATHS.length > 0);
  assert.ok(FIXED_LINE_REDACT_PATHS.every((p) => !p.includes('*')));
  assert.ok(REDACT_PATHS.some((p) => p.includes('*')));
  const lines: string[] = [];
  const main = createLogger('info', { write: (s: string) => void lines.push(s) });
  const fixed = fixedFieldsLogger(main);
  fixed.info({ route: '/v1/users/lookup', url: `/x?access_token=${PLANTED}`, authorization: `Bearer ${PLANTED}`, password: PLANTED, token: PLANTED }, 'request');
  main.info({ nested: { password: PLANTED, token: PLANTED, url: `/x?${PLANTED}` } }, 'free-form');
  assert.equal(lines.length, 2);
  for (const l of lines) assert.ok(!l.includes(PLANTED), l);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first.route, '/v1/users/lookup');
  assert.equal(first.service, 'legacy-gateway', 'the base fields are kept');
  for (const k of ['url', 'authorization', 'password', 'token']) assert.equal(first[k], '[redacted]');
});

test('limits.redis_url: the start-up line names the shared limiter and never the URL or its password, even when Redis refuses it', async () => {
  // Redis here has no password: AUTH with one fails, and the limiter logs that failure (without the URL).
  const secret = 'r3dis-Pa55word-1c9e';
  const withRedis = await startTestGateway({ config: { limits: { redis_url: `redis://:${secret}@127.0.0.1:6379/0` } } as never });
  try {
    await call(withRedis.url, 'POST', '/v1/credentials/verify', { token: await withRedis.token(), body: { login: 'alice', password: 'x' } });
    const lines = withRedis.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.backend !== undefined);
    assert.equal(lines.length, 1, 'exactly one start-up line');
    assert.equal(lines[0]!.backend, 'redis');
    assert.equal(lines[0]!.policy, 'fail_closed');
    for (const l of withRedis.logs) assert.ok(!l.includes(secret) && !l.includes('6379/0'), `the URL was logged: ${l}`);
  } finally {
    await withRedis.close();
  }
  // The shared gateway of this file has no redis_url: its limiter is in memory.
  assert.ok(gw.logs.some((l) => /"backend":"memory"/.test(l)));
});
