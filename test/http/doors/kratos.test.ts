/**
 * The Ory Kratos door (POST /v1/idp/kratos/password-migration) on a real PostgreSQL store: Kratos's documented
 * default body and the outcomes its own tests pin (200 {"status":"password_match"} only on a match, 403 for every
 * other answer, an outage as 503 never 403 or 500), both auth options, bad input, marking, and the failure budget it
 * shares with /v1/credentials/verify.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postgresSkip, startDoorGateway, type DoorGateway } from '../../helpers/doors.js';
import { wrapStore } from '../../helpers/harness.js';
import { assertCoverage, expectSpec, raw, type Res } from '../../helpers/openapi.js';

const PATH = '/v1/idp/kratos/password-migration';
const KEY = 'kratos-hook-key-0123456789';
const BASIC = { username: 'kratos', password: 'kratos-basic-secret-0123' };
/** Kratos's default hook body, as its documentation and password_migration_hook.go send it. */
const SAMPLE = { identifier: 'pw-migration@example.org', password: 'the-password' };

const skip = await postgresSkip();

function post(dg: DoorGateway, body: unknown, headers: Record<string, string> = { 'x-api-key': KEY }): Promise<Res> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return raw(dg.gw.url, 'POST', PATH, { body: text, headers: { 'content-type': 'application/json', ...headers } });
}

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

describe('Kratos door: API-key header', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } } } },
      config: { limits: { login_failures: { max: 4, window_s: 900 } } },
    });
  });
  after(async () => dg?.close());

  test("Kratos's documented body with the right password → 200 password_match, and the user is marked migrated", async () => {
    await dg.clearMarks();
    const r = await post(dg, SAMPLE);
    assert.deepEqual(expectSpec('POST', PATH, r, 200), { status: 'password_match' });
    assert.deepEqual(await dg.marksEventually(['2']), ['2']);
    // Kratos never calls again; should it, the migrated user is no longer a match.
    const again = await post(dg, SAMPLE);
    expectSpec('POST', PATH, again, 403, 'invalid_credentials');
    await dg.clearMarks();
  });

  test('the matching rule is the gateway\'s: case and surrounding spaces of the identifier do not matter; a username works', async () => {
    for (const identifier of ['  PW-Migration@Example.ORG ', 'kratos-user', 'noël']) {
      const password = identifier === 'noël' ? 'pässwörd ünïcødé' : SAMPLE.password;
      const r = await post(dg, { identifier, password });
      assert.deepEqual(expectSpec('POST', PATH, r, 200), { status: 'password_match' }, identifier);
      const id = identifier === 'noël' ? '10' : '2';
      assert.deepEqual(await dg.marksEventually([id]), [id], identifier);
      await dg.clearMarks();
    }
  });

  test('wrong password, unknown user, blocked account and an ambiguous email all answer the same 403', async () => {
    const cases = [
      { identifier: SAMPLE.identifier, password: 'the-password!' },
      { identifier: SAMPLE.identifier, password: 'THE-PASSWORD' },
      { identifier: 'nobody@example.org', password: 'the-password' },
      { identifier: 'blocked@example.com', password: 'blocked-pass' },
      { identifier: 'dup@example.com', password: 'dup-one-pass' },
    ];
    const bodies = new Set<string>();
    for (const c of cases) {
      const r = await post(dg, c);
      expectSpec('POST', PATH, r, 403, 'invalid_credentials');
      bodies.add(r.text);
    }
    assert.equal(bodies.size, 1, 'one body for every non-match');
    assert.deepEqual(await dg.migratedIds(), [], 'nothing marked');
  });

  test('extra fields of a custom Jsonnet body are ignored; a text/plain body is 415', async () => {
    const r = await post(dg, { ...SAMPLE, identity: { traits: { email: SAMPLE.identifier } }, flow: { id: 'f' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await dg.marksEventually(['2']), ['2']);
    await dg.clearMarks();
    const t = await raw(dg.gw.url, 'POST', PATH, { body: JSON.stringify(SAMPLE), headers: { 'content-type': 'text/plain', 'x-api-key': KEY } });
    expectSpec('POST', PATH, t, 415, 'unsupported_media_type');
  });

  test('bad input is a 4xx with a stable code, never a 5xx', async () => {
    const bad: [unknown, number, string][] = [
      ['{"identifier":', 400, 'malformed_json'],
      ['[]', 400, 'invalid_request'],
      ['"text"', 400, 'invalid_request'],
      ['null', 400, 'invalid_request'],
      [{}, 400, 'invalid_request'],
      [{ identifier: SAMPLE.identifier }, 400, 'invalid_request'],
      [{ identifier: 42, password: 'x' }, 400, 'invalid_request'],
      [{ identifier: SAMPLE.identifier, password: ['x'] }, 400, 'invalid_request'],
      [{ identifier: '   ', password: 'x' }, 400, 'invalid_request'],
      [{ identifier: 'a\u0000b', password: 'x' }, 400, 'invalid_request'],
      [{ identifier: SAMPLE.identifier, password: 'é'.repeat(600) }, 400, 'invalid_request'],
      [{ identifier: SAMPLE.identifier, password: 'x'.repeat(20_000) }, 413, 'payload_too_large'],
    ];
    for (const [body, status, code] of bad) {
      const r = await post(dg, body);
      expectSpec('POST', PATH, r, status, code);
    }
  });

  test('a missing or wrong API key is 401 before the body is read; so is a key in another header', async () => {
    for (const headers of <Record<string, string>[]>[{}, { 'x-api-key': `${KEY}x` }, { 'x-api-key': KEY.slice(0, -1) }, { authorization: KEY }, { 'x-api-key': '' }]) {
      const r = await post(dg, SAMPLE, headers);
      expectSpec('POST', PATH, r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate') ?? '', /X-Api-Key/);
    }
    // Not even a malformed body gets past the door without the key.
    const r = await post(dg, '{"broken', {});
    assert.equal(r.status, 401);
  });

  test('failures at the door count against the per-account budget of /v1/credentials/verify, and the other way round', async () => {
    const token = await dg.gw.token();
    const verify = (password: string) =>
      raw(dg.gw.url, 'POST', '/v1/credentials/verify', {
        body: JSON.stringify({ login: 'isaac', password }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
    // max 4: two wrong at the door (by email), two at /v1 (by username): the account is at its limit.
    const ISAAC = 'Isaac.Brock@Example.com';
    for (let i = 0; i < 2; i++) assert.equal((await post(dg, { identifier: ISAAC, password: `wrong-${i}` })).status, 403);
    for (let i = 0; i < 2; i++) assert.equal((await verify(`wrong-${i}`)).status, 401);
    const limited = await post(dg, { identifier: ISAAC, password: 'Okta' });
    expectSpec('POST', PATH, limited, 403, 'too_many_attempts');
    assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal((await verify('Okta')).status, 429, '/v1 is limited too');
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('a store outage is 503 with Retry-After within the query timeout, never 403 or 500; the door recovers', async () => {
    dg.proxy.cut();
    try {
      const t0 = performance.now();
      const r = await post(dg, { identifier: 'richard@example.com', password: 'password' });
      expectSpec('POST', PATH, r, 503, 'store_unavailable');
      assert.ok(performance.now() - t0 < 3000, 'answered within the bound');
    } finally {
      dg.proxy.resume();
    }
    const ok = await post(dg, { identifier: 'richard@example.com', password: 'password' });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(await dg.marksEventually(['4']), ['4']);
    await dg.clearMarks();
  });

  test('a caller outside server.allow_ips is refused before the door', async () => {
    // Covered with a gateway of its own (below); here the route answers other methods with 404.
    const r = await raw(dg.gw.url, 'GET', PATH, { headers: { 'x-api-key': KEY } });
    assert.equal(r.status, 404);
    assert.equal(r.json?.error, 'not_found');
  });
});

describe('Kratos door: HTTP Basic, mark_on_success false, IP allow-list; other doors stay off', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { kratos: { auth: { basic: BASIC }, mark_on_success: false } } });
  });
  after(async () => dg?.close());

  test('Basic with the right pair → 200 and nothing is marked; a wrong user or password → 401', async () => {
    const r = await post(dg, SAMPLE, basic(BASIC.username, BASIC.password));
    assert.deepEqual(expectSpec('POST', PATH, r, 200), { status: 'password_match' });
    assert.deepEqual(await dg.migratedIds(), []);
    for (const h of [basic(BASIC.username, 'nope-nope-nope-nope'), basic('other', BASIC.password), { authorization: 'Basic !!!' }, { 'x-api-key': BASIC.password }]) {
      const bad = await post(dg, SAMPLE, h);
      expectSpec('POST', PATH, bad, 401, 'unauthorized');
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    }
  });

  test('doors that are not configured are 404 not_found, without a token check', async () => {
    for (const p of ['/v1/idp/okta/password-import', '/v1/idp/azure-b2c/verify', '/v1/idp/nope']) {
      const r = await raw(dg.gw.url, 'POST', p, { body: '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 404, p);
      assert.equal(r.json?.error, 'not_found', p);
    }
  });
});

describe('Kratos door: limits.client_requests, counted per source address', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } } } },
      // Behind a trusted proxy (loopback), X-Forwarded-For names the caller: two addresses from one test process.
      config: { server: { trust_proxy: ['127.0.0.1/32', '::1/128'] }, limits: { client_requests: { max: 3, window_s: 60 } } },
    });
  });
  after(async () => dg?.close());

  const from = (ip: string, headers: Record<string, string>) => ({ ...headers, 'x-forwarded-for': ip });

  test("an outsider guessing the key is slowed (429), but spends only their own address's budget, never the IdP's", async () => {
    const outsider = '198.51.100.7';
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(dg, SAMPLE, from(outsider, { 'x-api-key': `wrong-key-${i}-0123456789` }))).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429], 'the guesses from one address are limited');
    const limited = await post(dg, SAMPLE, from(outsider, { 'x-api-key': KEY }));
    expectSpec('POST', PATH, limited, 429, 'too_many_requests');
    assert.match(limited.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    // Kratos, calling from its own address, still gets through.
    const kratos = await post(dg, SAMPLE, from('203.0.113.20', { 'x-api-key': KEY }));
    assert.deepEqual(expectSpec('POST', PATH, kratos, 200), { status: 'password_match' });
    assert.deepEqual(await dg.marksEventually(['2']), ['2']);
    await dg.clearMarks();
  });
});

describe('Kratos door: the mark comes after the answer', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } } } },
      // markMigrated takes 3.5 s: longer than the IdPs wait (Okta 3 s).
      wrapStore: (s) =>
        wrapStore(s, {
          markMigrated: (real) => async (id: string) => {
            await new Promise((r) => setTimeout(r, 3500));
            return real.markMigrated(id);
          },
        }),
    });
  });
  after(async () => dg?.close());

  test('a slow mark does not hold the answer: 200 within 1 s, and the user is marked later', async () => {
    const t0 = performance.now();
    const r = await post(dg, SAMPLE);
    const ms = performance.now() - t0;
    assert.deepEqual(expectSpec('POST', PATH, r, 200), { status: 'password_match' });
    assert.ok(ms < 1000, `answered in ${Math.round(ms)} ms`);
    assert.deepEqual(await dg.migratedIds(), [], 'not marked yet');
    assert.deepEqual(await dg.marksEventually(['2'], 6000), ['2'], 'marked once the slow store answers');
  });
});

describe('Kratos door and /v1: a body that is not valid UTF-8', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } } } } });
  });
  after(async () => dg?.close());

  // {"identifier": ..., "password": "the-password<0xFF>"}: body-parser alone would read U+FFFD for the bad byte.
  const invalid = Buffer.concat([Buffer.from('{"identifier":"pw-migration@example.org","password":"the-password'), Buffer.from([0xff]), Buffer.from('"}')]);
  const overlong = Buffer.concat([Buffer.from('{"login":"bob","password":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);

  test('is 400 malformed_json at the door and at /v1/credentials/verify, never verified as other text', async () => {
    const door = await raw(dg.gw.url, 'POST', PATH, { body: invalid, headers: { 'content-type': 'application/json', 'x-api-key': KEY } });
    expectSpec('POST', PATH, door, 400, 'malformed_json');
    const token = await dg.gw.token();
    for (const body of [invalid, overlong]) {
      const v1 = await raw(dg.gw.url, 'POST', '/v1/credentials/verify', { body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
      expectSpec('POST', '/v1/credentials/verify', v1, 400, 'malformed_json');
    }
    // Valid UTF-8 (a BOM-less multibyte password) is read as sent.
    const ok = await raw(dg.gw.url, 'POST', PATH, { body: Buffer.from(JSON.stringify({ identifier: 'noël', password: 'pässwörd ünïcødé' })), headers: { 'content-type': 'application/json', 'x-api-key': KEY } });
    assert.deepEqual(expectSpec('POST', PATH, ok, 200), { status: 'password_match' });
    assert.deepEqual(await dg.marksEventually(['10']), ['10']);
    assert.deepEqual(await dg.migratedIds(), ['10'], 'the invalid bodies marked nothing');
  });
});

describe('Kratos door: behind server.allow_ips', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { kratos: { auth: { header: { name: 'X-Api-Key', value: KEY } } } },
      config: { server: { allow_ips: ['192.0.2.0/24'] } },
    });
  });
  after(async () => dg?.close());

  test('403 forbidden_ip, before the key is even looked at', async () => {
    for (const headers of <Record<string, string>[]>[{ 'x-api-key': KEY }, {}]) {
      const r = await post(dg, SAMPLE, headers);
      expectSpec('POST', PATH, r, 403, 'forbidden_ip');
    }
  });
});

test('coverage: every documented status of the Kratos door was produced and validated', { skip }, () => {
  assertCoverage('/v1/idp/kratos');
});
