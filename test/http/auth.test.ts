/**
 * Token rules (DESIGN.md §2 "Tokens") proven with real signed tokens against a real gateway on loopback:
 * every refusal gives the right status, body code and WWW-Authenticate header, and a valid token gets through,
 * so the refusals are about the token and nothing else.
 */
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { call, rawRequest, startTestGateway, type ApiResponse, type TestGateway } from '../helpers/harness.js';

const VERIFY = '/v1/credentials/verify';
const ALICE = { login: 'alice@example.com', password: 'correct horse battery staple' };
const now = () => Math.floor(Date.now() / 1000);

/** Every token sent in this file, to prove none is ever echoed in a log line. */
const sentTokens = new Set<string>();
const gateways: TestGateway[] = [];

async function verifyWith(gw: TestGateway, token: string | undefined, headers?: Record<string, string>): Promise<ApiResponse> {
  if (token) sentTokens.add(token);
  return call(gw.url, 'POST', VERIFY, { token, body: ALICE, headers });
}

/** The one error shape, no internals, and no part of the token reflected anywhere in the response. */
function assertErrorBody(r: ApiResponse, status: number, code: string, token?: string): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(r.json && typeof r.json === 'object', `body is not JSON: ${r.text}`);
  assert.deepEqual(Object.keys(r.json).sort(), ['error', 'message']);
  assert.equal(r.json.error, code);
  assert.equal(typeof r.json.message, 'string');
  assert.ok(r.json.message.length > 0);
  // No stack trace, no library internals.
  assert.doesNotMatch(r.text, /\n\s*at\s|\bat\s+\S+\s+\(|node_modules|\.[cm]?[jt]s:\d+/);
  assert.doesNotMatch(r.text, /"stack"|\w+Error\b|JWS|JWKS|jose|Unexpected '|signature verification/i);
  const www = r.headers.get('www-authenticate') ?? '';
  if (token) {
    const parts = [token, ...token.split('.').filter((p) => p.length >= 8)];
    for (const p of parts) {
      assert.ok(!r.text.includes(p), 'token echoed in the body');
      assert.ok(!www.includes(p), 'token echoed in WWW-Authenticate');
    }
  }
}

function assertInvalidToken(r: ApiResponse, token?: string, { errorCodeInChallenge = true } = {}): void {
  assertErrorBody(r, 401, 'invalid_token', token);
  const www = r.headers.get('www-authenticate') ?? '';
  assert.match(www, /^Bearer\b/, `WWW-Authenticate: ${www}`);
  if (errorCodeInChallenge) assert.match(www, /error="invalid_token"/, `WWW-Authenticate: ${www}`);
}

function assertInsufficientScope(r: ApiResponse, token?: string): void {
  assertErrorBody(r, 403, 'insufficient_scope', token);
  const www = r.headers.get('www-authenticate') ?? '';
  assert.match(www, /^Bearer\b/, `WWW-Authenticate: ${www}`);
  assert.match(www, /insufficient_scope/, `WWW-Authenticate: ${www}`);
}

function assertOk(r: ApiResponse, status = 200): void {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
}

const b64json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Default claims the gateway under test would accept (what devtokens' mint would put in). */
function goodClaims(gw: TestGateway, over: Record<string, unknown> = {}): Record<string, unknown> {
  const t = now();
  return {
    iss: gw.issuer.issuer,
    aud: gw.issuer.audience,
    sub: 'test-client@clients',
    azp: 'test-client',
    gty: 'client-credentials',
    scope: 'verify:credentials read:users migrate:users read:migration',
    iat: t,
    exp: t + 3600,
    ...over,
  };
}

/** A JWKS served on loopback; keys can be added after start. */
async function startJwks(): Promise<{ url: string; keys: JWK[]; close(): Promise<void> }> {
  const keys: JWK[] = [];
  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    keys,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function start(opts: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  const gw = await startTestGateway({ logLevel: 'debug', ...opts });
  gateways.push(gw);
  return gw;
}

let gw: TestGateway;

before(async () => {
  gw = await start();
});

after(async () => {
  await Promise.all(gateways.map((g) => g.close()));
});

describe('positive control', () => {
  test('a valid RS256 token with verify:credentials gets 200 and the profile', async () => {
    const token = await gw.issuer.mint();
    const r = await verifyWith(gw, token);
    assertOk(r);
    assert.equal(r.json.user.user_id, 'legacy|1');
    assert.equal(r.json.user.email, 'alice@example.com');
  });

  test('a token whose exp is in the past but within the clock tolerance is still accepted', async () => {
    const token = await gw.issuer.mint({ iat: now() - 600, exp: now() - 1 });
    assertOk(await verifyWith(gw, token));
  });

  test('a token whose nbf is in the future but within the clock tolerance is accepted', async () => {
    const token = await gw.issuer.mint({ nbf: now() + 1 });
    assertOk(await verifyWith(gw, token));
  });
});

describe('missing or malformed Authorization', () => {
  test('no Authorization header: 401 invalid_token, WWW-Authenticate starts with Bearer', async () => {
    const r = await verifyWith(gw, undefined);
    assertInvalidToken(r, undefined, { errorCodeInChallenge: false });
  });

  for (const [name, value] of [
    ['garbage token', 'Bearer garbage'],
    ['three dot-separated garbage parts', 'Bearer aaaa.bbbb.cccc'],
    ['base64url JSON but not a JWS', `Bearer ${b64json({ alg: 'RS256' })}.${b64json({ sub: 'x' })}`],
    ['empty bearer value', 'Bearer '],
    ['Bearer with two values', 'Bearer abc def'],
    ['Basic auth header', `Basic ${Buffer.from('test-client:secret').toString('base64')}`],
    ['Basic auth with the demo user credentials', `Basic ${Buffer.from(`${ALICE.login}:${ALICE.password}`).toString('base64')}`],
  ] as const) {
    test(`${name}: 401 invalid_token`, async () => {
      const r = await verifyWith(gw, undefined, { authorization: value });
      assertInvalidToken(r, undefined, { errorCodeInChallenge: false });
      const credential = value.slice(value.indexOf(' ') + 1).trim();
      if (credential.length >= 4) assert.ok(!r.text.includes(credential), 'header value echoed');
    });
  }

  test('a valid token under the Basic scheme is refused', async () => {
    const token = await gw.issuer.mint();
    const r = await verifyWith(gw, undefined, { authorization: `Basic ${token}` });
    assertInvalidToken(r, token, { errorCodeInChallenge: false });
  });
});

describe('time claims', () => {
  test('expired (exp 60 s in the past, beyond the 5 s tolerance): 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ iat: now() - 3600, exp: now() - 60 });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('not yet valid (nbf 60 s in the future): 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ nbf: now() + 60 });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('no exp claim at all: 401 invalid_token', async () => {
    const claims = goodClaims(gw);
    delete claims.exp;
    const token = await new SignJWT(claims as JWTPayload)
      .setProtectedHeader({ alg: 'RS256', kid: gw.issuer.kid, typ: 'JWT' })
      .sign(gw.issuer.privateKey);
    assertInvalidToken(await verifyWith(gw, token), token);
  });
});

describe('issuer and audience', () => {
  test('wrong issuer: 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ iss: 'https://evil.example/' });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('issuer differing only by the trailing slash: 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ iss: gw.issuer.issuer.replace(/\/$/, '') });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('wrong audience: 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ aud: 'https://some-other-api.example' });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('audience list without this API: 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ aud: ['https://a.example', 'https://b.example'] });
    assertInvalidToken(await verifyWith(gw, token), token);
  });
});

describe('signature and algorithm attacks', () => {
  for (const alg of ['none', 'None', 'NONE']) {
    test(`unsigned token (alg "${alg}", empty signature): 401 invalid_token`, async () => {
      const token = `${b64json({ alg, typ: 'JWT' })}.${b64json(goodClaims(gw))}.`;
      assertInvalidToken(await verifyWith(gw, token), token);
      const withKid = `${b64json({ alg, typ: 'JWT', kid: gw.issuer.kid })}.${b64json(goodClaims(gw))}.`;
      assertInvalidToken(await verifyWith(gw, withKid), withKid);
    });
  }

  test('HS256 signed with the RSA public key (PEM, DER, JWK, n) as the HMAC secret: 401 invalid_token', async () => {
    const pub = createPublicKey({ key: gw.issuer.publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    const spkiPem = pub.export({ type: 'spki', format: 'pem' }) as string;
    const pkcs1Pem = pub.export({ type: 'pkcs1', format: 'pem' }) as string;
    const secrets: Record<string, Uint8Array> = {
      'SPKI PEM': Buffer.from(spkiPem),
      'SPKI PEM without trailing newline': Buffer.from(spkiPem.trimEnd()),
      'PKCS#1 PEM': Buffer.from(pkcs1Pem),
      'SPKI DER': pub.export({ type: 'spki', format: 'der' }),
      'JWK JSON': Buffer.from(JSON.stringify(gw.issuer.publicJwk)),
      'JWK n (base64url text)': Buffer.from(String(gw.issuer.publicJwk.n)),
      'JWK n (bytes)': Buffer.from(String(gw.issuer.publicJwk.n), 'base64url'),
    };
    for (const [name, secret] of Object.entries(secrets)) {
      for (const alg of ['HS256', 'HS512']) {
        const token = await gw.issuer.mint({}, { alg, key: secret, kid: gw.issuer.kid });
        // The forged token really is a valid HMAC token for that secret: the refusal is the gateway's doing.
        await jwtVerify(token, secret, { algorithms: [alg] });
        const r = await verifyWith(gw, token);
        assert.equal(r.status, 401, `${alg} with ${name}: ${r.status} ${r.text}`);
        assertInvalidToken(r, token);
      }
    }
    // The same forgery built by hand with node:crypto (no library help on the signing side).
    const header = b64json({ alg: 'HS256', typ: 'JWT', kid: gw.issuer.kid });
    const payload = b64json(goodClaims(gw));
    const sig = createHmac('sha256', spkiPem).update(`${header}.${payload}`).digest('base64url');
    const manual = `${header}.${payload}.${sig}`;
    assertInvalidToken(await verifyWith(gw, manual), manual);
  });

  test('signed by a different RSA key with an unknown kid: 401 invalid_token', async () => {
    const other = await generateKeyPair('RS256');
    const token = await gw.issuer.mint({}, { key: other.privateKey, kid: `attacker-${randomUUID()}` });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('signed by a different RSA key but with the REAL kid: 401 invalid_token', async () => {
    const other = await generateKeyPair('RS256');
    const token = await gw.issuer.mint({}, { key: other.privateKey, kid: gw.issuer.kid });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('a valid token with one payload claim altered after signing: 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ scope: 'read:users' });
    const [h, , s] = token.split('.');
    const tampered = `${h}.${b64json(goodClaims(gw, { scope: 'verify:credentials' }))}.${s}`;
    assertInvalidToken(await verifyWith(gw, tampered), tampered);
  });

  test('a valid token with its signature stripped: 401 invalid_token', async () => {
    const token = await gw.issuer.mint();
    const stripped = token.slice(0, token.lastIndexOf('.') + 1);
    assertInvalidToken(await verifyWith(gw, stripped), stripped);
  });
});

describe('subject and client rules', () => {
  test('user subject (sub "auth0|123"): 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ sub: 'auth0|123' });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('no sub claim: 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ sub: undefined });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('"@clients" only as a substring, not the suffix: 401 invalid_token', async () => {
    const token = await gw.issuer.mint({ sub: 'auth0|x@clients.evil' });
    assertInvalidToken(await verifyWith(gw, token), token);
  });

  test('require_client_subject: false lets a user subject through', async () => {
    const relaxed = await start({ config: { auth: { require_client_subject: false } } });
    const token = await relaxed.issuer.mint({ sub: 'auth0|123' });
    assertOk(await verifyWith(relaxed, token));
    // ...but every other rule still holds there.
    const wrongAud = await relaxed.issuer.mint({ sub: 'auth0|123', aud: 'https://other.example' });
    assertInvalidToken(await verifyWith(relaxed, wrongAud), wrongAud);
  });

  describe('auth.clients allow-list', () => {
    let cgw: TestGateway;
    before(async () => {
      cgw = await start({ config: { auth: { clients: ['allowed-client'] } } });
    });

    test('azp "test-client" (not listed): 401 invalid_token', async () => {
      const token = await cgw.issuer.mint();
      assertInvalidToken(await verifyWith(cgw, token), token);
    });

    test('azp "allowed-client", sub "allowed-client@clients": 200', async () => {
      const token = await cgw.issuer.mint({ azp: 'allowed-client', sub: 'allowed-client@clients' });
      assertOk(await verifyWith(cgw, token));
    });

    test('client_id "allowed-client" (no azp): 200', async () => {
      const token = await cgw.issuer.mint({ azp: undefined, client_id: 'allowed-client', sub: 'allowed-client@clients' });
      assertOk(await verifyWith(cgw, token));
    });

    test('no azp/client_id, client id from sub "allowed-client@clients": 200', async () => {
      const token = await cgw.issuer.mint({ azp: undefined, sub: 'allowed-client@clients' });
      assertOk(await verifyWith(cgw, token));
    });

    test('no azp/client_id, sub "other-client@clients": 401 invalid_token', async () => {
      const token = await cgw.issuer.mint({ azp: undefined, sub: 'other-client@clients' });
      assertInvalidToken(await verifyWith(cgw, token), token);
    });

    test('listed client with a user subject is still refused (subject rule): 401 invalid_token', async () => {
      const token = await cgw.issuer.mint({ azp: 'allowed-client', sub: 'auth0|123' });
      assertInvalidToken(await verifyWith(cgw, token), token);
    });

    test('a listed client cannot pass a token from the wrong issuer: 401 invalid_token', async () => {
      const token = await cgw.issuer.mint({ azp: 'allowed-client', sub: 'allowed-client@clients', iss: 'https://evil.example/' });
      assertInvalidToken(await verifyWith(cgw, token), token);
    });
  });
});

describe('algorithm allow-list (RS256/PS256/ES256) with keys published in a JWKS', () => {
  let jwks: Awaited<ReturnType<typeof startJwks>>;
  let agw: TestGateway;
  const keys: Record<string, { privateKey: CryptoKey; privateJwk: JWK; kid: string; alg: string }> = {};

  async function publish(name: string, alg: string, jwkAlg: string | undefined, genOpts?: { crv?: string }): Promise<void> {
    const kp = await generateKeyPair(alg, { extractable: true, ...(genOpts ?? {}) });
    const kid = `${name}-${randomUUID().slice(0, 8)}`;
    const jwk: JWK = { ...(await exportJWK(kp.publicKey)), kid, use: 'sig' };
    if (jwkAlg) jwk.alg = jwkAlg;
    jwks.keys.push(jwk);
    keys[name] = { privateKey: kp.privateKey, privateJwk: await exportJWK(kp.privateKey), kid, alg };
  }

  before(async () => {
    jwks = await startJwks();
    agw = await start({ config: { auth: { jwks_uri: jwks.url } } });
    jwks.keys.push(agw.issuer.publicJwk);
    await publish('ps256', 'PS256', 'PS256');
    await publish('es256', 'ES256', 'ES256');
    await publish('rs512', 'RS512', 'RS512');
    await publish('rsa-any', 'RS256', undefined); // an RSA key with no "alg": the key itself fits every RSA algorithm
    await publish('es384', 'ES384', 'ES384');
    await publish('ed25519', 'EdDSA', 'EdDSA');
  });
  after(async () => jwks.close());

  /** Sign with a published key; WebCrypto keys are bound to one algorithm, so re-import the same key material for another. */
  const mintWith = async (name: string, alg?: string) => {
    const k = keys[name]!;
    const a = alg ?? k.alg;
    const key = a === k.alg ? k.privateKey : ((await importJWK({ ...k.privateJwk, alg: undefined }, a)) as CryptoKey);
    return agw.issuer.mint({}, { alg: a, key, kid: k.kid });
  };

  test('control: the issuer\'s own RS256 token is accepted through the custom JWKS', async () => {
    assertOk(await verifyWith(agw, await agw.issuer.mint()));
  });

  test('PS256 token from a PS256 key in the JWKS: 200', async () => {
    assertOk(await verifyWith(agw, await mintWith('ps256')));
  });

  test('ES256 token from an ES256 key in the JWKS: 200', async () => {
    assertOk(await verifyWith(agw, await mintWith('es256')));
  });

  test('RS256 and PS256 from an RSA key published without "alg": 200', async () => {
    assertOk(await verifyWith(agw, await mintWith('rsa-any', 'RS256')));
    assertOk(await verifyWith(agw, await mintWith('rsa-any', 'PS256')));
  });

  test('RS512 token (not on the allow-list) is refused even though its key is in the JWKS: 401 invalid_token', async () => {
    const token = await mintWith('rs512');
    // The signature is genuinely valid against the published key: only the allow-list can refuse it.
    await jwtVerify(token, createLocalJWKSet({ keys: jwks.keys }));
    assertInvalidToken(await verifyWith(agw, token), token);
  });

  for (const alg of ['RS384', 'RS512', 'PS384', 'PS512']) {
    test(`${alg} from an RSA key published without "alg": 401 invalid_token`, async () => {
      const token = await mintWith('rsa-any', alg);
      await jwtVerify(token, createLocalJWKSet({ keys: jwks.keys })); // genuinely signed by a published key
      assertInvalidToken(await verifyWith(agw, token), token);
    });
  }

  test('ES384 and EdDSA tokens (not on the allow-list) with keys in the JWKS: 401 invalid_token', async () => {
    for (const name of ['es384', 'ed25519']) {
      const token = await mintWith(name);
      await jwtVerify(token, createLocalJWKSet({ keys: jwks.keys }));
      assertInvalidToken(await verifyWith(agw, token), token);
    }
  });

  test('a narrower configured allow-list (RS256 only) refuses PS256 and ES256', async () => {
    const narrow = await start({ config: { auth: { jwks_uri: jwks.url, algorithms: ['RS256'] } } });
    jwks.keys.push(narrow.issuer.publicJwk);
    assertOk(await verifyWith(narrow, await narrow.issuer.mint()));
    for (const name of ['ps256', 'es256']) {
      const k = keys[name]!;
      const token = await narrow.issuer.mint({}, { alg: k.alg, key: k.privateKey, kid: k.kid });
      assertInvalidToken(await verifyWith(narrow, token), token);
    }
  });
});

describe('scopes: one scope per operation', () => {
  const BOB = 'legacy%7C2';

  async function as(scope: string | undefined, method: string, path: string, body?: unknown): Promise<{ r: ApiResponse; token: string }> {
    const token = await gw.issuer.mint({ scope });
    sentTokens.add(token);
    return { r: await call(gw.url, method, path, { token, body }), token };
  }

  test('verify with no scope claim: 403 insufficient_scope', async () => {
    const { r, token } = await as(undefined, 'POST', VERIFY, ALICE);
    assertInsufficientScope(r, token);
  });

  test('verify with an empty scope: 403 insufficient_scope', async () => {
    const { r, token } = await as('', 'POST', VERIFY, ALICE);
    assertInsufficientScope(r, token);
  });

  for (const scope of ['read:users', 'migrate:users', 'read:migration', 'read:users migrate:users read:migration', 'verify:credentials:all', 'verify', 'VERIFY:CREDENTIALS']) {
    test(`verify with scope "${scope}": 403 insufficient_scope`, async () => {
      const { r, token } = await as(scope, 'POST', VERIFY, ALICE);
      assertInsufficientScope(r, token);
    });
  }

  test('verify with verify:credentials among other scopes: 200', async () => {
    const { r } = await as('read:users verify:credentials', 'POST', VERIFY, ALICE);
    assertOk(r);
  });

  test('read:users can look up and GET a user, but not verify or mark migrated or read status', async () => {
    assertOk((await as('read:users', 'POST', '/v1/users/lookup', { login: 'bob' })).r);
    assertOk((await as('read:users', 'GET', `/v1/users/${BOB}`)).r);
    for (const [m, p] of [['PUT', `/v1/users/${BOB}/migration`], ['DELETE', `/v1/users/${BOB}/migration`], ['GET', '/v1/migration/status']] as const) {
      const { r, token } = await as('read:users', m, p);
      assertInsufficientScope(r, token);
    }
  });

  test('verify:credentials alone cannot look up users', async () => {
    const { r, token } = await as('verify:credentials', 'POST', '/v1/users/lookup', { login: 'bob' });
    assertInsufficientScope(r, token);
  });

  test('migrate:users can PUT and DELETE a migration mark, but not look up or read status', async () => {
    const put = (await as('migrate:users', 'PUT', `/v1/users/${BOB}/migration`)).r;
    assertOk(put);
    assert.equal(put.json.user_id, 'legacy|2');
    const del = (await as('migrate:users', 'DELETE', `/v1/users/${BOB}/migration`)).r;
    assertOk(del, 204);
    for (const [m, p, b] of [['POST', '/v1/users/lookup', { login: 'bob' }], ['GET', '/v1/migration/status', undefined], ['POST', VERIFY, ALICE]] as const) {
      const { r, token } = await as('migrate:users', m, p, b);
      assertInsufficientScope(r, token);
    }
  });

  test('read:migration can GET /v1/migration/status, and nothing else', async () => {
    const { r } = await as('read:migration', 'GET', '/v1/migration/status');
    assertOk(r);
    assert.equal(typeof r.json.total, 'number');
    for (const [m, p, b] of [['PUT', `/v1/users/${BOB}/migration`, undefined], ['POST', '/v1/users/lookup', { login: 'bob' }], ['POST', VERIFY, ALICE]] as const) {
      const { r: rr, token } = await as('read:migration', m, p, b);
      assertInsufficientScope(rr, token);
    }
  });

  test('a bad token on a scoped route is 401, not 403 (the token is checked first)', async () => {
    const token = await gw.issuer.mint({ scope: 'read:users', aud: 'https://other.example' });
    sentTokens.add(token);
    assertInvalidToken(await call(gw.url, 'GET', '/v1/migration/status', { token }), token);
  });
});

describe('request targets: never a 500 before authentication, never a token or query string in a log line', () => {
  let tgw: TestGateway;
  let token: string;
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);

  before(async () => {
    tgw = await start();
    token = await tgw.issuer.mint();
    sentTokens.add(token);
    process.on('warning', onWarning);
  });
  after(() => {
    process.off('warning', onWarning);
  });

  /** Request targets a client can put on the wire, with the token in the query string where there is one. */
  function targets(port: number, t: string): string[] {
    const st = '/v1/migration/status';
    const q = `?access_token=${t}`;
    return [
      `http://127.0.0.1:${port}${st}${q}`,
      `https://127.0.0.1:${port}${st}${q}`,
      `http://127.0.0.1:${port}${st}`,
      `HTTP://127.0.0.1:${port}${st}${q}`,
      `http://[::1]:1${st}${q}`,
      `http://[::1${st}${q}`,
      `http://[zz]${st}${q}`,
      `http://a@b${st}${q}`,
      `http://x:99999${st}${q}`,
      `http://:80${st}${q}`,
      `http://%zz${st}${q}`,
      `http://a:b:c${st}${q}`,
      `http://127.0.0.1:${port}${q}`,
      `http://127.0.0.1:${port}`,
      `http://`,
      `http:`,
      `//x${st}${q}`,
      `//[${st}${q}`,
      `*`,
      `x${q}`,
      `${st}${q}`,
      `/v1/%zz${q}`,
      `${st}${q}%zz`,
      `${st}?%zz=1&access_token=${t}`,
      `${st}?access%5Ftoken=${t}`,
      `${st}?%61ccess_token=${t}`,
      `${st}?ACCESS_TOKEN=${t}`,
      `${st}?access_token[]=${t}`,
      `${st}?access_token=${t}&access_token=${t}`,
      `${st}?a=1#&access_token=${t}`,
      `${st}?x=${'a'.repeat(6000)}&access_token=${t}`,
      `http://127.0.0.1/v1/${'b'.repeat(6000)}${q}`,
      `${st}?x=${'a'.repeat(20_000)}&access_token=${t}`, // over Node's 16 KB head limit: 431 from Node itself
    ];
  }

  async function sendRaw(target: string, headers = ''): Promise<Awaited<ReturnType<typeof rawRequest>>> {
    return rawRequest(tgw.url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`, { timeoutMs: 5000 });
  }

  test('absolute-form and odd targets, with and without an Authorization header: no 500, no token accepted from the URL', async () => {
    const port = Number(new URL(tgw.url).port);
    const seen: string[] = [];
    for (const withHeader of [false, true]) {
      for (const target of targets(port, token)) {
        const r = await sendRaw(target, withHeader ? `Authorization: Bearer ${token}\r\n` : '');
        const label = `${withHeader ? 'header+' : ''}${target.slice(0, 70)}`;
        seen.push(`${r.status} ${label}`);
        assert.ok(r.closed, `${label}: no answer`);
        assert.ok(r.status !== 0, `${label}: connection closed without a status`);
        assert.ok(r.status < 500, `${label}: ${r.status} ${r.body}`);
        assert.ok(!r.raw.includes(token), `${label}: token echoed`);
        // A token in the URL never gets in, nor is it tolerated next to a header token.
        if (/access(_|%5F)token|%61ccess_token/i.test(target)) assert.notEqual(r.status, 200, `${label}: a token in the URL was accepted`);
        if (r.status >= 400 && r.body) {
          assert.doesNotThrow(() => JSON.parse(r.body), `${label}: non-JSON error body ${r.body.slice(0, 80)}`);
        }
      }
    }
    // Positive control: the absolute-form of a good request (token in the header only) is answered like the path.
    const ok = await sendRaw(`http://127.0.0.1:${port}/v1/migration/status`, `Authorization: Bearer ${token}\r\n`);
    assert.equal(ok.status, 200, ok.raw.slice(0, 300));
  });

  test('express-oauth2-jwt-bearer\'s own query/body token transport cannot be used to smuggle a token', async () => {
    // The library takes access_token from a form body when the content type is urlencoded: not here.
    const form = await call(tgw.url, 'POST', VERIFY, {
      body: `access_token=${token}&login=alice%40example.com&password=x`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assertInvalidToken(form, token, { errorCodeInChallenge: false });
    const formPut = await call(tgw.url, 'PUT', '/v1/users/legacy%7C2/migration', {
      body: `access_token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assertInvalidToken(formPut, token, { errorCodeInChallenge: false });
    // A JSON body with access_token: the body is not read before the token is checked.
    const json = await call(tgw.url, 'POST', VERIFY, { body: { access_token: token, ...ALICE } });
    assertInvalidToken(json, token, { errorCodeInChallenge: false });
    // With a token in the header as well, the body's access_token is an unknown field, never a second token.
    const withHeader = await call(tgw.url, 'POST', VERIFY, { token, body: { access_token: token, ...ALICE } });
    assert.equal(withHeader.status, 400, withHeader.text);
    assert.equal(withHeader.json.error, 'invalid_request');
    assert.match(withHeader.json.message, /unknown field\(s\): access_token/);
    assert.ok(!withHeader.text.includes(token), 'the answer never echoes the token');
    // Query spellings the library (querystring) decodes to access_token.
    for (const q of [`access_token=${token}`, `access%5Ftoken=${token}`, `%61ccess_token=${token}`, `x=1&access_token=${token}`]) {
      const r = await call(tgw.url, 'GET', `/v1/migration/status?${q}`);
      assertInvalidToken(r, token);
      const both = await call(tgw.url, 'GET', `/v1/migration/status?${q}`, { token });
      assertInvalidToken(both, token);
    }
  });

  test('no captured log line carries the token, a query string, or the raw target; no warning carries them either', async () => {
    await new Promise((r) => setTimeout(r, 50)); // request lines are written on 'finish'
    const all = tgw.logs.join('\n');
    assert.ok(tgw.logs.length > 30, 'request lines were logged');
    const sig = token.split('.')[2]!;
    assert.ok(!all.includes(token) && !all.includes(sig), 'a token reached the logs');
    assert.ok(!/access_token|access%5Ftoken|%61ccess|\?x=|\?a=/i.test(all), 'a query string reached the logs');
    assert.ok(!/"level":50/.test(all), `an error was logged:\n${tgw.logs.filter((l) => l.includes('"level":50')).join('\n').slice(0, 2000)}`);
    assert.ok(!all.includes('127.0.0.1/v1/') && !all.includes('[::1'), 'a raw request target reached the logs');
    const leaked = warnings.filter((w) => w.includes(sig) || w.includes('access_token'));
    assert.deepEqual(leaked, [], 'a process warning carried the URL');
  });
});

describe('logs', () => {
  test('no token (or its signature) appears in any log line', () => {
    assert.ok(sentTokens.size > 20);
    const all = gateways.flatMap((g) => g.logs).join('\n');
    assert.ok(all.length > 0);
    for (const t of sentTokens) {
      const sig = t.split('.')[2] ?? '';
      assert.ok(!all.includes(t), 'a token appears in the logs');
      if (sig.length >= 16) assert.ok(!all.includes(sig), 'a token signature appears in the logs');
    }
  });
});

describe('token transport', () => {
  test('a valid token in the query string is refused: tokens travel in the Authorization header only', async () => {
    const gw = await startTestGateway();
    try {
      const token = await gw.token();
      const r = await call(gw.url, 'POST', `/v1/credentials/verify?access_token=${token}`, {
        body: { login: 'alice@example.com', password: 'correct horse battery staple' },
      });
      assert.equal(r.status, 401);
      assert.equal(r.json.error, 'invalid_token');
      const both = await call(gw.url, 'POST', `/v1/credentials/verify?access_token=${token}`, {
        token,
        body: { login: 'alice@example.com', password: 'correct horse battery staple' },
      });
      assert.equal(both.status, 401);
    } finally {
      await gw.close();
    }
  });
});
