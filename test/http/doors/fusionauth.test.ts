/**
 * The FusionAuth Generic Connector door (POST /v1/idp/fusionauth/connector) on a real PostgreSQL store: FusionAuth's
 * documented request and the Login-API user it takes back, 200 only on a match and 404 for everything else (an
 * outage included, but logged and counted as one), the user id as a UUIDv5 stable across logins (checked against an
 * RFC 4122 computation of its own), both auth options, bad input, marking, and the failure budget shared with
 * /v1/credentials/verify.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { postgresSkip, startDoorGateway, type DoorGateway } from '../../helpers/doors.js';
import { assertCoverage, expectSpec, raw, type Res } from '../../helpers/openapi.js';

const PATH = '/v1/idp/fusionauth/connector';
const BASIC = { username: 'fusionauth', password: 'fusionauth-basic-secret-1' };
const HEADER = { name: 'X-Connector-Key', value: 'fusionauth-connector-key-0123' };
const NAMESPACE = '6f1d2c3b-4a59-4e8f-9b7a-0c1d2e3f4a5b';
const APP = '10000000-0000-0002-0000-000000000001';

/** FusionAuth's documented Generic Connector request (generic-auth-request.json). */
const SAMPLE_REQUEST = {
  applicationId: 'd37b1de2-a7ec-4c36-ad85-959402cd3fb9',
  eventInfo: { deviceName: 'macOS Safari', deviceType: 'BROWSER', ipAddress: '192.168.17.223', userAgent: 'Mozilla/5.0 ...' },
  loginId: 'richard@example.com',
  newDevice: false,
  noJWT: false,
  password: 'password',
};
/** FusionAuth's documented connector response (login-migrated-response.json): the Login-API user shape. */
const SAMPLE_RESPONSE = {
  user: {
    id: '00000000-0000-0001-0000-000000000000',
    email: 'example@fusionauth.io',
    username: 'johnny123',
    firstName: 'John',
    active: true,
    verified: true,
    data: { migrated: true },
    registrations: [{ applicationId: '10000000-0000-0002-0000-000000000001', roles: ['user'] }],
  },
};

const skip = await postgresSkip();

/** UUID version 5 (RFC 4122 §4.3): SHA-1 of namespace bytes + name, version and variant bits set. Not the uuid package. */
function rfc4122v5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  assert.equal(ns.length, 16);
  const h = createHash('sha1').update(ns).update(Buffer.from(name, 'utf8')).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const basicAuth = basic(BASIC.username, BASIC.password);

function post(dg: DoorGateway, body: unknown, headers: Record<string, string> = basicAuth): Promise<Res> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return raw(dg.gw.url, 'POST', PATH, { body: text, headers: { 'content-type': 'application/json', ...headers } });
}

const login = (loginId: string, password: string) => ({ ...SAMPLE_REQUEST, loginId, password });

function logLines(dg: DoorGateway): Record<string, unknown>[] {
  return dg.gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** legacy_gateway_http_requests_total for the door's route, one status and outcome (0 when absent). */
async function requestCount(dg: DoorGateway, status: number, outcome: string): Promise<number> {
  const text = (await raw(dg.gw.url, 'GET', '/metrics')).text;
  const line = text
    .split('\n')
    .find((l) => l.startsWith('legacy_gateway_http_requests_total{') && l.includes(`route="${PATH}"`) && l.includes(`status="${status}"`) && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('FusionAuth door: HTTP Basic, migrate (mark_on_success true)', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { fusionauth: { auth: { basic: BASIC }, uuid_namespace: NAMESPACE, registrations: [{ applicationId: APP, roles: ['user'] }] } },
      config: { limits: { login_failures: { max: 4, window_s: 900 } } },
    });
  });
  after(async () => dg?.close());

  test("FusionAuth's documented request → 200 {user} in the Login-API shape, exactly; the user is marked migrated", async () => {
    await dg.clearMarks();
    const r = await post(dg, SAMPLE_REQUEST);
    const body = expectSpec('POST', PATH, r, 200);
    assert.deepEqual(body, {
      user: {
        id: rfc4122v5('legacy|4', NAMESPACE),
        email: 'richard@example.com',
        username: 'johnny123',
        firstName: 'Richard',
        lastName: 'Roe',
        active: true,
        verified: true,
        data: { legacy_user_id: 'legacy|4' },
        registrations: [{ applicationId: APP, roles: ['user'] }],
      },
    });
    // Every field of the documented response is there, with the documented JSON type.
    const got = JSON.parse(r.text) as { user: Record<string, unknown> & { registrations: object[] } };
    for (const [k, v] of Object.entries(SAMPLE_RESPONSE.user)) {
      const ours = got.user[k];
      assert.equal(typeof ours, typeof v, k);
      assert.equal(Array.isArray(ours), Array.isArray(v), k);
    }
    assert.deepEqual(Object.keys(got.user.registrations[0]!), Object.keys(SAMPLE_RESPONSE.user.registrations[0]!));
    assert.deepEqual(await dg.marksEventually(['4']), ['4']);
    // migrate: true — FusionAuth never calls again; should it, the migrated user is no longer a match.
    expectSpec('POST', PATH, await post(dg, SAMPLE_REQUEST), 404, 'invalid_credentials');
    await dg.clearMarks();
  });

  test('the matching rule is the gateway\'s: case and spaces of loginId do not matter, a username works; metadata goes to data', async () => {
    for (const loginId of ['  RICHARD@Example.com ', 'johnny123', 'Johnny123']) {
      const body = expectSpec('POST', PATH, await post(dg, login(loginId, 'password')), 200);
      assert.equal(body.user.id, rfc4122v5('legacy|4', NAMESPACE), loginId);
      assert.deepEqual(await dg.marksEventually(['4']), ['4'], loginId);
      await dg.clearMarks();
    }
    const isaac = expectSpec('POST', PATH, await post(dg, login('isaac', 'Okta')), 200);
    assert.deepEqual(isaac.user.data, { plan: 'gold', legacy_user_id: 'legacy|1' });
    assert.equal(isaac.user.email, 'isaac.brock@example.com');
    const noel = expectSpec('POST', PATH, await post(dg, login('NOËL', 'pässwörd ünïcødé')), 200);
    assert.equal(noel.user.username, 'noël');
    assert.equal(noel.user.id, rfc4122v5('legacy|10', NAMESPACE));
    const bob = expectSpec('POST', PATH, await post(dg, login('bob@company.com', 'bob-password-1')), 200);
    assert.equal(bob.user.verified, false, 'email_verified false');
    assert.deepEqual(await dg.marksEventually(['1', '10', '3']), ['1', '10', '3']);
    await dg.clearMarks();
  });

  test('wrong password, unknown user, blocked account and an ambiguous email all answer the same 404', async () => {
    const bodies = new Set<string>();
    for (const [loginId, password] of [
      ['richard@example.com', 'password!'],
      ['richard@example.com', 'PASSWORD'],
      ['nobody@example.com', 'password'],
      ['blocked@example.com', 'blocked-pass'],
      ['dup@example.com', 'dup-one-pass'],
    ]) {
      const r = await post(dg, login(loginId!, password!));
      expectSpec('POST', PATH, r, 404, 'invalid_credentials');
      assert.equal(r.headers.get('retry-after'), null);
      bodies.add(r.text);
    }
    assert.equal(bodies.size, 1, 'one body for every non-match');
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('bad input FusionAuth never sends is a 400 (or 413/415) with a stable code, never a 5xx', async () => {
    const bad: [unknown, number, string][] = [
      ['{"loginId":', 400, 'malformed_json'],
      ['[]', 400, 'invalid_request'],
      ['"text"', 400, 'invalid_request'],
      ['null', 400, 'invalid_request'],
      [{}, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, loginId: undefined }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, password: undefined }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, loginId: 42 }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, loginId: { $ne: '' } }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, password: ['password'] }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, loginId: '   ' }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, loginId: 'a\u0000b' }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, loginId: 'x'.repeat(321) }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, password: '' }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, password: 'é'.repeat(600) }, 400, 'invalid_request'],
      [{ ...SAMPLE_REQUEST, password: 'x'.repeat(20_000) }, 413, 'payload_too_large'],
    ];
    for (const [body, status, code] of bad) expectSpec('POST', PATH, await post(dg, body), status, code);
    expectSpec('POST', PATH, await post(dg, JSON.stringify(SAMPLE_REQUEST), { ...basicAuth, 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
    expectSpec('POST', PATH, await post(dg, JSON.stringify(SAMPLE_REQUEST), { ...basicAuth, 'content-type': 'application/json; charset=latin1' }), 415, 'unsupported_media_type');
    // Other fields, of any type, are ignored (FusionAuth adds fields over time).
    const extra = await post(dg, { ...SAMPLE_REQUEST, applicationId: 42, eventInfo: 'x', futureField: { a: [1] } });
    assert.equal(expectSpec('POST', PATH, extra, 200).user.email, 'richard@example.com');
    assert.deepEqual(await dg.marksEventually(['4']), ['4']);
    await dg.clearMarks();
  });

  test('a missing or wrong Basic credential is 401 with a challenge, before the body is read', async () => {
    for (const headers of <Record<string, string>[]>[
      {},
      basic(BASIC.username, `${BASIC.password}x`),
      basic(`${BASIC.username}x`, BASIC.password),
      basic(BASIC.username, ''),
      { authorization: `Bearer ${BASIC.password}` },
      { authorization: 'Basic %%%' },
    ]) {
      const r = await post(dg, SAMPLE_REQUEST, headers);
      expectSpec('POST', PATH, r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    }
    assert.equal((await post(dg, '{"broken', {})).status, 401);
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('failures at the door count against the per-account budget of /v1/credentials/verify, and the other way round', async () => {
    const token = await dg.gw.token();
    const verify = (password: string) =>
      raw(dg.gw.url, 'POST', '/v1/credentials/verify', {
        body: JSON.stringify({ login: 'pw-migration@example.org', password }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
    // max 4: two wrong at the door (by username), two at /v1 (by email).
    for (let i = 0; i < 2; i++) expectSpec('POST', PATH, await post(dg, login('kratos-user', `wrong-${i}`)), 404, 'invalid_credentials');
    for (let i = 0; i < 2; i++) assert.equal((await verify(`wrong-${i}`)).status, 401);
    const limited = await post(dg, login('kratos-user', 'the-password'));
    expectSpec('POST', PATH, limited, 404, 'too_many_attempts');
    assert.match(limited.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal((await verify('the-password')).status, 429, '/v1 is limited too');
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('a store outage is 404 within the bound (all FusionAuth takes), but logged and counted as an outage, not a miss', async () => {
    const before = await requestCount(dg, 404, 'store_unavailable');
    const beforeMiss = await requestCount(dg, 404, 'invalid_credentials');
    const logsBefore = dg.gw.logs.length;
    dg.proxy.cut();
    try {
      const t0 = performance.now();
      const r = await post(dg, SAMPLE_REQUEST);
      expectSpec('POST', PATH, r, 404, 'store_unavailable');
      assert.ok(performance.now() - t0 < 3000, `answered within the bound (${Math.round(performance.now() - t0)} ms)`);
      assert.equal(r.headers.get('retry-after'), null);
    } finally {
      dg.proxy.resume();
    }
    const lines = logLines(dg).slice(logsBefore);
    const warn = lines.find((l) => l.door === 'fusionauth' && l.reason === 'store_unavailable');
    assert.ok(warn, 'a line naming the door and the reason');
    assert.equal(warn.level, 40, 'at warn level');
    assert.ok(lines.some((l) => l.msg === 'legacy store unavailable'), "and the gateway's own outage line");
    assert.ok(!dg.gw.logs.slice(logsBefore).some((l) => l.includes('richard') || l.includes(SAMPLE_REQUEST.password)), 'never the login or password');
    assert.equal((await requestCount(dg, 404, 'store_unavailable')) - before, 1, 'counted as an outage');
    assert.equal(await requestCount(dg, 404, 'invalid_credentials'), beforeMiss, 'not as a miss');
    // The door recovers.
    assert.equal(expectSpec('POST', PATH, await post(dg, SAMPLE_REQUEST), 200).user.username, 'johnny123');
    assert.deepEqual(await dg.marksEventually(['4']), ['4']);
    await dg.clearMarks();
  });
});

describe('FusionAuth door: static header, migrate false (mark_on_success false), behind server.allow_ips', { skip }, () => {
  let dg: DoorGateway;
  const key = { [HEADER.name]: HEADER.value };
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { fusionauth: { auth: { header: HEADER }, uuid_namespace: NAMESPACE, mark_on_success: false } },
      config: {
        server: { allow_ips: ['127.0.0.1/32', '::1/128'], trust_proxy: ['127.0.0.1/32', '::1/128'] },
        // A stalled store hits the deadline long before the query timeout.
        resilience: { deadline_ms: 1000 },
      },
      queryTimeoutMs: 5000,
    });
  });
  after(async () => dg?.close());

  test('the user id is the same UUIDv5 at every login, as RFC 4122 computes it, and matches /v1 lookup\'s user_id', async () => {
    const ids = new Set<string>();
    for (const loginId of ['richard@example.com', 'johnny123', 'RICHARD@EXAMPLE.COM']) {
      const body = expectSpec('POST', PATH, await post(dg, login(loginId, 'password'), key), 200);
      ids.add(body.user.id);
      assert.deepEqual(body.user.registrations, [], 'no registrations configured');
    }
    assert.equal(ids.size, 1, 'stable across logins');
    const token = await dg.gw.token();
    const lookup = await raw(dg.gw.url, 'POST', '/v1/users/lookup', {
      body: JSON.stringify({ login: 'richard@example.com' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    const userId: string = JSON.parse(lookup.text).user.user_id;
    assert.deepEqual([...ids], [rfc4122v5(userId, NAMESPACE)]);
    assert.match([...ids][0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Different users, different ids.
    const bob = expectSpec('POST', PATH, await post(dg, login('bob', 'bob-password-1'), key), 200);
    assert.notEqual(bob.user.id, [...ids][0]);
    assert.deepEqual(await dg.migratedIds(), [], 'mark_on_success: false (FusionAuth keeps calling with migrate: false)');
  });

  test('a missing or wrong header secret is 401 with a challenge naming the header', async () => {
    for (const headers of <Record<string, string>[]>[{}, { [HEADER.name]: `${HEADER.value}x` }, { 'x-other': HEADER.value }, basicAuth]) {
      const r = await post(dg, SAMPLE_REQUEST, headers);
      expectSpec('POST', PATH, r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate') ?? '', /X-Connector-Key/);
    }
  });

  test('a caller outside server.allow_ips is 403 forbidden_ip, before the door credential is looked at', async () => {
    for (const headers of [{ ...key, 'x-forwarded-for': '192.0.2.10' }, { 'x-forwarded-for': '192.0.2.10' }]) {
      expectSpec('POST', PATH, await post(dg, SAMPLE_REQUEST, headers), 403, 'forbidden_ip');
    }
    assert.equal((await post(dg, SAMPLE_REQUEST, key)).status, 200);
  });

  test('a stalled store: 404 deadline_exceeded at the deadline, logged as an outage with its reason', async () => {
    const before = await requestCount(dg, 404, 'deadline_exceeded');
    const logsBefore = dg.gw.logs.length;
    dg.proxy.stall();
    try {
      const t0 = performance.now();
      const r = await post(dg, SAMPLE_REQUEST, key);
      const ms = performance.now() - t0;
      expectSpec('POST', PATH, r, 404, 'deadline_exceeded');
      assert.ok(ms >= 900 && ms < 3000, `answered at the deadline (${Math.round(ms)} ms)`);
    } finally {
      dg.proxy.resume();
    }
    const warn = logLines(dg).slice(logsBefore).find((l) => l.door === 'fusionauth' && l.reason === 'deadline_exceeded');
    assert.ok(warn, 'a warn line naming the door and the reason');
    assert.equal(warn.level, 40);
    assert.equal((await requestCount(dg, 404, 'deadline_exceeded')) - before, 1);
    // The door recovers once the store answers again.
    let ok: Res | undefined;
    for (let i = 0; i < 20 && ok?.status !== 200; i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, 250));
      ok = await post(dg, SAMPLE_REQUEST, key);
    }
    assert.equal(ok?.status, 200, ok?.text);
  });
});

describe('FusionAuth door: limits.client_requests', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { fusionauth: { auth: { basic: BASIC }, uuid_namespace: NAMESPACE } },
      config: { limits: { client_requests: { max: 2, window_s: 60 } } },
    });
  });
  after(async () => dg?.close());

  test("over the door's request rate: 429 too_many_requests (FusionAuth shows a failed login), before the door credential", async () => {
    expectSpec('POST', PATH, await post(dg, login('nobody@example.com', 'x')), 404, 'invalid_credentials');
    expectSpec('POST', PATH, await post(dg, SAMPLE_REQUEST), 200);
    const r = await post(dg, SAMPLE_REQUEST);
    expectSpec('POST', PATH, r, 429, 'too_many_requests');
    assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    expectSpec('POST', PATH, await post(dg, SAMPLE_REQUEST, {}), 429, 'too_many_requests');
    assert.deepEqual(await dg.marksEventually(['4']), ['4']);
  });
});

test('coverage: every documented status of the FusionAuth door was produced and validated', { skip }, () => {
  assertCoverage('/v1/idp/fusionauth');
});
