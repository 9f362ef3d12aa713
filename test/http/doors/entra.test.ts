/**
 * The Entra External ID door (POST /v1/idp/entra/password-submit) on a real PostgreSQL store: Entra's documented
 * OnPasswordSubmit payload with the password in a JWE made here (jose CompactEncrypt to a test RSA key written to a
 * temp file, an unsecured JWT inside as Entra sends it), Entra's bearer token minted by a local issuer, the actions
 * (MigratePassword, Retry, Block) with the nonce echoed, every way the token or the password context can be wrong,
 * an outage as 503, marking, and the failure budget shared with /v1.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CompactEncrypt, SignJWT, UnsecuredJWT } from 'jose';
import { startLocalIssuer, type LocalIssuer } from '../../../src/devtokens.js';
import { ENTRA_AUTHENTICATION_EVENTS_APP_ID } from '../../../src/http/doors/config.js';
import { postgresSkip, startDoorGateway, type DoorGateway } from '../../helpers/doors.js';
import { assertCoverage, expectSpec, raw, type Res } from '../../helpers/openapi.js';

const PATH = '/v1/idp/entra/password-submit';
/** The extension's app registration: the bearer token's audience, and the password context's aud / iss. */
const APP_ID = '55555555-2222-3333-4444-555555555555';
const RESOURCE = `api://gateway.example.com/${APP_ID}`;
const CASEY = { mail: 'casey@contoso.com', password: 'Entra-Pass-1' };

const skip = await postgresSkip();

let dir: string;
let keyFile: string;
let publicKey: KeyObject;
let entra: LocalIssuer;
let stranger: LocalIssuer;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'lg-entra-'));
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  publicKey = pair.publicKey;
  keyFile = path.join(dir, 'entra-jwe.pem');
  writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(path.join(dir, 'pkcs1.pem'), pair.privateKey.export({ type: 'pkcs1', format: 'pem' }));
  entra = await startLocalIssuer(APP_ID, 'entra');
  stranger = await startLocalIssuer(APP_ID, 'entra');
});
after(async () => {
  await entra?.close();
  await stranger?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const entraDoorConfig = (extra: Record<string, unknown> = {}) => ({
  auth: { jwt: { issuer: entra.issuer, audience: APP_ID, jwks_uri: entra.jwksUri, allow_insecure_http: true } },
  decryption_key_file: keyFile,
  ...extra,
});

/** Entra's token: issued for the extension's app, by Microsoft's authentication events service (azp). */
const entraToken = (claims: Record<string, unknown> = {}) => entra.mint({ azp: ENTRA_AUTHENTICATION_EVENTS_APP_ID, ...claims });

/** The decrypted password context as documented: aud (app id), iss (identifier URI), iat/nbf/exp, password, nonce. */
function context(password: string, nonce: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { aud: APP_ID, iss: RESOURCE, iat: now, nbf: now, exp: now + 600, 'user-password': password, username: CASEY.mail, nonce, ...extra };
}

/** encryptedPasswordContext: an unsecured JWT (or bare JSON) in a compact JWE, RSA-OAEP + A128CBC-HS256 + DEF by default. */
async function seal(claims: Record<string, unknown>, opts: { alg?: string; enc?: string; zip?: boolean; key?: KeyObject | Uint8Array; inner?: string } = {}): Promise<string> {
  const inner = opts.inner ?? new UnsecuredJWT(claims).encode();
  const header = { alg: opts.alg ?? 'RSA-OAEP', enc: opts.enc ?? 'A128CBC-HS256', ...(opts.zip === false ? {} : { zip: 'DEF' }) };
  return new CompactEncrypt(new TextEncoder().encode(inner)).setProtectedHeader(header).encrypt(opts.key ?? publicKey);
}

/** Entra's documented onPasswordSubmitCalloutData. */
function event(encryptedPasswordContext: unknown, user: Record<string, unknown> = { id: '00aa00aa-bb11-cc22-dd33-44ee44ee44ee', mail: CASEY.mail, userPrincipalName: CASEY.mail }) {
  return {
    type: 'microsoft.graph.authenticationEvent.passwordSubmit',
    source: `/tenants/aaaabbbb-0000-cccc-1111-dddd2222eeee/applications/${APP_ID}`,
    data: {
      '@odata.type': 'microsoft.graph.onPasswordSubmitCalloutData',
      tenantId: 'aaaabbbb-0000-cccc-1111-dddd2222eeee',
      authenticationEventListenerId: '11112222-bbbb-3333-cccc-4444dddd5555',
      customAuthenticationExtensionId: '22223333-cccc-4444-dddd-5555eeee6666',
      encryptedPasswordContext,
      authenticationContext: {
        correlationId: 'aaaa0000-bb11-2222-33cc-444444dddddd',
        client: { ip: '127.0.0.1', locale: 'en-us', market: 'en-us' },
        protocol: 'OAUTH2.0',
        clientServicePrincipal: { id: 'aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb', appId: '00001111-aaaa-2222-bbbb-3333cccc4444', appDisplayName: 'My Test application', displayName: 'My Test application' },
        user: { companyName: 'Casey Jensen', displayName: 'Casey Jensen', givenName: 'Casey', surname: 'Jensen', userType: 'Member', ...user },
      },
    },
  };
}

async function post(dg: DoorGateway, body: unknown, token?: string | null, headers: Record<string, string> = {}): Promise<Res> {
  const bearer = token === undefined ? await entraToken() : token;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return raw(dg.gw.url, 'POST', PATH, { body: text, headers: { 'content-type': 'application/json', ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }), ...headers } });
}

/** One password submission for `login` (the user's mail) with `password`. */
async function submit(dg: DoorGateway, mail: string, password: string, nonce = randomUUID()): Promise<{ r: Res; nonce: string }> {
  const r = await post(dg, event(await seal(context(password, nonce)), { id: randomUUID(), mail, userPrincipalName: `${randomUUID()}@contoso.onmicrosoft.com` }));
  return { r, nonce };
}

const verdict = (action: string, nonce: string, extra: Record<string, string> = {}) => ({
  data: { '@odata.type': 'microsoft.graph.onPasswordSubmitResponseData', actions: [{ '@odata.type': `microsoft.graph.passwordSubmit.${action}`, ...extra }], nonce },
});
const BLOCKED = { title: 'Sign-in blocked', message: 'This account is disabled. Contact support.' };

describe('Entra door', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { entra: entraDoorConfig() }, config: { limits: { login_failures: { max: 4, window_s: 900 } } } });
  });
  after(async () => dg?.close());

  test("Entra's documented payload with the right password → MigratePassword with the nonce echoed, and the user is marked migrated", async () => {
    await dg.clearMarks();
    const nonce = 'd7c30ed9-2d8e-40c9-aee8-a205e9734308';
    const r = await post(dg, event(await seal(context(CASEY.password, nonce))));
    assert.deepEqual(expectSpec('POST', PATH, r, 200), verdict('MigratePassword', nonce));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await dg.marksEventually(['6']), ['6']);
    // Entra stores the password and never calls again; should it, the migrated user is no longer a match.
    const again = await submit(dg, CASEY.mail, CASEY.password);
    assert.deepEqual(expectSpec('POST', PATH, again.r, 200), verdict('Retry', again.nonce));
    await dg.clearMarks();
    const logs = dg.gw.logs.join('');
    assert.ok(!logs.includes(CASEY.password), 'the password is never logged');
    assert.ok(!logs.includes('eyJ'), 'no token or JWE is logged');
  });

  test('other accepted encryptions: RSA-OAEP-256 with A256GCM, A256CBC-HS512, no compression, a bare JSON plaintext, no aud/iss/exp', async () => {
    const variants: [string, () => Promise<string>][] = [
      ['RSA-OAEP-256 A256GCM', () => seal(context(CASEY.password, 'n1'), { alg: 'RSA-OAEP-256', enc: 'A256GCM', zip: false })],
      ['RSA-OAEP A256CBC-HS512', () => seal(context(CASEY.password, 'n2'), { enc: 'A256CBC-HS512' })],
      ['bare JSON', () => seal({}, { inner: JSON.stringify(context(CASEY.password, 'n3')) })],
      ['only password and nonce', () => seal({ 'user-password': CASEY.password, nonce: 'n4' })],
    ];
    for (const [what, make] of variants) {
      const r = await post(dg, event(await make()));
      const body = expectSpec('POST', PATH, r, 200);
      assert.equal(body.data.actions[0]['@odata.type'], 'microsoft.graph.passwordSubmit.MigratePassword', what);
      assert.match(body.data.nonce, /^n\d$/, what);
      assert.deepEqual(await dg.marksEventually(['6']), ['6'], what);
      await dg.clearMarks();
    }
  });

  test('wrong password, unknown user, ambiguous email → Retry; a legacy account that is disabled → Block with a title and message', async () => {
    for (const [mail, password] of [
      [CASEY.mail, 'entra-pass-1'],
      [CASEY.mail, `${CASEY.password} `],
      ['nobody@contoso.com', CASEY.password],
      ['dup@example.com', 'dup-one-pass'],
    ] as const) {
      const { r, nonce } = await submit(dg, mail, password);
      assert.deepEqual(expectSpec('POST', PATH, r, 200), verdict('Retry', nonce), mail);
    }
    const { r, nonce } = await submit(dg, 'blocked@example.com', 'blocked-pass');
    assert.deepEqual(expectSpec('POST', PATH, r, 200), verdict('Block', nonce, BLOCKED));
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test("the login is the user's mail; userPrincipalName only when mail is absent or null", async () => {
    // The usual External ID user: UPN <object id>@<tenant>.onmicrosoft.com, mail the address the legacy store knows.
    const upn = `${randomUUID()}@contoso.onmicrosoft.com`;
    const r1 = await post(dg, event(await seal(context(CASEY.password, 'a')), { id: 'x', mail: CASEY.mail, userPrincipalName: upn }));
    assert.deepEqual(expectSpec('POST', PATH, r1, 200), verdict('MigratePassword', 'a'));
    assert.deepEqual(await dg.marksEventually(['6']), ['6']);
    await dg.clearMarks();
    const r2 = await post(dg, event(await seal(context(CASEY.password, 'b')), { id: 'x', mail: null, userPrincipalName: CASEY.mail }));
    assert.deepEqual(expectSpec('POST', PATH, r2, 200), verdict('MigratePassword', 'b'));
    assert.deepEqual(await dg.marksEventually(['6']), ['6']);
    await dg.clearMarks();
    const r3 = await post(dg, event(await seal(context(CASEY.password, 'c')), { id: 'x', userPrincipalName: 'casey' }));
    assert.deepEqual(expectSpec('POST', PATH, r3, 200), verdict('MigratePassword', 'c'), 'a username works as the legacy login too');
    assert.deepEqual(await dg.marksEventually(['6']), ['6']);
    await dg.clearMarks();
    const r4 = await post(dg, event(await seal(context(CASEY.password, 'd')), { id: 'x', mail: CASEY.mail.toUpperCase(), userPrincipalName: 'someone-else@example.com' }));
    assert.deepEqual(expectSpec('POST', PATH, r4, 200), verdict('MigratePassword', 'd'), 'mail wins over userPrincipalName');
    assert.deepEqual(await dg.marksEventually(['6']), ['6']);
    await dg.clearMarks();
  });

  test('a token that is missing, for another audience, from another issuer, expired, or not from the authentication events service → 401', async () => {
    const body = event(await seal(context(CASEY.password, 'n')));
    const cases: [string, string | null][] = [
      ['none', null],
      ['not a JWT', 'abc.def'],
      ['another audience', await entraToken({ aud: 'api://someone-else' })],
      ['another issuer', await stranger.mint({ azp: ENTRA_AUTHENTICATION_EVENTS_APP_ID })],
      ['expired', await entraToken({ exp: Math.floor(Date.now() / 1000) - 3600 })],
      ['another calling app (azp)', await entraToken({ azp: '00001111-aaaa-2222-bbbb-3333cccc4444' })],
      ['another calling app (v1 appid)', await entraToken({ azp: undefined, appid: '00001111-aaaa-2222-bbbb-3333cccc4444' })],
      ['no azp or appid', await entraToken({ azp: undefined })],
    ];
    for (const [what, token] of cases) {
      const r = await post(dg, body, token);
      expectSpec('POST', PATH, r, 401, 'invalid_token');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="legacy-gateway"/, what);
    }
    // Not even a malformed body gets past the door without a valid token.
    expectSpec('POST', PATH, await post(dg, '{"broken', null), 401, 'invalid_token');
    // A v1 token names the caller in appid.
    const v1 = await post(dg, event(await seal(context(CASEY.password, 'v1'))), await entraToken({ azp: undefined, appid: ENTRA_AUTHENTICATION_EVENTS_APP_ID }));
    assert.deepEqual(expectSpec('POST', PATH, v1, 200), verdict('MigratePassword', 'v1'));
    assert.deepEqual(await dg.marksEventually(['6']), ['6']);
    await dg.clearMarks();
  });

  test('a password context that is tampered with, for another key or application, stale, or incomplete → 400, never 5xx', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = await seal(context(CASEY.password, 'n'));
    const parts = good.split('.');
    const flip = (s: string) => (s[5] === 'A' ? `${s.slice(0, 5)}B${s.slice(6)}` : `${s.slice(0, 5)}A${s.slice(6)}`);
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const signer = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const signedInner = await new SignJWT(context(CASEY.password, 'n')).setProtectedHeader({ alg: 'RS256' }).sign(signer);
    const cases: [string, unknown, string][] = [
      ['tampered ciphertext', [parts[0], parts[1], parts[2], flip(parts[3]!), parts[4]].join('.'), 'cannot be decrypted with the configured key (decryption_key_file)'],
      ['tampered tag', [parts[0], parts[1], parts[2], parts[3], flip(parts[4]!)].join('.'), 'cannot be decrypted with the configured key (decryption_key_file)'],
      ['tampered header', [flip(parts[0]!), ...parts.slice(1)].join('.'), 'is not a valid compact JWE'],
      ['encrypted to another key', await seal(context(CASEY.password, 'n'), { key: otherKey }), 'cannot be decrypted with the configured key (decryption_key_file)'],
      ['symmetric "dir"', await seal(context(CASEY.password, 'n'), { alg: 'dir', enc: 'A256GCM', key: randomBytes(32) }), 'its algorithms are not accepted (alg RSA-OAEP/RSA-OAEP-256/RSA-OAEP-384/RSA-OAEP-512, enc AES-CBC-HMAC or AES-GCM)'],
      ['AES key wrap', await seal(context(CASEY.password, 'n'), { alg: 'A256KW', enc: 'A256GCM', key: randomBytes(32) }), 'its algorithms are not accepted (alg RSA-OAEP/RSA-OAEP-256/RSA-OAEP-384/RSA-OAEP-512, enc AES-CBC-HMAC or AES-GCM)'],
      ['a signed JWS instead of a JWE', signedInner, 'must be a compact JWE (five dot-separated parts)'],
      ['a signed inner token', await seal({}, { inner: signedInner }), 'the decrypted content is neither an unsecured JWT ("alg":"none") nor a JSON object'],
      ['plaintext that is not JSON', await seal({}, { inner: 'user-password=x' }), 'the decrypted content is neither an unsecured JWT ("alg":"none") nor a JSON object'],
      ['a JSON array', await seal({}, { inner: '[1]' }), 'the decrypted content is neither an unsecured JWT ("alg":"none") nor a JSON object'],
      ['expired', await seal(context(CASEY.password, 'n', { exp: now - 3600 })), 'expired (exp)'],
      ['not valid yet', await seal(context(CASEY.password, 'n', { nbf: now + 3600 })), 'not valid yet (nbf)'],
      ['for another application', await seal(context(CASEY.password, 'n', { aud: 'another-app', iss: 'api://another.example.com/another-app' })), 'made for another application: neither its aud nor its iss is one of front_doors.entra.auth.jwt.audience'],
      ['no nonce', await seal(context(CASEY.password, 'n', { nonce: undefined })), 'nonce is missing or not a string'],
      ['an empty nonce', await seal(context(CASEY.password, '')), 'nonce is missing or not a string'],
      ['a numeric nonce', await seal(context(CASEY.password, 'n', { nonce: 42 })), 'nonce is missing or not a string'],
      ['no password', await seal(context(CASEY.password, 'n', { 'user-password': undefined })), 'user-password: required'],
      ['an empty password', await seal(context('', 'n')), 'user-password: must not be empty'],
      ['a number', 42, 'must be a compact JWE string'],
      ['missing', undefined, 'required'],
      ['three parts', 'a.b.c', 'must be a compact JWE (five dot-separated parts)'],
      ['five empty parts', '....', 'is not a valid compact JWE'],
    ];
    for (const [what, ctx, message] of cases) {
      const r = await post(dg, event(ctx));
      assert.deepEqual(expectSpec('POST', PATH, r, 400, 'invalid_request'), { error: 'invalid_request', message: `data.encryptedPasswordContext: ${message}` }, what);
    }
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('a body that is not what Entra sends → 400/413/415 with a stable code, never 5xx', async () => {
    const ctx = await seal(context(CASEY.password, 'n'));
    const cases: [unknown, number, string, string?][] = [
      ['{"data":', 400, 'malformed_json'],
      ['[]', 400, 'invalid_request', 'The body must be a JSON object.'],
      [{}, 400, 'invalid_request', 'data.authenticationContext.user.userPrincipalName: required'],
      [event(ctx, { id: 'x' }), 400, 'invalid_request', 'data.authenticationContext.user.userPrincipalName: required'],
      [event(ctx, { id: 'x', mail: 42 }), 400, 'invalid_request', 'data.authenticationContext.user.mail: must be a string'],
      [event(ctx, { id: 'x', mail: '  ' }), 400, 'invalid_request', 'data.authenticationContext.user.mail: must not be empty'],
      [{ ...event(ctx), padding: 'x'.repeat(20_000) }, 413, 'payload_too_large'],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await post(dg, body);
      const got = expectSpec('POST', PATH, r, status, code);
      if (message) assert.equal(got.message, message);
    }
    const t = await post(dg, JSON.stringify(event(ctx)), undefined, { 'content-type': 'text/plain' });
    expectSpec('POST', PATH, t, 415, 'unsupported_media_type');
  });

  test('failures here count against the account\'s budget at /v1/credentials/verify; past it, Block (not Retry)', async () => {
    const token = await dg.gw.token();
    const verify = (password: string) =>
      raw(dg.gw.url, 'POST', '/v1/credentials/verify', {
        body: JSON.stringify({ login: 'johnny123', password }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
    // max 4: two wrong here (by mail), two at /v1 (by username): the account is at its limit.
    for (let i = 0; i < 2; i++) {
      const { r, nonce } = await submit(dg, 'richard@example.com', `wrong-${i}`);
      assert.deepEqual(expectSpec('POST', PATH, r, 200), verdict('Retry', nonce));
    }
    for (let i = 0; i < 2; i++) expectSpec('POST', '/v1/credentials/verify', await verify(`wrong-${i}`), 401, 'invalid_credentials');
    const { r, nonce } = await submit(dg, 'richard@example.com', 'password');
    const body = expectSpec('POST', PATH, r, 200);
    const message = String(body.data.actions[0].message);
    assert.match(message, /^Too many failed sign-in attempts\. Try again in \d+ minute\(s\)\.$/);
    assert.deepEqual(body, verdict('Block', nonce, { title: 'Too many attempts', message }));
    expectSpec('POST', '/v1/credentials/verify', await verify('password'), 429, 'too_many_attempts');
    assert.deepEqual(await dg.migratedIds(), []);
  });

  test('a store outage is 503 store_unavailable within the query timeout, never a verdict or a 500; the door recovers', async () => {
    dg.proxy.cut();
    try {
      const t0 = performance.now();
      const { r } = await submit(dg, 'bob@company.com', 'bob-password-1');
      expectSpec('POST', PATH, r, 503, 'store_unavailable');
      assert.ok(performance.now() - t0 < 3000, 'answered within the bound');
    } finally {
      dg.proxy.resume();
    }
    const { r, nonce } = await submit(dg, 'bob@company.com', 'bob-password-1');
    assert.deepEqual(expectSpec('POST', PATH, r, 200), verdict('MigratePassword', nonce));
    assert.deepEqual(await dg.marksEventually(['3']), ['3']);
    await dg.clearMarks();
  });
});

describe('Entra door: mark_on_success false, a PKCS#1 key file, authorized_parties of its own', { skip }, () => {
  let dg: DoorGateway;
  const MY_TEST_APP = 'ffffffff-1111-2222-3333-444444444444';
  before(async () => {
    dg = await startDoorGateway({
      front_doors: { entra: entraDoorConfig({ decryption_key_file: path.join(dir, 'pkcs1.pem'), mark_on_success: false, authorized_parties: [ENTRA_AUTHENTICATION_EVENTS_APP_ID, MY_TEST_APP] }) },
    });
  });
  after(async () => dg?.close());

  test('MigratePassword, and nothing is marked (still a match next time); a listed test app may call too', async () => {
    for (const azp of [ENTRA_AUTHENTICATION_EVENTS_APP_ID, MY_TEST_APP]) {
      const r = await post(dg, event(await seal(context(CASEY.password, azp))), await entraToken({ azp }));
      assert.deepEqual(expectSpec('POST', PATH, r, 200), verdict('MigratePassword', azp));
    }
    assert.deepEqual(await dg.migratedIds(), []);
  });
});

describe('Entra door: the decryption key is checked when the door is built', { skip }, () => {
  const startWith = async (file: string): Promise<string> => {
    try {
      const dg = await startDoorGateway({ front_doors: { entra: entraDoorConfig({ decryption_key_file: file }) } });
      await dg.close();
    } catch (e) {
      assert.equal((e as Error).name, 'ConfigError', (e as Error).message);
      return (e as Error).message;
    }
    assert.fail('the gateway started');
  };

  test('unreadable, not a key, not RSA, too short: a clear error naming the setting, never the contents', async () => {
    const missing = path.join(dir, 'nope.pem');
    assert.match(await startWith(missing), /front_doors\.entra\.decryption_key_file: cannot read .*nope\.pem \(ENOENT\)/);
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldC1zZWNyZXQ=\n-----END PRIVATE KEY-----\n');
    const m = await startWith(junk);
    assert.match(m, /front_doors\.entra\.decryption_key_file: .*junk\.pem is not an unencrypted PEM private key/);
    assert.ok(!m.includes('c2VjcmV0'), m);
    const ec = path.join(dir, 'ec.pem');
    writeFileSync(ec, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.match(await startWith(ec), /must hold an RSA private key, not ec/);
    const short = path.join(dir, 'short.pem');
    writeFileSync(short, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.match(await startWith(short), /holds a 1024-bit RSA key; at least 2048 bits are required/);
    const locked = path.join(dir, 'locked.pem');
    writeFileSync(locked, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass-phrase' }));
    assert.match(await startWith(locked), /is not an unencrypted PEM private key/);
  });
});

describe('Entra door: limits.client_requests', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { entra: entraDoorConfig() }, config: { limits: { client_requests: { max: 1, window_s: 60 } } } });
  });
  after(async () => dg?.close());

  test("over the door's request rate: 429 too_many_requests with Retry-After, before the token is looked at", async () => {
    const { r, nonce } = await submit(dg, CASEY.mail, CASEY.password);
    assert.deepEqual(expectSpec('POST', PATH, r, 200), verdict('MigratePassword', nonce));
    for (const token of [undefined, null]) {
      const limited = await post(dg, event('x'), token);
      expectSpec('POST', PATH, limited, 429, 'too_many_requests');
      assert.match(limited.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    }
    assert.deepEqual(await dg.marksEventually(['6']), ['6']);
  });
});

describe('Entra door: behind server.allow_ips', { skip }, () => {
  let dg: DoorGateway;
  before(async () => {
    dg = await startDoorGateway({ front_doors: { entra: entraDoorConfig() }, config: { server: { allow_ips: ['192.0.2.0/24'] } } });
  });
  after(async () => dg?.close());

  test('403 forbidden_ip, before the token is even looked at', async () => {
    for (const token of [undefined, null]) {
      const r = await post(dg, event('x'), token);
      expectSpec('POST', PATH, r, 403, 'forbidden_ip');
    }
  });
});

test('coverage: every documented status of the Entra door was produced and validated', { skip }, () => {
  assertCoverage('/v1/idp/entra');
});
