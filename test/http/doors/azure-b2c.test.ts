/**
 * The Azure AD B2C door (POST /v1/idp/azure-b2c/verify) on a real PostgreSQL store: the body of Microsoft's
 * seamless-migration sample ({"email","password"}), its success body, B2C's error body (version, status 409,
 * userMessage, code, requestId, developerMessage) for every non-match and for bad input, an outage as 503 (B2C's own
 * "request failed" message), every AuthenticationType B2C offers (Basic, Bearer, ApiKeyHeader, ClientCertificate
 * over the gateway's own HTTPS with certificates made here), marking, and the failure budget shared with /v1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpsCall, makePki, type Identity, type TestPki } from '../../helpers/certs.js';
import { postgresSkip, startDoorGateway, type DoorGateway } from '../../helpers/doors.js';
import { assertCoverage, expectSpec, raw, type Res } from '../../helpers/openapi.js';

const PATH = '/v1/idp/azure-b2c/verify';
const TOKEN = 'b2c-rest-api-token-0123456789abcdef';
const BASIC = { username: 'b2c', password: 'b2c-basic-secret-0123456789' };
const FUNCTIONS_KEY = 'x-functions-key-secret-0123456789';
/** The claims Microsoft's seamless-migration sample sends (signInName mapped to "email", SendClaimsIn=Body). */
const SAMPLE = { email: 'user@contoso.com', password: 'value' };
const SUCCESS = { tokenSuccess: true, migrationRequired: false };

const skip = await postgresSkip();

let seq = 0;
/** POST with a request id of our own, so that the requestId B2C gets back is known. */
function post(dg: DoorGateway, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<Res & { id: string }> {
  const id = `b2c-test-${++seq}`;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return raw(dg.gw.url, 'POST', PATH, { body: text, headers: { 'content-type': 'application/json', 'x-request-id': id, ...headers } }).then((r) => ({ ...r, id }));
}

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

/** B2C's error body, exactly. */
const b2cError = (requestId: string, code: string, userMessage: string, developerMessage: string) => ({
  version: '1.0.0',
  status: 409,
  code,
  userMessage,
  developerMessage,
  requestId,
});

describe('Azure AD B2C door: Bearer (AuthenticationType Bearer)', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { azure_b2c: { auth: { bearer: TOKEN } } },
      config: { limits: { login_failures: { max: 4, window_s: 900 } } },
    });
  });
  after(async () => dg?.close());

  test("the sample's body with the right password → 200 tokenSuccess, and the user is marked migrated", async () => {
    await dg.clearMarks();
    const r = await post(dg, SAMPLE);
    assert.deepEqual(expectSpec('POST', PATH, r, 200), SUCCESS);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await dg.marksEventually(['5']), ['5']);
    // B2C flips extension_requiresMigration and never calls again; should it, the user is no longer a match.
    const again = await post(dg, SAMPLE);
    assert.deepEqual(expectSpec('POST', PATH, again, 409), b2cError(again.id, 'invalid_credentials', 'Incorrect password', 'Wrong username or password.'));
    await dg.clearMarks();
  });

  test('an unmapped signInName claim is read when email is absent; email wins when both are sent; extra claims are ignored', async () => {
    const r1 = await post(dg, { signInName: 'contoso-user', password: 'value', objectId: '00000000-0000-0000-0000-000000000000' });
    assert.deepEqual(expectSpec('POST', PATH, r1, 200), SUCCESS);
    assert.deepEqual(await dg.marksEventually(['5']), ['5']);
    await dg.clearMarks();
    const r2 = await post(dg, { email: ' USER@Contoso.com ', signInName: 'nobody@example.com', password: 'value' });
    assert.deepEqual(expectSpec('POST', PATH, r2, 200), SUCCESS);
    assert.deepEqual(await dg.marksEventually(['5']), ['5']);
    await dg.clearMarks();
    const r3 = await post(dg, { email: 'nobody@example.com', signInName: 'user@contoso.com', password: 'value' });
    expectSpec('POST', PATH, r3, 409);
  });

  test('wrong password, unknown user, blocked account, ambiguous email: one 409 in B2C\'s shape, the same but for requestId', async () => {
    const cases = [
      { email: SAMPLE.email, password: 'value!' },
      { email: SAMPLE.email, password: 'VALUE' },
      { email: 'nobody@contoso.com', password: 'value' },
      { email: 'blocked@example.com', password: 'blocked-pass' },
      { email: 'dup@example.com', password: 'dup-one-pass' },
    ];
    for (const c of cases) {
      const r = await post(dg, c);
      assert.deepEqual(expectSpec('POST', PATH, r, 409), b2cError(r.id, 'invalid_credentials', 'Incorrect password', 'Wrong username or password.'), JSON.stringify(c.email));
      assert.equal(r.headers.get('x-request-id'), r.id);
      assert.equal(r.headers.get('retry-after'), null);
    }
    assert.deepEqual(await dg.migratedIds(), [], 'nothing marked');
  });

  test("bad input is a 4xx in B2C's error shape (a neutral userMessage, the reason in developerMessage), never a 5xx", async () => {
    const neutral = 'The sign-in could not be completed.';
    const bad: [string | object, number, string, string][] = [
      ['{"email":', 400, 'malformed_json', 'The body is not valid JSON.'],
      ['[]', 400, 'invalid_request', 'The body must be a JSON object.'],
      ['null', 400, 'invalid_request', 'The body must be a JSON object.'],
      [{}, 400, 'invalid_request', 'email: required'],
      [{ email: SAMPLE.email }, 400, 'invalid_request', 'password: required'],
      [{ email: 42, password: 'x' }, 400, 'invalid_request', 'email: must be a string'],
      [{ email: '   ', password: 'x' }, 400, 'invalid_request', 'email: must not be empty'],
      [{ email: SAMPLE.email, password: '' }, 400, 'invalid_request', 'password: must not be empty'],
      [{ email: 'a\u0000b', password: 'x' }, 400, 'invalid_request', 'email: must not contain NUL characters'],
      [{ email: SAMPLE.email, password: 'x'.repeat(20_000) }, 413, 'payload_too_large', 'The body is too large.'],
    ];
    for (const [body, status, code, developerMessage] of bad) {
      const r = await post(dg, body);
      assert.deepEqual(expectSpec('POST', PATH, r, status), b2cError(r.id, code, neutral, developerMessage), JSON.stringify(body).slice(0, 60));
    }
    const t = await raw(dg.gw.url, 'POST', PATH, { body: JSON.stringify(SAMPLE), headers: { 'content-type': 'text/plain', authorization: `Bearer ${TOKEN}` } });
    assert.equal(expectSpec('POST', PATH, t, 415).code, 'unsupported_media_type');
    const u16 = await raw(dg.gw.url, 'POST', PATH, { body: JSON.stringify(SAMPLE), headers: { 'content-type': 'application/json; charset=utf-16', authorization: `Bearer ${TOKEN}` } });
    assert.equal(expectSpec('POST', PATH, u16, 415).code, 'unsupported_media_type');
    // Not valid UTF-8 (a lone 0xFF in the password): malformed_json, in B2C's shape, never verified as U+FFFD.
    const bytes = Buffer.concat([Buffer.from('{"email":"user@contoso.com","password":"value'), Buffer.from([0xff]), Buffer.from('"}')]);
    const notUtf8 = await raw(dg.gw.url, 'POST', PATH, { body: bytes, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'x-request-id': 'b2c-not-utf8' } });
    assert.deepEqual(expectSpec('POST', PATH, notUtf8, 400), b2cError('b2c-not-utf8', 'malformed_json', neutral, 'The body is not valid JSON.'));
  });

  test('a missing or wrong bearer token is 401 before the body is read, in the gateway\'s own error shape', async () => {
    for (const headers of <Record<string, string>[]>[{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }, { 'x-functions-key': TOKEN }]) {
      const r = await post(dg, SAMPLE, headers);
      expectSpec('POST', PATH, r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    }
    const r = await post(dg, '{"broken', {});
    expectSpec('POST', PATH, r, 401, 'unauthorized');
  });

  test('failures here count against the account\'s budget at /v1/credentials/verify, and the other way round', async () => {
    const token = await dg.gw.token();
    const verify = (password: string) =>
      raw(dg.gw.url, 'POST', '/v1/credentials/verify', {
        body: JSON.stringify({ login: 'richard@example.com', password }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
    // max 4: two wrong here (by username), two at /v1 (by email): the account is at its limit.
    for (let i = 0; i < 2; i++) assert.equal(expectSpec('POST', PATH, await post(dg, { email: 'johnny123', password: `wrong-${i}` }), 409).code, 'invalid_credentials');
    for (let i = 0; i < 2; i++) expectSpec('POST', '/v1/credentials/verify', await verify(`wrong-${i}`), 401, 'invalid_credentials');
    const limited = await post(dg, { email: 'Richard@Example.com', password: 'password' });
    const body = expectSpec('POST', PATH, limited, 409);
    const retryAfter = limited.headers.get('retry-after') ?? '';
    assert.match(retryAfter, /^\d+$/);
    assert.deepEqual(body, b2cError(limited.id, 'too_many_attempts', 'Incorrect password', `Too many failed attempts for this login. Try again in ${retryAfter} s.`));
    expectSpec('POST', '/v1/credentials/verify', await verify('password'), 429, 'too_many_attempts');
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('a store outage is 503 store_unavailable (a 5xx: B2C shows its own message) within the query timeout; the door recovers', async () => {
    dg.proxy.cut();
    try {
      const t0 = performance.now();
      const r = await post(dg, { email: 'bob@company.com', password: 'bob-password-1' });
      expectSpec('POST', PATH, r, 503, 'store_unavailable');
      assert.ok(performance.now() - t0 < 3000, 'answered within the bound');
    } finally {
      dg.proxy.resume();
    }
    const ok = await post(dg, { email: 'bob@company.com', password: 'bob-password-1' });
    assert.deepEqual(expectSpec('POST', PATH, ok, 200), SUCCESS);
    assert.deepEqual(await dg.marksEventually(['3']), ['3']);
    await dg.clearMarks();
    const logs = dg.gw.logs.join('');
    assert.ok(!logs.includes('bob-password-1') && !logs.includes(TOKEN), 'neither the password nor the API token is logged');
  });
});

describe('Azure AD B2C door: Basic, mark_on_success false, a custom userMessage', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { azure_b2c: { auth: { basic: BASIC }, mark_on_success: false, user_message: 'Mot de passe incorrect' } } });
  });
  after(async () => dg?.close());

  test('the right pair → 200 and nothing is marked; the configured userMessage on a mismatch; a wrong pair → 401', async () => {
    const r = await post(dg, SAMPLE, basic(BASIC.username, BASIC.password));
    assert.deepEqual(expectSpec('POST', PATH, r, 200), SUCCESS);
    assert.deepEqual(await dg.migratedIds(), []);
    const again = await post(dg, SAMPLE, basic(BASIC.username, BASIC.password));
    assert.deepEqual(expectSpec('POST', PATH, again, 200), SUCCESS, 'not marked: still a match');
    const wrong = await post(dg, { ...SAMPLE, password: 'nope' }, basic(BASIC.username, BASIC.password));
    assert.deepEqual(expectSpec('POST', PATH, wrong, 409), b2cError(wrong.id, 'invalid_credentials', 'Mot de passe incorrect', 'Wrong username or password.'));
    for (const h of [basic(BASIC.username, 'nope-nope-nope-nope'), basic('other', BASIC.password), { authorization: `Bearer ${BASIC.password}` }]) {
      const bad = await post(dg, SAMPLE, h);
      expectSpec('POST', PATH, bad, 401, 'unauthorized');
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    }
  });
});

describe('Azure AD B2C door: one API-key header (AuthenticationType ApiKeyHeader)', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { azure_b2c: { auth: { header: { name: 'x-functions-key', value: FUNCTIONS_KEY } } } } });
  });
  after(async () => dg?.close());

  test('the right key → 200; a missing or wrong one → 401', async () => {
    const r = await post(dg, SAMPLE, { 'x-functions-key': FUNCTIONS_KEY });
    assert.deepEqual(expectSpec('POST', PATH, r, 200), SUCCESS);
    assert.deepEqual(await dg.marksEventually(['5']), ['5']);
    for (const h of <Record<string, string>[]>[{}, { 'x-functions-key': `${FUNCTIONS_KEY}!` }, { authorization: `Bearer ${FUNCTIONS_KEY}` }]) {
      const bad = await post(dg, SAMPLE, h);
      expectSpec('POST', PATH, bad, 401, 'unauthorized');
      assert.match(bad.headers.get('www-authenticate') ?? '', /x-functions-key/);
    }
  });
});

describe('Azure AD B2C door: client certificate (AuthenticationType ClientCertificate) on the gateway\'s HTTPS', { skip }, () => {
  let dg: DoorGateway;
  let pinned: DoorGateway;
  let pki: TestPki;
  const tls = () => ({ cert_file: pki.serverCertFile, key_file: pki.serverKeyFile, client_ca_file: pki.caFile, request_client_cert: true });
  const postTls = (g: DoorGateway, identity: Identity | undefined, body: unknown = SAMPLE) =>
    httpsCall(g.gw.url, 'POST', PATH, { ca: pki.ca, identity, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  before(async () => {
    pki = makePki();
    dg = await startDoorGateway({ front_doors: { azure_b2c: { auth: { client_cert: {} } } }, config: { server: { tls: tls() } } });
    pinned = await startDoorGateway({
      front_doors: { azure_b2c: { auth: { client_cert: { fingerprints_sha256: [pki.client.fingerprint256.toLowerCase()] } } } },
      config: { server: { tls: tls() } },
    });
  });
  after(async () => {
    await dg?.close();
    await pinned?.close();
    pki?.cleanup();
  });

  test('a certificate signed by client_ca_file → 200 over HTTPS; none, or one from another CA → 401', async () => {
    assert.match(dg.gw.url, /^https:/);
    const r = await postTls(dg, pki.client);
    assert.deepEqual(expectSpec('POST', PATH, r, 200), SUCCESS);
    assert.deepEqual(await dg.marksEventually(['5']), ['5']);
    await dg.clearMarks();
    const wrongPassword = await postTls(dg, pki.otherClient, { ...SAMPLE, password: 'nope' });
    assert.equal(expectSpec('POST', PATH, wrongPassword, 409).code, 'invalid_credentials');
    for (const identity of [undefined, pki.stranger]) {
      const bad = await postTls(dg, identity);
      expectSpec('POST', PATH, bad, 401, 'unauthorized');
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Certificate realm=/);
    }
    // Other routes do not need a certificate.
    assert.equal((await httpsCall(dg.gw.url, 'GET', '/healthz', { ca: pki.ca })).status, 200);
  });

  test('with fingerprints_sha256, only the listed certificate passes, even among those the CA signed', async () => {
    const ok = await postTls(pinned, pki.client);
    assert.deepEqual(expectSpec('POST', PATH, ok, 200), SUCCESS);
    for (const identity of [pki.otherClient, pki.stranger, undefined]) {
      const bad = await postTls(pinned, identity);
      expectSpec('POST', PATH, bad, 401, 'unauthorized');
    }
  });
});

describe('Azure AD B2C door: limits.client_requests', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { azure_b2c: { auth: { bearer: TOKEN } } }, config: { limits: { client_requests: { max: 1, window_s: 60 } } } });
  });
  after(async () => dg?.close());

  test("over the door's request rate: 429 in B2C's error shape (B2C shows a 4xx body only in that shape), with Retry-After", async () => {
    assert.deepEqual(expectSpec('POST', PATH, await post(dg, SAMPLE), 200), SUCCESS);
    for (const headers of <Record<string, string>[]>[{ authorization: `Bearer ${TOKEN}` }, {}]) {
      const r = await post(dg, SAMPLE, headers);
      assert.deepEqual(
        expectSpec('POST', PATH, r, 429),
        b2cError(r.id, 'too_many_requests', 'Too many sign-in requests. Try again in a moment.', 'Too many requests from this client. Slow down.'),
      );
      assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    assert.deepEqual(await dg.marksEventually(['5']), ['5']);
  });
});

describe('Azure AD B2C door: behind server.allow_ips', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { azure_b2c: { auth: { bearer: TOKEN } } }, config: { server: { allow_ips: ['192.0.2.0/24'] } } });
  });
  after(async () => dg?.close());

  test('403 forbidden_ip, before the token is even looked at', async () => {
    for (const headers of <Record<string, string>[]>[{ authorization: `Bearer ${TOKEN}` }, {}]) {
      const r = await post(dg, SAMPLE, headers);
      expectSpec('POST', PATH, r, 403, 'forbidden_ip');
    }
  });
});

test('coverage: every documented status of the Azure AD B2C door was produced and validated', { skip }, () => {
  assertCoverage('/v1/idp/azure-b2c');
});
