/**
 * src/http/doors/common.ts: the doors' credential checks (secretEquals, doorAuth) and the verify outcome mapping
 * (attempt), without HTTP.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, mock, test } from 'node:test';
import type { Request, Response } from 'express';
import { ConfigError, parseConfig } from '../../../../src/config.js';
import { ApiError, invalidCredentials, storeUnavailable } from '../../../../src/errors.js';
import { attempt, doorAuth, doorClientId, field, secretEquals, secretMatcher, valueAt } from '../../../../src/http/doors/common.js';
import { loginSchema } from '../../../../src/routes.js';
import type { Profile } from '../../../../src/profile.js';

const SECRET = 'door-secret-0123456789';
const STORE = { adapter: 'sqlite', url: 'x.sqlite', users: { table: 'users', columns: { id: 'id', email: 'email', password: 'p' } } };
const config = parseConfig({ auth: { issuer: 'https://issuer.example.com/', audience: 'aud' }, store: STORE }, {});

/**
 * Run fn with crypto.timingSafeEqual and crypto.createHash watched (the real ones still run): how many constant-time
 * comparisons and how many hashes it made.
 */
function watched<T>(fn: () => T): { result: T; compares: number; hashes: number } {
  const compare = mock.method(crypto, 'timingSafeEqual');
  const hash = mock.method(crypto, 'createHash');
  try {
    const result = fn();
    return { result, compares: compare.mock.callCount(), hashes: hash.mock.callCount() };
  } finally {
    compare.mock.restore();
    hash.mock.restore();
  }
}

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

  test('every answer comes from one constant-time comparison (timingSafeEqual), equal or not, whatever the lengths', () => {
    for (const given of [SECRET, undefined, '', 'x', SECRET.slice(0, -1), `${SECRET}x`, 'y'.repeat(1000)]) {
      const w = watched(() => secretEquals(given, SECRET));
      assert.equal(w.result, given === SECRET, String(given));
      assert.equal(w.compares, 1, `${String(given)}: compared with timingSafeEqual`);
    }
  });
});

describe('secretMatcher', () => {
  test('the expected secret is hashed once, when the matcher is built; each check hashes only the given value', () => {
    const built = watched(() => secretMatcher(SECRET));
    assert.equal(built.hashes, 1, 'one hash when built');
    assert.equal(built.compares, 0);
    const matches = built.result;
    for (const [given, want] of [[SECRET, true], [`${SECRET}x`, false], [undefined, false], ['', false]] as const) {
      const w = watched(() => matches(given));
      assert.equal(w.result, want, String(given));
      assert.equal(w.hashes, 1, `${String(given)}: one hash per check`);
      assert.equal(w.compares, 1, `${String(given)}: one constant-time comparison per check`);
    }
  });

  test('an empty expected secret still refuses an absent value', () => {
    assert.equal(secretMatcher('')(undefined), false);
    assert.equal(secretMatcher('')(''), true);
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

  test('basic: both parts are compared in constant time on every request, whichever is wrong, or with no credential at all', () => {
    const auth = { basic: { username: 'kratos', password: SECRET } };
    const b = (s: string) => ({ authorization: `Basic ${Buffer.from(s).toString('base64')}` });
    const cases: [Record<string, string>, boolean][] = [
      [b(`kratos:${SECRET}`), true],
      [b(`Kratos:${SECRET}`), false],
      [b(`kratos:${SECRET}x`), false],
      [b(`other:other`), false],
      [b(`kratos${SECRET}`), false],
      [{ authorization: 'Basic !!!' }, false],
      [{}, false],
    ];
    for (const [h, ok] of cases) {
      const w = watched(() => run(auth, h));
      assert.equal(w.result === undefined, ok, JSON.stringify(h));
      assert.equal(w.compares, 2, `${JSON.stringify(h)}: the username and the password are both compared`);
    }
  });

  test('header, basic, bearer: the configured secret is hashed when the door is built, not again per request', () => {
    const b = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    const cases: [Parameters<typeof doorAuth>[0], Record<string, string>, number][] = [
      [{ header: { name: 'X-Api-Key', value: SECRET } }, { 'x-api-key': SECRET }, 1],
      [{ basic: { username: 'kratos', password: SECRET } }, { authorization: b(`kratos:${SECRET}`) }, 2],
      [{ bearer: SECRET }, { authorization: `Bearer ${SECRET}` }, 1],
    ];
    for (const [auth, headers, parts] of cases) {
      const [mw] = watched(() => doorAuth(auth, config)).result;
      const req = { headers, get: (n: string) => headers[n.toLowerCase()], socket: {} } as unknown as Request;
      const w = watched(() => mw!(req, {} as Response, () => undefined));
      assert.equal(w.hashes, parts, `${Object.keys(auth)[0]}: only the given value(s) hashed per request`);
    }
  });

  test('jwt: the clients allow-list reads azp, client_id, sub "<id>@clients", Okta\'s cid and a v1 appid', () => {
    assert.equal(doorClientId({ azp: 'a', cid: 'b' }), 'a');
    assert.equal(doorClientId({ client_id: 'c' }), 'c');
    assert.equal(doorClientId({ sub: 'd@clients' }), 'd');
    assert.equal(doorClientId({ sub: '0oa1', cid: '0oa1' }), '0oa1');
    assert.equal(doorClientId({ appid: 'e' }), 'e');
    assert.equal(doorClientId({ sub: 'user-1' }), undefined);
    const jwt = { issuer: 'https://okta.example.com/oauth2/default', audience: 'api://hook', allow_insecure_http: false };
    assert.equal(doorAuth({ jwt: { ...jwt, clients: [] } }, config).length, 2, 'no list: the token check only');
    const chain = doorAuth({ jwt: { ...jwt, clients: ['0oa1hookclient'] } }, config);
    assert.equal(chain.length, 3, 'with a list: the token check, then the client check');
    const client = chain[2]!;
    const runClient = (payload: Record<string, unknown>) => {
      let out: unknown = 'not called';
      client({ auth: { payload } } as unknown as Request, {} as Response, (e?: unknown) => (out = e));
      return out as ApiError | undefined;
    };
    assert.equal(runClient({ cid: '0oa1hookclient', sub: '0oa1hookclient' }), undefined);
    assert.equal(runClient({ azp: '0oa1hookclient' }), undefined);
    for (const payload of [{ azp: 'another-app' }, { cid: 'another-app' }, { sub: 'end-user' }, {}]) {
      const e = runClient(payload);
      assert.equal(e?.status, 401, JSON.stringify(payload));
      assert.equal(e?.code, 'invalid_token');
      assert.match(e!.headers['WWW-Authenticate']!, /^Bearer realm="legacy-gateway", error="invalid_token"$/);
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

describe('front_doors jwt and the /v1 API token (config)', () => {
  const parse = (front_doors: Record<string, unknown>, auth: Record<string, unknown> = { issuer: 'https://issuer.example.com/', audience: 'https://api.example.com' }) =>
    parseConfig({ auth, store: STORE, front_doors }, {});
  const problems = (front_doors: Record<string, unknown>, auth?: Record<string, unknown>): string[] => {
    try {
      parse(front_doors, auth);
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.problems;
    }
    return [];
  };
  const jwt = (issuer: string, audience: string | string[]) => ({ jwt: { issuer, audience } });

  test("a door jwt with the API's issuer and one of its audiences is refused, naming the path: a /v1 token could never open it", () => {
    const p = problems({ kratos: { auth: jwt('https://issuer.example.com/', 'https://api.example.com') } });
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /^front_doors\.kratos\.auth\.jwt\.audience: must differ from auth\.audience for the same issuer/);
    // A trailing slash more or less is the same issuer; one shared audience of a list is enough.
    assert.match(problems({ keycloak: { auth: jwt('https://issuer.example.com', ['api://door', 'https://api.example.com']) } })[0] ?? '', /^front_doors\.keycloak\.auth\.jwt\.audience:/);
    assert.match(
      problems({ okta: { auth: jwt('https://issuer.example.com/', 'api://door'), events: { auth: jwt('https://issuer.example.com/', 'api://b') } } }, { issuer: 'https://issuer.example.com/', audience: ['api://b', 'api://c'] })[0] ?? '',
      /^front_doors\.okta\.events\.auth\.jwt\.audience:/,
    );
    const entra = problems({ entra: { auth: jwt('https://issuer.example.com/', 'https://api.example.com'), decryption_key_file: 'k.pem' } });
    assert.match(entra[0] ?? '', /^front_doors\.entra\.auth\.jwt\.audience:/);
  });

  test('its own audience at the same issuer, or the same audience at another issuer, is accepted', () => {
    assert.doesNotThrow(() => parse({ kratos: { auth: jwt('https://issuer.example.com/', 'api://legacy-gateway-door') } }));
    assert.doesNotThrow(() => parse({ kratos: { auth: jwt('https://login.example.net/tenant/v2.0', 'https://api.example.com') } }));
    const c = parse({ kratos: { auth: { jwt: { issuer: 'https://issuer.example.com/', audience: 'api://door', clients: ['door-client'] } } } });
    const auth = c.front_doors.kratos!.auth;
    assert.ok('jwt' in auth);
    assert.deepEqual(auth.jwt.clients, ['door-client']);
    const none = parse({ kratos: { auth: jwt('https://issuer.example.com/', 'api://door') } }).front_doors.kratos!.auth;
    assert.ok('jwt' in none);
    assert.deepEqual(none.jwt.clients, [], 'clients defaults to none listed');
  });
});

describe('valueAt / field', () => {
  test('a dotted path through objects only; field names the path in its 400', () => {
    const body = { data: { user: { mail: 'a@example.com' }, list: [{ x: 1 }] } };
    assert.equal(valueAt(body, 'data.user.mail'), 'a@example.com');
    assert.equal(valueAt(body, 'data.list.0'), undefined, 'arrays are not walked');
    assert.equal(valueAt(body, 'data.nope.mail'), undefined);
    assert.equal(valueAt(null, 'a'), undefined);
    assert.equal(field(loginSchema, body, 'data.user.mail'), 'a@example.com');
    assert.throws(() => field(loginSchema, body, 'data.user.upn'), (e: unknown) => e instanceof ApiError && e.status === 400 && e.message === 'data.user.upn: required');
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
