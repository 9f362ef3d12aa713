/**
 * src/http/doors/common.ts: the doors' credential checks (secretEquals, doorAuth) and the verify outcome mapping
 * (attempt), without HTTP.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Request, Response } from 'express';
import { parseConfig } from '../../../../src/config.js';
import { ApiError, invalidCredentials, storeUnavailable } from '../../../../src/errors.js';
import { attempt, doorAuth, secretEquals } from '../../../../src/http/doors/common.js';
import type { Profile } from '../../../../src/profile.js';

const SECRET = 'door-secret-0123456789';
const config = parseConfig({ auth: { issuer: 'https://issuer.example.com/', audience: 'aud' }, store: { adapter: 'sqlite', url: 'x.sqlite', users: { table: 'users', columns: { id: 'id', email: 'email', password: 'p' } } } }, {});

/** Run a door's auth middleware on a request with these headers: undefined (passed) or the error it refused with. */
function run(auth: Parameters<typeof doorAuth>[0], headers: Record<string, string>): ApiError | undefined {
  const [mw] = doorAuth(auth, config);
  const req = { headers, get: (n: string) => headers[n.toLowerCase()], socket: {} } as unknown as Request;
  let out: unknown = 'not called';
  mw!(req, {} as Response, (e?: unknown) => {
    out = e;
  });
  assert.notEqual(out, 'not called', 'the middleware answers synchronously');
  return out as ApiError | undefined;
}

describe('secretEquals', () => {
  test('equal strings only; length differences, prefixes, case and an absent value are all false', () => {
    assert.equal(secretEquals(SECRET, SECRET), true);
    for (const other of [undefined, '', SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase(), ` ${SECRET}`]) assert.equal(secretEquals(other, SECRET), false, String(other));
  });
});

describe('doorAuth', () => {
  test('header: the named header, exact value, any header-name case', () => {
    const auth = { header: { name: 'X-Api-Key', value: SECRET } };
    assert.equal(run(auth, { 'x-api-key': SECRET }), undefined);
    for (const h of <Record<string, string>[]>[{}, { 'x-api-key': `${SECRET} ` }, { authorization: SECRET }]) {
      const e = run(auth, h);
      assert.equal(e?.status, 401);
      assert.equal(e?.code, 'unauthorized');
      assert.match(e!.headers['WWW-Authenticate']!, /X-Api-Key/);
    }
  });

  test('basic: both parts compared; malformed credentials refused', () => {
    const auth = { basic: { username: 'kratos', password: SECRET } };
    const b = (s: string) => ({ authorization: `Basic ${Buffer.from(s).toString('base64')}` });
    assert.equal(run(auth, b(`kratos:${SECRET}`)), undefined);
    assert.equal(run(auth, { authorization: `basic ${Buffer.from(`kratos:${SECRET}`).toString('base64')}` }), undefined, 'the scheme is case-insensitive');
    for (const h of [b(`kratos:${SECRET}x`), b(`Kratos:${SECRET}`), b(`kratos${SECRET}`), b(`:${SECRET}`), { authorization: 'Basic !!!' }, { authorization: `Bearer ${SECRET}` }, {}]) {
      assert.equal(run(auth, h)?.code, 'unauthorized', JSON.stringify(h));
    }
  });

  test('bearer: the static token after "Bearer ", nothing else', () => {
    const auth = { bearer: SECRET };
    assert.equal(run(auth, { authorization: `Bearer ${SECRET}` }), undefined);
    for (const h of <Record<string, string>[]>[{ authorization: SECRET }, { authorization: `Bearer ${SECRET}x` }, { authorization: `Basic ${SECRET}` }, {}]) assert.equal(run(auth, h)?.code, 'unauthorized');
  });

  test('client_cert: refused without a verified TLS client certificate', () => {
    assert.equal(run({ client_cert: { fingerprints_sha256: [] } }, {})?.code, 'unauthorized');
  });
});

describe('attempt', () => {
  const profile = { user_id: 'legacy|1', blocked: false, app_metadata: {}, user_metadata: {} } as Profile;
  test('maps the verify outcomes a door translates; an outage is thrown, not a mismatch', async () => {
    assert.deepEqual(await attempt(async () => profile), { kind: 'match', profile });
    assert.deepEqual(await attempt(async () => { throw invalidCredentials(); }), { kind: 'mismatch' });
    assert.deepEqual(await attempt(async () => { throw new ApiError(403, 'user_blocked', 'x'); }), { kind: 'blocked' });
    assert.deepEqual(await attempt(async () => { throw new ApiError(409, 'ambiguous_login', 'x'); }), { kind: 'ambiguous' });
    assert.deepEqual(await attempt(async () => { throw new ApiError(429, 'too_many_attempts', 'x', { 'Retry-After': '42' }); }), { kind: 'limited', retryAfterS: 42 });
    await assert.rejects(attempt(async () => { throw storeUnavailable(); }), (e: unknown) => e instanceof ApiError && e.code === 'store_unavailable');
    await assert.rejects(attempt(async () => { throw new ApiError(503, 'deadline_exceeded', 'x'); }), (e: unknown) => e instanceof ApiError && e.code === 'deadline_exceeded');
  });
});
