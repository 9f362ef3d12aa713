/**
 * The Keycloak user-migration plugin door (GET/POST /v1/idp/keycloak/users/{usernameOrEmailOrId}) on a real
 * PostgreSQL store: the plugin's documented lookup and password-check payloads, the user shape it reads (only the
 * keys its LegacyUser knows), the answer it re-checks (email or username equal to the asked value, ignoring case),
 * logins URL-encoded as the plugin encodes them (java.net.URLEncoder: '+' is a space), verify_by id, both auth
 * options, bad input, outages (503, never a silent "not found"), marking, and the failure budget shared with
 * /v1/credentials/verify.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keycloakAttributes } from '../../../src/http/doors/keycloak.js';
import { DOOR_USERS, postgresSkip, startDoorGateway, type DoorGateway, type DoorUser } from '../../helpers/doors.js';
import { assertCoverage, expectSpec, raw, type Res } from '../../helpers/openapi.js';

const BASE = '/v1/idp/keycloak/users';
const TOKEN = 'keycloak-api-token-0123456789';
const BASIC = { username: 'keycloak', password: 'keycloak-basic-secret-01' };

/**
 * The plugin's documented lookup answer (daniel-frak/keycloak-user-migration README / RestUserService, the
 * "lookup_response_200" sample): the keys its LegacyUser reads, and their JSON types.
 */
const SAMPLE_LOOKUP_RESPONSE = {
  id: '12345678',
  username: 'bob',
  email: 'bob@company.com',
  firstName: 'Bob',
  lastName: 'Smith',
  enabled: true,
  emailVerified: true,
  attributes: { position: ['rockstar-developer'], likes: ['cats', 'dogs', 'cookies'] },
  roles: ['admin'],
  groups: ['migrated_users'],
  requiredActions: ['CONFIGURE_TOTP', 'UPDATE_PASSWORD', 'UPDATE_PROFILE', 'update_user_locale'],
  totps: [{ name: 'Totp Device 1', secret: 'secret', digits: 6, period: 30, algorithm: 'HmacSHA1', encoding: 'BASE32' }],
  organizations: [{ orgName: 'org-1', orgAlias: 'org-1', domains: [{ domainName: 'org-1.local', isVerified: true }] }],
};
/** The documented lookup request: GET {restClientUri}/{urlencoded username or email}, Accept: application/json. */
const SAMPLE_LOOKUP_HEADERS = { accept: 'application/json' };
/** The documented verify body ({"password": "password123"}), with the seeded sample user's password. */
const SAMPLE_VERIFY_BODY = { password: 'bob-password-1' };

/** Seeded on top of DOOR_USERS: a '+' in an email, a space in a username, no username at all. */
const EXTRA_USERS: DoorUser[] = [
  { id: 11, email: 'ann+tag@example.com', username: 'ann marie', password: 'ann-pass-1', given: 'Ann', family: 'Marie', verified: true },
  { id: 12, email: 'NoUser@Example.com', username: null as unknown as string, password: 'nouser-pass', given: 'No', family: 'Name' },
];

const skip = await postgresSkip();

const bearer = { authorization: `Bearer ${TOKEN}` };
const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

/** What java.net.URLEncoder.encode(s, UTF-8) produces (Keycloak's Encode.urlEncode, which the plugin calls). */
function javaUrlEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function get(dg: DoorGateway, encoded: string, headers: Record<string, string> = bearer): Promise<Res> {
  return raw(dg.gw.url, 'GET', `${BASE}/${encoded}`, { headers: { ...SAMPLE_LOOKUP_HEADERS, ...headers } });
}

function post(dg: DoorGateway, encoded: string, body: unknown, headers: Record<string, string> = bearer): Promise<Res> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return raw(dg.gw.url, 'POST', `${BASE}/${encoded}`, { body: text, headers: { 'content-type': 'application/json; charset=UTF-8', ...headers } });
}

/** GET and validate against the spec: the body on 200, else the error. */
function lookup(dg: DoorGateway, encoded: string, status: number, code?: string) {
  return get(dg, encoded).then((r) => expectSpec('GET', `${BASE}/${encoded}`, r, status, code));
}

function check(dg: DoorGateway, encoded: string, password: string, status: number, code?: string, headers?: Record<string, string>) {
  return post(dg, encoded, { password }, headers).then((r) => expectSpec('POST', `${BASE}/${encoded}`, r, status, code));
}

/** The plugin's own re-check (RestUserService.equalsCaseInsensitive): toUpperCase(Locale.ROOT) on both sides. */
const pluginKeeps = (asked: string, returned: string | undefined) => returned !== undefined && asked.toUpperCase() === returned.toUpperCase();

/** Give `plan` a jsonb type so app_metadata can carry objects and arrays, as a JSON column does. */
async function jsonPlans(dg: DoorGateway): Promise<void> {
  await dg.rows('ALTER TABLE users ALTER COLUMN plan TYPE jsonb USING to_jsonb(plan)');
  await dg.rows(`UPDATE users SET plan = '{"tier":"gold","seats":3}' WHERE id = 11`);
  await dg.rows(`UPDATE users SET plan = '["a", 1, true, null, {"x": 1}]' WHERE id = 12`);
}

function logLines(dg: DoorGateway): Record<string, unknown>[] {
  return dg.gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function metricsText(dg: DoorGateway): Promise<string> {
  return (await raw(dg.gw.url, 'GET', '/metrics')).text;
}

/** legacy_gateway_http_requests_total for one route/status/outcome (0 when absent). */
function requestCount(text: string, method: string, route: string, status: number, outcome: string): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith('legacy_gateway_http_requests_total{') && l.includes(`method="${method}"`) && l.includes(`route="${route}"`) && l.includes(`status="${status}"`) && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('Keycloak door: static bearer, verify_by login', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { keycloak: { auth: { bearer: TOKEN }, roles: ['user'], groups: ['migrated_users'] } },
      config: { limits: { login_failures: { max: 4, window_s: 900 } } },
      users: [...DOOR_USERS, ...EXTRA_USERS],
    });
    await jsonPlans(dg);
  });
  after(async () => dg?.close());

  test('the documented lookup (GET /{urlencoded email}, Accept: application/json) → 200 in the plugin\'s user shape, exactly', async () => {
    const body = await lookup(dg, javaUrlEncode('bob@company.com'), 200);
    assert.deepEqual(body, {
      id: 'legacy|3',
      username: 'bob',
      email: 'bob@company.com',
      firstName: 'Bob',
      lastName: 'Smith',
      enabled: true,
      emailVerified: false,
      attributes: { plan: ['free'] },
      roles: ['user'],
      groups: ['migrated_users'],
    });
    // Only keys the plugin's LegacyUser knows (its JSON reader refuses others), each of the sample's JSON type.
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      assert.ok(k in SAMPLE_LOOKUP_RESPONSE, `key ${k} is not in the plugin's user shape`);
      const sample = SAMPLE_LOOKUP_RESPONSE[k as keyof typeof SAMPLE_LOOKUP_RESPONSE];
      assert.equal(Array.isArray(v), Array.isArray(sample), k);
      assert.equal(typeof v, typeof sample, k);
    }
    assert.ok(pluginKeeps('bob@company.com', body.email));
    // The username works too (forgot-password and login both look up by either).
    assert.deepEqual(await lookup(dg, 'bob', 200), body);
  });

  test('the documented password check (POST /{username} {"password"}) → 200 {} and the user is marked; then 404 and 401', async () => {
    await dg.clearMarks();
    const r = await post(dg, 'bob', SAMPLE_VERIFY_BODY);
    assert.deepEqual(expectSpec('POST', `${BASE}/bob`, r, 200), {});
    assert.deepEqual(await dg.marksEventually(['3']), ['3']);
    // Keycloak severed the federation link: should anything still ask, the user is gone from the legacy side.
    await lookup(dg, 'bob', 404, 'user_not_found');
    await check(dg, 'bob', SAMPLE_VERIFY_BODY.password, 401, 'invalid_credentials');
    await dg.clearMarks();
  });

  test('the echoed email/username equals the asked value ignoring case, as the plugin re-checks; a padded login is 404', async () => {
    for (const [asked, field] of [
      ['BOB@Company.COM', 'email'],
      ['Bob', 'username'],
      ['isaac.brock@example.com', 'email'],
      ['ISAAC', 'username'],
    ] as const) {
      const body = await lookup(dg, javaUrlEncode(asked), 200);
      assert.ok(pluginKeeps(asked, body[field]), `${asked} → ${field} ${body[field]}`);
    }
    // The stored email is mixed case; Keycloak gets it lower-cased (it lower-cases usernames and emails itself).
    assert.equal((await lookup(dg, 'isaac', 200)).email, 'isaac.brock@example.com');
    // The matching rule trims, the plugin does not: it would drop a trimmed answer, so none is sent.
    for (const asked of [' bob@company.com', 'bob@company.com ', ' bob']) {
      const encoded = javaUrlEncode(asked);
      assert.match(encoded, /^\+|\+$/, 'a space is sent as +');
      await lookup(dg, encoded, 404, 'user_not_found');
      await lookup(dg, encodeURIComponent(asked), 404, 'user_not_found');
    }
  });

  test("logins URL-encoded as the plugin encodes them: '@', '+', spaces and non-ASCII", async () => {
    const cases: { login: string; encoded: string[]; password: string; id: string }[] = [
      { login: 'bob@company.com', encoded: ['bob%40company.com', 'bob@company.com'], password: 'bob-password-1', id: 'legacy|3' },
      // '+' in an email is %2B; a bare '+' is a space (form encoding), so the raw text names nobody.
      { login: 'ann+tag@example.com', encoded: ['ann%2Btag%40example.com', 'ann%2btag@example.com'], password: 'ann-pass-1', id: 'legacy|11' },
      { login: 'ann marie', encoded: ['ann+marie', 'ann%20marie', 'ANN+Marie'], password: 'ann-pass-1', id: 'legacy|11' },
      { login: 'noël', encoded: ['no%C3%ABl', 'NO%C3%8BL', 'no%c3%abl'], password: 'pässwörd ünïcødé', id: 'legacy|10' },
    ];
    for (const c of cases) {
      assert.ok(c.encoded.includes(javaUrlEncode(c.login)), `the fixture includes the plugin's own encoding of ${c.login}`);
      for (const e of c.encoded) {
        const body = await lookup(dg, e, 200);
        assert.equal(body.id, c.id, e);
        assert.ok(pluginKeeps(decodeURIComponent(e.replace(/\+/g, ' ')), c.login.includes('@') ? body.email : body.username), e);
      }
      // The password check comes with the username the lookup returned, encoded the same way.
      const username = (await lookup(dg, c.encoded[0]!, 200)).username as string;
      const r = await post(dg, javaUrlEncode(username), { password: c.password });
      assert.deepEqual(expectSpec('POST', `${BASE}/${javaUrlEncode(username)}`, r, 200), {}, username);
      const legacyId = c.id.slice('legacy|'.length);
      assert.deepEqual(await dg.marksEventually([legacyId]), [legacyId], username);
      await dg.clearMarks();
    }
    assert.equal(javaUrlEncode('noël'), 'no%C3%ABl');
    await lookup(dg, 'ann+tag@example.com', 404, 'user_not_found');
    await lookup(dg, 'ann%2Bmarie', 404, 'user_not_found');
  });

  test('a user without a username gets the email as username; metadata becomes attributes (lists of strings)', async () => {
    const noUsername = await lookup(dg, javaUrlEncode('nouser@example.com'), 200);
    assert.deepEqual(noUsername, {
      id: 'legacy|12',
      username: 'nouser@example.com',
      email: 'nouser@example.com',
      firstName: 'No',
      lastName: 'Name',
      enabled: true,
      emailVerified: false,
      attributes: { plan: ['a', '1', 'true', '{"x":1}'] },
      roles: ['user'],
      groups: ['migrated_users'],
    });
    assert.deepEqual((await lookup(dg, 'ann+marie', 200)).attributes, { plan: ['{"tier":"gold","seats":3}'] });
    assert.deepEqual((await lookup(dg, 'no%C3%ABl', 200)).attributes, {}, 'a null column leaves the key out');
    // The password check by that username (the email) works.
    await check(dg, javaUrlEncode('nouser@example.com'), 'nouser-pass', 200);
    assert.deepEqual(await dg.marksEventually(['12']), ['12']);
    await dg.clearMarks();
  });

  test('attribute flattening: arrays stay lists, scalars become one-value lists, objects are JSON-encoded, app_metadata wins', () => {
    const when = new Date('2020-01-02T03:04:05.000Z');
    assert.deepEqual(
      keycloakAttributes({
        user_metadata: { locale: 'en', plan: 'user-side', tags: ['x'], gone: null },
        app_metadata: { plan: 'gold', seats: 3, admin: false, tags: ['a', 2, null, { b: 1 }], prefs: { theme: 'dark' }, since: when, big: 10n, deep: { n: 5n }, none: null, ['__proto__']: 'p' },
      }),
      JSON.parse(
        '{"locale":["en"],"plan":["gold"],"tags":["a","2","{\\"b\\":1}"],"seats":["3"],"admin":["false"],"prefs":["{\\"theme\\":\\"dark\\"}"],"since":["2020-01-02T03:04:05.000Z"],"big":["10"],"deep":["{\\"n\\":\\"5\\"}"],"__proto__":["p"]}',
      ),
    );
  });

  test('blocked → 200 enabled:false (Keycloak creates it disabled), its password check 401; unknown and ambiguous → 404 / 401', async () => {
    const blocked = await lookup(dg, javaUrlEncode('blocked@example.com'), 200);
    assert.equal(blocked.enabled, false);
    assert.equal(blocked.username, 'blocked-user');
    const bodies = new Set<string>();
    for (const [who, password] of [
      ['blocked-user', 'blocked-pass'],
      ['bob', 'bob-password-2'],
      ['bob', 'BOB-PASSWORD-1'],
      ['nobody', 'bob-password-1'],
      [javaUrlEncode('dup@example.com'), 'dup-one-pass'],
    ]) {
      const r = await post(dg, who!, { password: password! });
      expectSpec('POST', `${BASE}/${who}`, r, 401, 'invalid_credentials');
      assert.equal(r.headers.get('www-authenticate'), null, 'no challenge: the door credential was right');
      bodies.add(r.text);
    }
    assert.equal(bodies.size, 1, 'one body for every non-match');
    await lookup(dg, 'nobody', 404, 'user_not_found');
    await lookup(dg, javaUrlEncode('nobody@example.com'), 404, 'user_not_found');
    // dup@example.com names two accounts: not found; each username alone is fine.
    await lookup(dg, javaUrlEncode('Dup@Example.com'), 404, 'user_not_found');
    assert.equal((await lookup(dg, 'dup-one', 200)).id, 'legacy|8');
    assert.deepEqual(await dg.migratedIds(), [], 'nothing marked');
  });

  test('bad input is a 4xx with a stable code, never a 5xx', async () => {
    await lookup(dg, 'a%00b', 400, 'invalid_request');
    await lookup(dg, 'x'.repeat(321), 400, 'invalid_request');
    await lookup(dg, '+', 400, 'invalid_request');
    await lookup(dg, '%20%20', 400, 'invalid_request');
    await lookup(dg, '%E0%A4%A', 400, 'invalid_request');
    await lookup(dg, '%FF', 400, 'invalid_request');
    const bad: [string, unknown, number, string][] = [
      ['bob', '{"password":', 400, 'malformed_json'],
      ['bob', '[]', 400, 'invalid_request'],
      ['bob', '"bob-password-1"', 400, 'invalid_request'],
      ['bob', 'null', 400, 'invalid_request'],
      ['bob', {}, 400, 'invalid_request'],
      ['bob', { pass: 'bob-password-1' }, 400, 'invalid_request'],
      ['bob', { password: 42 }, 400, 'invalid_request'],
      ['bob', { password: ['bob-password-1'] }, 400, 'invalid_request'],
      ['bob', { password: '' }, 400, 'invalid_request'],
      ['bob', { password: 'a\u0000b' }, 400, 'invalid_request'],
      ['bob', { password: 'é'.repeat(600) }, 400, 'invalid_request'],
      ['a%00b', { password: 'x' }, 400, 'invalid_request'],
      ['x'.repeat(321), { password: 'x' }, 400, 'invalid_request'],
      ['%FF', { password: 'x' }, 400, 'invalid_request'],
      ['bob', { password: 'x'.repeat(20_000) }, 413, 'payload_too_large'],
    ];
    for (const [who, body, status, code] of bad) {
      const r = await post(dg, who, body);
      expectSpec('POST', `${BASE}/${who}`, r, status, code);
    }
    const t = await post(dg, 'bob', JSON.stringify(SAMPLE_VERIFY_BODY), { ...bearer, 'content-type': 'text/plain' });
    expectSpec('POST', `${BASE}/bob`, t, 415, 'unsupported_media_type');
    const utf16 = await post(dg, 'bob', JSON.stringify(SAMPLE_VERIFY_BODY), { ...bearer, 'content-type': 'application/json; charset=utf-16' });
    expectSpec('POST', `${BASE}/bob`, utf16, 415, 'unsupported_media_type');
    // Extra fields are ignored (the plugin sends only "password" today).
    const extra = await post(dg, 'bob', { ...SAMPLE_VERIFY_BODY, otp: '123456', credentialType: 'password' });
    assert.deepEqual(expectSpec('POST', `${BASE}/bob`, extra, 200), {});
    assert.deepEqual(await dg.marksEventually(['3']), ['3']);
    await dg.clearMarks();
  });

  test('a missing or wrong bearer is 401 unauthorized with a challenge, before the body is read', async () => {
    for (const headers of <Record<string, string>[]>[
      {},
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: TOKEN },
      basic('keycloak', TOKEN),
      { 'x-api-key': TOKEN },
    ]) {
      const g = await get(dg, 'bob', headers);
      expectSpec('GET', `${BASE}/bob`, g, 401, 'unauthorized');
      assert.match(g.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
      const p = await post(dg, 'bob', SAMPLE_VERIFY_BODY, headers);
      expectSpec('POST', `${BASE}/bob`, p, 401, 'unauthorized');
      assert.match(p.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    }
    assert.equal((await post(dg, 'bob', '{"broken', {})).status, 401);
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('failures at the door count against the per-account budget of /v1/credentials/verify, and the other way round', async () => {
    const token = await dg.gw.token();
    const verify = (password: string) =>
      raw(dg.gw.url, 'POST', '/v1/credentials/verify', {
        body: JSON.stringify({ login: 'Isaac.Brock@Example.com', password }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
    // max 4: two wrong at the door (by username), two at /v1 (by email): the account is at its limit.
    for (let i = 0; i < 2; i++) await check(dg, 'isaac', `wrong-${i}`, 401, 'invalid_credentials');
    for (let i = 0; i < 2; i++) assert.equal((await verify(`wrong-${i}`)).status, 401);
    const limited = await post(dg, 'isaac', { password: 'Okta' });
    expectSpec('POST', `${BASE}/isaac`, limited, 429, 'too_many_attempts');
    assert.match(limited.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.equal((await verify('Okta')).status, 429, '/v1 is limited too');
    // The lookup has no password: it is not limited.
    assert.equal((await lookup(dg, 'isaac', 200)).id, 'legacy|1');
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('a store outage is 503 with Retry-After within the bound, logged and counted as an outage, never a 404/401 or 500', async () => {
    const before = await metricsText(dg);
    const logsBefore = dg.gw.logs.length;
    dg.proxy.cut();
    try {
      let t0 = performance.now();
      const g = await get(dg, 'richard%40example.com');
      expectSpec('GET', `${BASE}/richard%40example.com`, g, 503, 'store_unavailable');
      assert.ok(performance.now() - t0 < 3000, `lookup answered within the bound (${Math.round(performance.now() - t0)} ms)`);
      t0 = performance.now();
      const p = await post(dg, 'johnny123', { password: 'password' });
      expectSpec('POST', `${BASE}/johnny123`, p, 503, 'store_unavailable');
      assert.ok(performance.now() - t0 < 3000, 'password check answered within the bound');
    } finally {
      dg.proxy.resume();
    }
    const lines = logLines(dg).slice(logsBefore);
    assert.ok(lines.some((l) => l.msg === 'legacy store unavailable'), 'the outage is logged');
    assert.ok(!dg.gw.logs.slice(logsBefore).some((l) => l.includes('richard') || l.includes('johnny123')), 'never the login');
    const after = await metricsText(dg);
    for (const [method, route] of [['GET', `${BASE}/:usernameOrEmail`], ['POST', `${BASE}/:usernameOrId`]] as const) {
      assert.equal(requestCount(after, method, route, 503, 'store_unavailable') - requestCount(before, method, route, 503, 'store_unavailable'), 1, `${method} counted as an outage`);
    }
    // The door recovers.
    assert.equal((await lookup(dg, 'johnny123', 200)).id, 'legacy|4');
    await check(dg, 'johnny123', 'password', 200);
    assert.deepEqual(await dg.marksEventually(['4']), ['4']);
    await dg.clearMarks();
  });
});

describe('Keycloak door: Basic, verify_by id, mark_on_success false, behind server.allow_ips', { skip }, () => {
  let dg: DoorGateway;
  const auth = basic(BASIC.username, BASIC.password);
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { keycloak: { auth: { basic: BASIC }, verify_by: 'id', mark_on_success: false } },
      config: {
        limits: { login_failures: { max: 3, window_s: 900 } },
        // The test client is loopback: trust it as a proxy, so X-Forwarded-For can play a caller outside the list.
        server: { allow_ips: ['127.0.0.1/32', '::1/128'], trust_proxy: ['127.0.0.1/32', '::1/128'] },
      },
    });
  });
  after(async () => dg?.close());

  test('"use user id for credential verification": POST /{the id the lookup returned} → 200, nothing marked', async () => {
    const user = await get(dg, 'bob%40company.com', auth).then((r) => expectSpec('GET', `${BASE}/bob%40company.com`, r, 200));
    assert.equal(user.id, 'legacy|3');
    assert.deepEqual(user.roles, []);
    assert.deepEqual(user.groups, []);
    const encoded = javaUrlEncode(user.id);
    assert.equal(encoded, 'legacy%7C3');
    for (let i = 0; i < 2; i++) await check(dg, encoded, 'bob-password-1', 200, undefined, auth);
    assert.deepEqual(await dg.migratedIds(), [], 'mark_on_success: false');
    // By id only: a username, an unknown id, an id without the prefix, a wrong password are all 401.
    for (const [who, pw] of [['bob', 'bob-password-1'], ['legacy%7C999', 'bob-password-1'], ['3', 'bob-password-1'], [encoded, 'bob-password-2']]) {
      await check(dg, who!, pw!, 401, 'invalid_credentials', auth);
    }
    await check(dg, 'x'.repeat(257), 'bob-password-1', 400, 'invalid_request', auth);
  });

  test('failures by id count against the account budget shared with /v1/credentials/verify', async () => {
    const token = await dg.gw.token();
    const verify = (password: string) =>
      raw(dg.gw.url, 'POST', '/v1/credentials/verify', {
        body: JSON.stringify({ login: 'richard@example.com', password }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
    // max 3: two wrong by id at the door, one at /v1.
    for (let i = 0; i < 2; i++) await check(dg, 'legacy%7C4', `wrong-${i}`, 401, 'invalid_credentials', auth);
    assert.equal((await verify('wrong')).status, 401);
    const limited = await post(dg, 'legacy%7C4', { password: 'password' }, auth);
    expectSpec('POST', `${BASE}/legacy%7C4`, limited, 429, 'too_many_attempts');
    assert.equal((await verify('password')).status, 429);
  });

  test('Basic with a wrong pair, or a bearer, is 401 with a Basic challenge', async () => {
    for (const h of [basic(BASIC.username, 'wrong-wrong-wrong-wrong'), basic('other', BASIC.password), { authorization: 'Basic !!!' }, bearer]) {
      const r = await get(dg, 'bob', h);
      expectSpec('GET', `${BASE}/bob`, r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    }
  });

  test('a caller outside server.allow_ips is 403 forbidden_ip, before the door credential is looked at', async () => {
    for (const headers of [{ ...auth, 'x-forwarded-for': '192.0.2.10' }, { 'x-forwarded-for': '192.0.2.10' }]) {
      expectSpec('GET', `${BASE}/bob`, await get(dg, 'bob', headers), 403, 'forbidden_ip');
      expectSpec('POST', `${BASE}/legacy%7C3`, await post(dg, 'legacy%7C3', SAMPLE_VERIFY_BODY, headers), 403, 'forbidden_ip');
    }
    // The allowed (loopback) caller still gets in.
    assert.equal((await get(dg, 'bob', auth)).status, 200);
  });
});

describe('Keycloak door: a user_id longer than Keycloak keeps', { skip }, () => {
  let dg: DoorGateway;
  const prefix = 'legacy-system-of-the-acme-corporation|';
  before(async () => {
    dg = await startDoorGateway({ front_doors: { keycloak: { auth: { bearer: TOKEN } } }, config: { profile: { user_id_prefix: prefix } } });
  });
  after(async () => dg?.close());

  test('is still sent (verify_by id needs it back), with one warning for the operator that names no user', async () => {
    for (const who of ['bob', 'isaac']) {
      const body = await lookup(dg, who, 200);
      assert.ok(body.id.startsWith(prefix) && body.id.length > 36, body.id);
    }
    const warnings = logLines(dg).filter((l) => l.door === 'keycloak' && typeof l.msg === 'string' && l.msg.includes('longer than Keycloak'));
    assert.equal(warnings.length, 1, 'once');
    assert.equal(warnings[0]!.max, 36);
    assert.ok(!JSON.stringify(warnings[0]).includes('bob'), 'no login in the line');
  });
});

describe('Keycloak door: limits.client_requests', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { keycloak: { auth: { bearer: TOKEN } } }, config: { limits: { client_requests: { max: 3, window_s: 60 } } } });
  });
  after(async () => dg?.close());

  test('over the door\'s request rate, lookups and password checks are 429 too_many_requests, before the door credential', async () => {
    await lookup(dg, 'bob', 200);
    await lookup(dg, 'nobody', 404, 'user_not_found');
    await check(dg, 'bob', 'bob-password-1', 200);
    const g = await get(dg, 'bob');
    expectSpec('GET', `${BASE}/bob`, g, 429, 'too_many_requests');
    assert.match(g.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    expectSpec('POST', `${BASE}/bob`, await post(dg, 'bob', SAMPLE_VERIFY_BODY), 429, 'too_many_requests');
    expectSpec('GET', `${BASE}/bob`, await get(dg, 'bob', {}), 429, 'too_many_requests');
  });
});

test('coverage: every documented status of the Keycloak door was produced and validated', { skip }, () => {
  assertCoverage('/v1/idp/keycloak');
});
