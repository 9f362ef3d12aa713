/**
 * openapi.yaml describes exactly what the code does.
 *
 * 1. The document itself: OpenAPI 3.1.0, every schema a valid JSON Schema 2020-12 that compiles, every example valid,
 *    the error-code enum and the scopes identical to the code's.
 * 2. The real app (startTestGateway, real tokens) is driven through every operation's success and error cases, and
 *    every response is validated against the spec: the status must be documented for that operation, the JSON body
 *    must match the documented schema, the documented headers must be there.
 * 3. Drift: the routes the code registers are exactly the spec's operations, and every documented (operation, status)
 *    pair was actually produced by the app during this file's run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StoreError, type UserStore } from '../../adapters/types.js';
import { createApp } from '../../src/app.js';
import { SCOPES } from '../../src/auth.js';
import type { CallerGateway, Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import { v1Routes } from '../../src/routes.js';
import { call, startTestGateway, TEST_USERS, type ApiResponse, type TestGateway } from '../helpers/harness.js';
import {
  ajv, assertMatchesSpec, covered, coverageKey, deref, expectSpec, findOperation, operations, raw, resolvePointer, ROOT, schemaErrors, spec,
  SPEC_ID, validatorFor, type Json, type Operation, type Res,
} from '../helpers/openapi.js';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

const ALICE = { login: 'alice', password: 'correct horse battery staple' };
const ALL_SCOPES: string[] = Object.values(SCOPES);

/** One representative, successful request per /v1 operation (by operationId), against the TEST_USERS store. */
const SUCCESS: Record<string, { path: string; body?: Json }> = {
  verifyCredentials: { path: '/v1/credentials/verify', body: ALICE },
  lookupUser: { path: '/v1/users/lookup', body: { login: 'bob' } },
  getUser: { path: '/v1/users/legacy%7C2' },
  markMigrated: { path: '/v1/users/legacy%7C3/migration' },
  unmarkMigrated: { path: '/v1/users/legacy%7C3/migration' }, // runs after markMigrated: undoes it
  migrationStatus: { path: '/v1/migration/status' },
};

/** The API's own operations: everything but the IdP front doors (/v1/idp/..., tested by test/http/doors/). */
function apiOperations(): Operation[] {
  return operations().filter((o) => !o.template.startsWith('/v1/idp/'));
}

function v1Operations(): Operation[] {
  return apiOperations().filter((o) => o.template.startsWith('/v1/'));
}

function fixture(o: Operation): { path: string; body?: Json } {
  const f = SUCCESS[o.op.operationId];
  assert.ok(f, `no test fixture for operation ${o.op.operationId} (${o.method} ${o.template}): add one to SUCCESS`);
  return f;
}

function successStatus(o: Operation): number {
  const ok = Object.keys(o.op.responses).filter((s) => s.startsWith('2'));
  assert.equal(ok.length, 1, `${o.method} ${o.template}: expected exactly one documented 2xx, got ${ok.join(', ')}`);
  return Number(ok[0]);
}

/** Send a fixture (JSON body if any) with raw(), so GETs with bodies work too. */
function send(gw: TestGateway, o: Operation, opts: { token?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const f = fixture(o);
  const body = opts.body ?? (f.body !== undefined ? JSON.stringify(f.body) : undefined);
  const headers = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) };
  return raw(gw.url, o.method, f.path, { ...(opts.token !== undefined ? { token: opts.token } : {}), ...(body !== undefined ? { body } : {}), headers });
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The document

describe('openapi.yaml: the document', () => {
  test('is OpenAPI 3.1.0 with an info.description saying what the gateway is and who calls it', () => {
    assert.equal(spec.openapi, '3.1.0');
    assert.equal(typeof spec.info?.title, 'string');
    assert.equal(typeof spec.info?.version, 'string');
    const d: string = spec.info.description;
    for (const words of [/legacy user store/i, /login script/i, /get_user script/i, /post-login action/i]) assert.match(d, words);
  });

  test('every operation has a unique operationId, a summary, and documented responses; every $ref resolves', () => {
    const ids = new Set<string>();
    for (const o of operations()) {
      assert.equal(typeof o.op.operationId, 'string', `${o.method} ${o.template}: operationId`);
      assert.ok(!ids.has(o.op.operationId), `duplicate operationId ${o.op.operationId}`);
      ids.add(o.op.operationId);
      assert.equal(typeof o.op.summary, 'string', `${o.method} ${o.template}: summary`);
      assert.ok(Object.keys(o.op.responses ?? {}).length > 0, `${o.method} ${o.template}: no responses`);
      assert.equal(o.op.responses.default, undefined, `${o.method} ${o.template}: a "default" response hides undocumented statuses`);
      for (const [status, resp] of Object.entries<Json>(o.op.responses)) {
        assert.match(status, /^[1-5]\d\d$/, `${o.method} ${o.template}: status key ${status}`);
        assert.equal(typeof deref(resp).description, 'string', `${o.method} ${o.template} ${status}: response description`);
      }
    }
    assert.equal(apiOperations().length, 9, 'nine operations outside the IdP front doors');
    // Every $ref anywhere in the document resolves.
    const walk = (node: Json): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (!node || typeof node !== 'object') return;
      if (typeof node.$ref === 'string') resolvePointer(node.$ref);
      Object.values(node).forEach(walk);
    };
    walk(spec);
  });

  test('every components.schemas entry is a valid JSON Schema 2020-12 and compiles', () => {
    const names = Object.keys(spec.components.schemas);
    for (const n of ['Error', 'ErrorCode', 'Profile', 'VerifyRequest', 'LookupRequest', 'MigrationStatus', 'MigrationMark']) assert.ok(names.includes(n), `components.schemas.${n}`);
    for (const name of names) {
      const schema = spec.components.schemas[name];
      assert.equal(ajv.validateSchema(schema), true, `components.schemas.${name} is not a valid JSON Schema: ${ajv.errorsText(ajv.errors)}`);
      assert.doesNotThrow(() => ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/${name}` }), `components.schemas.${name} does not compile`);
    }
  });

  test('every example in the document validates against its schema', () => {
    let n = 0;
    const checkMedia = (where: string, media: Json) => {
      if (!media?.schema) return;
      const values: [string, unknown][] = [];
      if ('example' in media) values.push(['example', media.example]);
      for (const [k, ex] of Object.entries<Json>(media.examples ?? {})) values.push([k, deref(ex).value]);
      for (const [k, v] of values) {
        const err = schemaErrors(media.schema, v);
        assert.equal(err, null, `${where} example ${k}: ${err}`);
        n++;
      }
    };
    const checkResponse = (where: string, resp: Json) => {
      const r = deref(resp);
      for (const [mt, media] of Object.entries<Json>(r.content ?? {})) checkMedia(`${where} ${mt}`, media);
      for (const [name, h] of Object.entries<Json>(r.headers ?? {})) {
        const header = deref(h);
        if ('example' in header && header.schema) {
          assert.equal(schemaErrors(header.schema, header.example), null, `${where} header ${name} example`);
          n++;
        }
      }
    };
    for (const o of operations()) {
      for (const [mt, media] of Object.entries<Json>(o.op.requestBody?.content ?? {})) checkMedia(`${o.method} ${o.template} request ${mt}`, media);
      for (const [s, resp] of Object.entries<Json>(o.op.responses)) checkResponse(`${o.method} ${o.template} ${s}`, resp);
    }
    for (const [name, resp] of Object.entries<Json>(spec.components.responses)) checkResponse(`components.responses.${name}`, resp);
    for (const [name, schema] of Object.entries<Json>(spec.components.schemas)) {
      for (const v of schema.examples ?? []) {
        assert.equal(schemaErrors({ $ref: `#/components/schemas/${name}` }, v), null, `components.schemas.${name} example ${JSON.stringify(v)}`);
        n++;
      }
    }
    for (const [name, p] of Object.entries<Json>(spec.components.parameters)) {
      for (const [k, ex] of Object.entries<Json>(p.examples ?? {})) {
        assert.equal(schemaErrors(p.schema, ex.value), null, `components.parameters.${name} example ${k}`);
        n++;
      }
    }
    assert.ok(n >= 30, `expected plenty of examples, validated ${n}`);
  });

  test('the ErrorCode enum is exactly the ErrorCode union in src/errors.ts', () => {
    const src = readFileSync(path.join(ROOT, 'src', 'errors.ts'), 'utf8');
    const union = /export type ErrorCode =([^;]+);/.exec(src);
    assert.ok(union, 'export type ErrorCode = ...; not found in src/errors.ts');
    const codes = [...union[1]!.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    assert.ok(codes.length >= 10);
    assert.deepEqual([...spec.components.schemas.ErrorCode.enum].sort(), [...codes].sort());
    assert.deepEqual(spec.components.schemas.Error.properties.error, { $ref: '#/components/schemas/ErrorCode' });
    assert.deepEqual(spec.components.schemas.Error.required, ['error', 'message']);
  });

  test('security: bearer JWT + oauth2 client credentials with the code\'s four scopes; one scope per /v1 operation; health and metrics open', () => {
    const schemes = spec.components.securitySchemes;
    assert.deepEqual({ type: schemes.bearerAuth.type, scheme: schemes.bearerAuth.scheme, bearerFormat: schemes.bearerAuth.bearerFormat }, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    assert.equal(schemes.oauth2.type, 'oauth2');
    assert.deepEqual(Object.keys(schemes.oauth2.flows), ['clientCredentials']);
    assert.deepEqual(Object.keys(schemes.oauth2.flows.clientCredentials.scopes).sort(), [...ALL_SCOPES].sort());
    for (const o of apiOperations()) {
      if (o.template.startsWith('/v1/')) {
        const scope = o.op['x-required-scope'];
        assert.ok(ALL_SCOPES.includes(scope), `${o.method} ${o.template}: x-required-scope ${scope}`);
        assert.deepEqual(o.op.security, [{ bearerAuth: [scope] }, { oauth2: [scope] }], `${o.method} ${o.template}: security`);
        assert.match(o.op.description, new RegExp(`\`${scope}\``), `${o.method} ${o.template}: description names the scope`);
        for (const s of ['401', '403', '500']) assert.ok(o.op.responses[s], `${o.method} ${o.template}: documents ${s}`);
      } else {
        assert.deepEqual(o.op.security, [], `${o.method} ${o.template} is unauthenticated`);
      }
    }
  });

  test('request bodies: strict objects with the limits of src/routes.ts', () => {
    const verify = spec.components.schemas.VerifyRequest;
    const login = spec.components.schemas.Login;
    assert.equal(verify.additionalProperties, false);
    assert.deepEqual(verify.required, ['login', 'password']);
    assert.equal(spec.components.schemas.LookupRequest.additionalProperties, false);
    assert.deepEqual(spec.components.schemas.LookupRequest.required, ['login']);
    assert.deepEqual([login.minLength, login.maxLength], [1, 320]);
    assert.deepEqual([verify.properties.password.minLength, verify.properties.password.maxLength], [1, 1024]);
    const ok = (s: string, v: unknown) => schemaErrors({ $ref: `#/components/schemas/${s}` }, v) === null;
    assert.ok(ok('VerifyRequest', { login: 'a'.repeat(320), password: 'p'.repeat(1024) }));
    assert.ok(!ok('VerifyRequest', { login: 'a'.repeat(321), password: 'p' }));
    assert.ok(!ok('VerifyRequest', { login: 'a', password: 'p'.repeat(1025) }));
    assert.ok(!ok('VerifyRequest', { login: 'a\u0000b', password: 'p' }));
    assert.ok(!ok('VerifyRequest', { login: 'a', password: 'p\u0000' }));
    assert.ok(!ok('VerifyRequest', { login: '   ', password: 'p' }));
    assert.ok(!ok('VerifyRequest', { login: 'a', password: '' }));
    assert.ok(!ok('VerifyRequest', { login: 'a' }));
    assert.ok(!ok('LookupRequest', { login: 'a', extra: 1 }));
    const post = (p: string) => spec.paths[p].post.requestBody;
    for (const p of ['/v1/credentials/verify', '/v1/users/lookup']) {
      assert.equal(post(p).required, true);
      assert.deepEqual(Object.keys(post(p).content), ['application/json']);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. The real app, validated against the spec

let gw: TestGateway;
let token: string;
before(async () => {
  gw = await startTestGateway({ logLevel: 'warn' });
  token = await gw.token();
});
after(async () => gw?.close());

async function api(method: string, p: string, opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiResponse> {
  const t = opts.token === null ? undefined : (opts.token ?? token);
  return call(gw.url, method, p, { ...(t ? { token: t } : {}), ...(opts.body !== undefined ? { body: opts.body } : {}), ...(opts.headers ? { headers: opts.headers } : {}) });
}

describe('live: POST /v1/credentials/verify', () => {
  const P = '/v1/credentials/verify';
  test('200: the profile, with only the fields the legacy row has', async () => {
    const body = expectSpec('POST', P, await api('POST', P, { body: ALICE }), 200);
    assert.deepEqual(body.user, {
      user_id: 'legacy|1', email: 'alice@example.com', email_verified: true, username: 'alice', name: 'Alice Doe',
      given_name: 'Alice', family_name: 'Doe', blocked: false, app_metadata: { plan: 'gold' }, user_metadata: { locale: 'en' },
    });
    const byEmail = expectSpec('POST', P, await api('POST', P, { body: { login: '  ALICE@example.com ', password: ALICE.password } }), 200);
    assert.deepEqual(byEmail, body);
  });

  test('401 invalid_credentials: wrong password and unknown login, same body, no WWW-Authenticate', async () => {
    const wrong = await api('POST', P, { body: { login: 'alice', password: 'wrong' } });
    const unknown = await api('POST', P, { body: { login: 'nobody@example.com', password: 'wrong' } });
    expectSpec('POST', P, wrong, 401, 'invalid_credentials');
    expectSpec('POST', P, unknown, 401, 'invalid_credentials');
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.headers.get('www-authenticate'), null);
  });

  test('403 user_blocked after the right password; a wrong one stays 401', async () => {
    expectSpec('POST', P, await api('POST', P, { body: { login: 'dave', password: 'dave-was-disabled' } }), 403, 'user_blocked');
    expectSpec('POST', P, await api('POST', P, { body: { login: 'dave', password: 'nope' } }), 401, 'invalid_credentials');
  });

  test('409 ambiguous_login', async () => {
    expectSpec('POST', P, await api('POST', P, { body: { login: 'dup@example.com', password: 'dup-one-pass' } }), 409, 'ambiguous_login');
  });

  test('400 invalid_request and malformed_json', async () => {
    expectSpec('POST', P, await api('POST', P, { body: { login: 'alice' } }), 400, 'invalid_request');
    expectSpec('POST', P, await api('POST', P, { body: { ...ALICE, extra: true } }), 400, 'invalid_request');
    expectSpec('POST', P, await api('POST', P, { body: [ALICE] }), 400, 'invalid_request');
    expectSpec('POST', P, await api('POST', P, { body: { login: 'a\u0000', password: 'x' } }), 400, 'invalid_request');
    expectSpec('POST', P, await api('POST', P, { body: '{"login": ', headers: { 'content-type': 'application/json' } }), 400, 'malformed_json');
  });

  test('401 invalid_token (no token, a garbage token) with WWW-Authenticate; 403 insufficient_scope', async () => {
    const none = expectSpec('POST', P, await api('POST', P, { token: null, body: ALICE }), 401, 'invalid_token');
    assert.equal(none.message, 'A bearer token is required.');
    const bad = await api('POST', P, { token: 'not-a-jwt', body: ALICE });
    expectSpec('POST', P, bad, 401, 'invalid_token');
    assert.match(bad.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    // Only the Authorization header carries tokens: ?access_token= is refused, even with a valid token.
    const inUrl = `${P}?access_token=${encodeURIComponent(token)}`;
    expectSpec('POST', inUrl, await api('POST', inUrl, { token: null, body: ALICE }), 401, 'invalid_token');
    expectSpec('POST', inUrl, await api('POST', inUrl, { body: ALICE }), 401, 'invalid_token');
    const scoped = await api('POST', P, { token: await gw.token('read:users migrate:users read:migration'), body: ALICE });
    expectSpec('POST', P, scoped, 403, 'insufficient_scope');
    assert.match(scoped.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  });

  test('415 unsupported_media_type (not JSON) and 413 payload_too_large', async () => {
    expectSpec('POST', P, await api('POST', P, { body: 'login=alice&password=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    expectSpec('POST', P, await api('POST', P, { body: Buffer.from(JSON.stringify(ALICE)) }), 415, 'unsupported_media_type'); // no content-type
    expectSpec('POST', P, await api('POST', P, { body: { login: 'alice', password: 'p'.repeat(40_000) } }), 413, 'payload_too_large');
  });

  test('the spec and the code accept and reject the same bodies', async () => {
    const cases: [Json, boolean][] = [
      [{ login: 'a'.repeat(320), password: 'x' }, true],
      [{ login: 'a'.repeat(321), password: 'x' }, false],
      [{ login: 'nobody', password: 'p'.repeat(1024) }, true],
      [{ login: 'nobody', password: 'p'.repeat(1025) }, false],
      [{ login: '', password: 'x' }, false],
      [{ login: ' \t ', password: 'x' }, false],
      [{ login: 'nobody', password: '' }, false],
      [{ login: 'nobody', password: 'x\u0000' }, false],
      [{ login: 42, password: 'x' }, false],
      [{ login: 'nobody', password: 'x', x: 1 }, false],
    ];
    for (const [body, valid] of cases) {
      assert.equal(schemaErrors({ $ref: '#/components/schemas/VerifyRequest' }, body) === null, valid, `spec on ${JSON.stringify(body).slice(0, 80)}`);
      const r = await api('POST', P, { body });
      expectSpec('POST', P, r, valid ? 401 : 400, valid ? 'invalid_credentials' : 'invalid_request');
    }
  });
});

describe('live: POST /v1/users/lookup', () => {
  const P = '/v1/users/lookup';
  test('200: the same profile verify returns', async () => {
    const looked = expectSpec('POST', P, await api('POST', P, { body: { login: 'Alice@Example.com' } }), 200);
    const verified = expectSpec('POST', '/v1/credentials/verify', await api('POST', '/v1/credentials/verify', { body: ALICE }), 200);
    assert.deepEqual(looked, verified);
  });
  test('404 user_not_found, 409 ambiguous_login, 400, 415', async () => {
    expectSpec('POST', P, await api('POST', P, { body: { login: 'nobody@example.com' } }), 404, 'user_not_found');
    expectSpec('POST', P, await api('POST', P, { body: { login: 'DUP@example.com' } }), 409, 'ambiguous_login');
    expectSpec('POST', P, await api('POST', P, { body: { login: '   ' } }), 400, 'invalid_request');
    expectSpec('POST', P, await api('POST', P, { body: { login: 'bob', password: 'x' } }), 400, 'invalid_request');
    expectSpec('POST', P, await api('POST', P, { body: 'bob', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  });
  test('401 and 403 token errors', async () => {
    expectSpec('POST', P, await api('POST', P, { token: null, body: { login: 'bob' } }), 401, 'invalid_token');
    expectSpec('POST', P, await api('POST', P, { token: await gw.token('verify:credentials'), body: { login: 'bob' } }), 403, 'insufficient_scope');
  });
  test('the spec and the code accept and reject the same bodies', async () => {
    const cases: [Json, boolean][] = [
      [{ login: 'n'.repeat(320) }, true],
      [{ login: 'n'.repeat(321) }, false],
      [{ login: 'no\u0000body' }, false],
      [{ login: '\u00a0\u2003\n' }, false], // only whitespace, as String.prototype.trim sees it
      [{ login: ' nobody ' }, true],
      [{ login: null }, false],
      [{}, false],
    ];
    for (const [body, valid] of cases) {
      assert.equal(schemaErrors({ $ref: '#/components/schemas/LookupRequest' }, body) === null, valid, `spec on ${JSON.stringify(body).slice(0, 80)}`);
      expectSpec('POST', P, await api('POST', P, { body }), valid ? 404 : 400, valid ? 'user_not_found' : 'invalid_request');
    }
  });
});

describe('live: GET /v1/users/{user_id}', () => {
  test('200: full and minimal profiles (absent values omitted)', async () => {
    const alice = expectSpec('GET', '/v1/users/legacy%7C1', await api('GET', '/v1/users/legacy%7C1'), 200);
    assert.equal(alice.user.user_id, 'legacy|1');
    const erin = expectSpec('GET', '/v1/users/legacy%7C5', await api('GET', '/v1/users/legacy%7C5'), 200);
    assert.deepEqual(erin.user, { user_id: 'legacy|5', username: 'erin', name: 'Erin', blocked: false, app_metadata: {}, user_metadata: {} });
  });
  test('404 user_not_found (unknown id, id without the prefix), 400 (too long, NUL)', async () => {
    expectSpec('GET', '/v1/users/legacy%7C999', await api('GET', '/v1/users/legacy%7C999'), 404, 'user_not_found');
    expectSpec('GET', '/v1/users/1', await api('GET', '/v1/users/1'), 404, 'user_not_found');
    const long = `/v1/users/${'x'.repeat(257)}`;
    expectSpec('GET', long, await api('GET', long), 400, 'invalid_request');
    expectSpec('GET', '/v1/users/legacy%7C%00', await api('GET', '/v1/users/legacy%7C%00'), 400, 'invalid_request');
  });
  test('401 and 403 token errors', async () => {
    expectSpec('GET', '/v1/users/legacy%7C1', await api('GET', '/v1/users/legacy%7C1', { token: null }), 401, 'invalid_token');
    expectSpec('GET', '/v1/users/legacy%7C1', await api('GET', '/v1/users/legacy%7C1', { token: await gw.token('verify:credentials migrate:users') }), 403, 'insufficient_scope');
  });
});

describe('live: PUT and DELETE /v1/users/{user_id}/migration, GET /v1/migration/status', () => {
  const M = '/v1/users/legacy%7C5/migration';
  const S = '/v1/migration/status';
  test('status before: every test user, none migrated', async () => {
    const s = expectSpec('GET', S, await api('GET', S), 200);
    assert.deepEqual({ total: s.total, migrated: s.migrated, remaining: s.remaining, percent_migrated: s.percent_migrated }, { total: TEST_USERS.length, migrated: 0, remaining: TEST_USERS.length, percent_migrated: 0 });
  });
  test('PUT 200, idempotent; the user disappears from get and lookup; status counts it', async () => {
    const first = expectSpec('PUT', M, await api('PUT', M), 200);
    assert.equal(first.user_id, 'legacy|5');
    const again = expectSpec('PUT', M, await api('PUT', M), 200);
    assert.equal(again.migrated_at, first.migrated_at);
    expectSpec('GET', '/v1/users/legacy%7C5', await api('GET', '/v1/users/legacy%7C5'), 404, 'user_not_found');
    expectSpec('POST', '/v1/users/lookup', await api('POST', '/v1/users/lookup', { body: { login: 'erin' } }), 404, 'user_not_found');
    const s = expectSpec('GET', S, await api('GET', S), 200);
    assert.equal(s.migrated, 1);
    assert.equal(s.remaining, s.total - 1);
    assert.equal(s.percent_migrated, Math.round((1 / s.total) * 10_000) / 100);
  });
  test('DELETE 204 with no body; the user is back', async () => {
    expectSpec('DELETE', M, await api('DELETE', M), 204);
    expectSpec('GET', '/v1/users/legacy%7C5', await api('GET', '/v1/users/legacy%7C5'), 200);
    expectSpec('DELETE', M, await api('DELETE', M), 204); // not marked: still 204
    assert.equal(expectSpec('GET', S, await api('GET', S), 200).migrated, 0);
  });
  test('404 user_not_found for an unknown user; 400 for a bad id; token errors', async () => {
    const U = '/v1/users/legacy%7C999/migration';
    expectSpec('PUT', U, await api('PUT', U), 404, 'user_not_found');
    expectSpec('DELETE', U, await api('DELETE', U), 404, 'user_not_found');
    const long = `/v1/users/${'x'.repeat(300)}/migration`;
    expectSpec('PUT', long, await api('PUT', long), 400, 'invalid_request');
    expectSpec('DELETE', long, await api('DELETE', long), 400, 'invalid_request');
    expectSpec('PUT', M, await api('PUT', M, { token: null }), 401, 'invalid_token');
    expectSpec('DELETE', M, await api('DELETE', M, { token: await gw.token('read:users read:migration') }), 403, 'insufficient_scope');
    expectSpec('GET', S, await api('GET', S, { token: await gw.token('migrate:users') }), 403, 'insufficient_scope');
  });
});

describe('live: /healthz, /readyz, /metrics', () => {
  test('healthz and readyz: 200 without a token', async () => {
    assert.deepEqual(expectSpec('GET', '/healthz', await api('GET', '/healthz', { token: null }), 200), { status: 'ok' });
    assert.deepEqual(expectSpec('GET', '/readyz', await api('GET', '/readyz', { token: null }), 200), { status: 'ready' });
  });
  test('metrics: 200 text/plain in the Prometheus format without a token', async () => {
    const r = await api('GET', '/metrics', { token: null });
    const text: string = expectSpec('GET', '/metrics', r, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(text, /^# HELP legacy_gateway_http_requests_total /m);
    assert.match(text, /^# TYPE legacy_gateway_verify_total counter$/m);
    assert.match(text, /^legacy_gateway_verify_total\{outcome="match"\} [1-9]/m);
  });
  test('X-Request-Id: echoed (sanitized) or generated', async () => {
    const echoed = await api('GET', '/healthz', { token: null, headers: { 'x-request-id': 'abc-123 <script>' } });
    expectSpec('GET', '/healthz', echoed, 200);
    assert.equal(echoed.headers.get('x-request-id'), 'abc-123script');
    const generated = await api('GET', '/healthz', { token: null });
    assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });
});

describe('live: every /v1 operation, the same error matrix', () => {
  for (const o of v1Operations()) {
    test(`${o.method} ${o.template}: scope ${o.op['x-required-scope']}, 401, 403, 400, 413, 415`, async () => {
      const f = fixture(o);
      const scope: string = o.op['x-required-scope'];
      // No token, and a token with every scope but this one.
      expectSpec(o.method, f.path, await send(gw, o), 401, 'invalid_token');
      const others = ALL_SCOPES.filter((s) => s !== scope).join(' ');
      expectSpec(o.method, f.path, await send(gw, o, { token: await gw.token(others) }), 403, 'insufficient_scope');
      // Exactly this scope is enough.
      expectSpec(o.method, f.path, await send(gw, o, { token: await gw.token(scope) }), successStatus(o));
      // A JSON body is parsed on every /v1 route (even GET/DELETE, which take none).
      expectSpec(o.method, f.path, await send(gw, o, { token, body: '{"login": "x",' }), 400, 'malformed_json');
      expectSpec(o.method, f.path, await send(gw, o, { token, body: JSON.stringify({ login: 'x'.repeat(20_000) }) }), 413, 'payload_too_large');
      expectSpec(o.method, f.path, await send(gw, o, { token, body: '{}', headers: { 'content-type': 'application/json; charset=latin1' } }), 415, 'unsupported_media_type');
    });
  }
});

describe('live: rate limit, store outage, internal error (second gateway)', () => {
  let gw2: TestGateway;
  let t2: string;
  before(async () => {
    // The breaker is kept closed here (this file breaks the store on purpose, operation after operation);
    // test/http/breaker.test.ts covers it.
    gw2 = await startTestGateway({
      config: { limits: { login_failures: { max: 2, window_s: 60 } }, resilience: { breaker: { failures: 1000 } } } as never,
      logLevel: 'fatal',
    });
    t2 = await gw2.token();
  });
  after(async () => gw2?.close());

  /** Make every store call fail with err; returns a function that restores the store. */
  function breakStore(store: UserStore, err: () => Error): () => void {
    const names = ['findCandidates', 'findById', 'markMigrated', 'unmarkMigrated', 'migrationStatus', 'ping'] as const;
    const s = store as unknown as Record<string, unknown>;
    for (const n of names) s[n] = async () => { throw err(); };
    return () => { for (const n of names) delete s[n]; };
  }

  test('429 too_many_attempts with Retry-After after max failures, even for the right password', async () => {
    const P = '/v1/credentials/verify';
    for (let i = 0; i < 2; i++) {
      expectSpec('POST', P, await call(gw2.url, 'POST', P, { token: t2, body: { login: 'bob', password: `wrong-${i}` } }), 401, 'invalid_credentials');
    }
    const limited = await call(gw2.url, 'POST', P, { token: t2, body: { login: 'bob', password: 'wrong-3' } });
    expectSpec('POST', P, limited, 429, 'too_many_attempts');
    const wait = Number(limited.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
    expectSpec('POST', P, await call(gw2.url, 'POST', P, { token: t2, body: { login: 'BOB', password: 'hunter2-but-longer' } }), 429, 'too_many_attempts');
    // Other logins are not affected.
    expectSpec('POST', P, await call(gw2.url, 'POST', P, { token: t2, body: ALICE }), 200);
  });

  test('503 store_unavailable with Retry-After on every /v1 operation and on /readyz; /healthz stays 200', async () => {
    const restore = breakStore(gw2.running.store, () => new StoreError('connection refused'));
    try {
      for (const o of v1Operations()) {
        const f = fixture(o);
        expectSpec(o.method, f.path, await send(gw2, o, { token: t2 }), 503, 'store_unavailable');
      }
      const ready = await call(gw2.url, 'GET', '/readyz');
      expectSpec('GET', '/readyz', ready, 503, 'store_unavailable');
      assert.equal(ready.headers.get('retry-after'), '5');
      expectSpec('GET', '/healthz', await call(gw2.url, 'GET', '/healthz'), 200);
    } finally {
      restore();
    }
    expectSpec('GET', '/readyz', await call(gw2.url, 'GET', '/readyz'), 200);
  });

  test('500 internal_error on every /v1 operation when something unexpected throws; the cause is not leaked', async () => {
    const restore = breakStore(gw2.running.store, () => new Error('secret driver detail'));
    try {
      for (const o of v1Operations()) {
        const f = fixture(o);
        const r = await send(gw2, o, { token: t2 });
        expectSpec(o.method, f.path, r, 500, 'internal_error');
        assert.doesNotMatch(r.text, /secret driver detail/);
      }
    } finally {
      restore();
    }
    expectSpec('GET', '/v1/migration/status', await call(gw2.url, 'GET', '/v1/migration/status', { token: t2 }), 200);
  });
});

describe('live: limits.client_requests (a gateway allowing one request per client per minute)', () => {
  let gw4: TestGateway;
  before(async () => {
    gw4 = await startTestGateway({ config: { limits: { client_requests: { max: 1, window_s: 60 } } } as never, logLevel: 'fatal' });
  });
  after(async () => gw4?.close());

  test('429 too_many_requests with Retry-After on every /v1 operation, per client', async () => {
    for (const o of v1Operations()) {
      // A client of its own per operation: its first request is served, its second refused.
      const token = await gw4.issuer.mint({ azp: `client-${o.op.operationId}`, sub: `client-${o.op.operationId}@clients`, scope: ALL_SCOPES.join(' ') });
      const f = fixture(o);
      assert.notEqual((await send(gw4, o, { token })).status, 429, `${o.method} ${f.path}: the first request`);
      const r = await send(gw4, o, { token });
      expectSpec(o.method, f.path, r, 429, 'too_many_requests');
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    }
  });
});

describe('live: IP allow-list (third gateway)', () => {
  let gw3: TestGateway;
  before(async () => {
    gw3 = await startTestGateway({ config: { server: { allow_ips: ['192.0.2.0/24'] } }, logLevel: 'fatal' });
  });
  after(async () => gw3?.close());

  test('403 forbidden_ip on every /v1 operation, before the token check; health and metrics are not filtered', async () => {
    const t3 = await gw3.token();
    for (const o of v1Operations()) {
      const f = fixture(o);
      expectSpec(o.method, f.path, await send(gw3, o, { token: t3 }), 403, 'forbidden_ip');
      expectSpec(o.method, f.path, await send(gw3, o), 403, 'forbidden_ip');
    }
    for (const p of ['/healthz', '/readyz', '/metrics']) expectSpec('GET', p, await call(gw3.url, 'GET', p), 200);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Drift between the code and the spec

/** Express route path ("/users/:user_id") → OpenAPI template ("/users/{user_id}"). */
const toTemplate = (p: string) => p.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
}

function routesOf(stack: Layer[], prefix: string): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    assert.equal(typeof layer.route.path, 'string', 'route paths are plain strings');
    for (const [m, on] of Object.entries(layer.route.methods)) {
      if (on && m !== '_all') out.push(`${m.toUpperCase()} ${prefix}${toTemplate(layer.route.path as string)}`);
    }
  }
  return out.sort();
}

describe('drift: code routes ⇔ spec operations', () => {
  const specOps = (pred: (t: string) => boolean) => apiOperations().filter((o) => pred(o.template)).map((o) => `${o.method} ${o.template}`).sort();

  test('the routes registered by v1Routes() are exactly the spec\'s /v1 operations', () => {
    const router = v1Routes(() => ({}) as CallerGateway) as unknown as { stack: Layer[] };
    assert.ok(Array.isArray(router.stack), 'Express 5 Router exposes .stack');
    const code = routesOf(router.stack, '/v1');
    assert.equal(code.length, 6);
    assert.deepEqual(code, specOps((t) => t.startsWith('/v1/')));
  });

  test('the app-level routes are exactly the spec\'s operations outside /v1', () => {
    const dummy = { ready: async () => true, status: async () => ({}) } as unknown as Gateway;
    const { app } = createApp({ config: gw.config, gateway: dummy, logger: createLogger('silent') });
    const router = (app as unknown as { router: { stack: Layer[] } }).router;
    const code = routesOf(router.stack, '');
    assert.deepEqual(code, ['GET /healthz', 'GET /metrics', 'GET /readyz']);
    assert.deepEqual(code, specOps((t) => !t.startsWith('/v1/')));
  });

  test('every spec operation is served (not 404 not_found); a method the spec does not list is 404 not_found', async () => {
    for (const o of apiOperations()) {
      const p = o.template.startsWith('/v1/') ? fixture(o).path : o.template;
      const r = await (o.template.startsWith('/v1/') ? send(gw, o, { token }) : raw(gw.url, o.method, p));
      assert.notEqual(r.json?.error, 'not_found', `${o.method} ${p} is in the spec but not served: ${r.status} ${r.text.slice(0, 200)}`);
      assertMatchesSpec(o.method, p, r);
    }
    for (const [method, p] of [['GET', '/v1/credentials/verify'], ['DELETE', '/v1/users/lookup'], ['POST', '/v1/migration/status'], ['POST', '/healthz'], ['GET', '/v1/nope']] as const) {
      const r = await call(gw.url, method, p, { token });
      assert.equal(findOperation(method, p), undefined, `${method} ${p} should not be in the spec`);
      assert.equal(r.status, 404, `${method} ${p}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error, 'not_found');
    }
  });
});

/** Documented responses this file cannot provoke through the public interface. */
const NOT_PROVOKED = new Set([
  coverageKey('GET', '/metrics', 500), // prom-client failing to collect
]);

test('coverage: every documented (operation, status) outside the front doors was produced by the app and validated above', () => {
  const missing: string[] = [];
  for (const o of apiOperations()) {
    for (const status of Object.keys(o.op.responses)) {
      const k = coverageKey(o.method, o.template, status);
      if (!covered.has(k) && !NOT_PROVOKED.has(k)) missing.push(k);
    }
  }
  assert.deepEqual(missing, [], `documented but never produced in this run:\n  ${missing.join('\n  ')}`);
  const documented = apiOperations().reduce((n, o) => n + Object.keys(o.op.responses).length, 0);
  assert.equal(covered.size, documented - NOT_PROVOKED.size, 'every validated pair is a documented one');
  assert.ok(covered.size >= 50, `validated ${covered.size} distinct (operation, status) pairs`);
});
