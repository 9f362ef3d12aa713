/**
 * The Login and Get User scripts against a third-party token issuer: @simulacrum/auth0-simulator (npm), an Auth0
 * look-alike serving /oauth/token, its JWKS and its OpenID configuration over HTTPS, in front of a real gateway that
 * trusts that issuer.
 *
 * The gap, measured here and not papered over: the simulator's client-credentials tokens carry no `sub` and no `azp`
 * (and spell gty "client_credentials"). A gateway with its default `@clients` subject rule refuses them
 * (401 invalid_token), and the scripts give up after one renewal with an Error. Turning the rule off in this test
 * (auth.require_client_subject: false) is not enough: the gateway still requires `sub` to be a string, so the simulator's
 * tokens are refused there too. The token itself verifies against the simulator's JWKS; the test shows both.
 *
 * Plumbing: the simulator reads its certificate from $HOME/.simulacrum/certs, so HOME points at a temporary directory
 * with an openssl-made certificate while the module loads; the gateway's JWKS fetch (https.globalAgent) and the
 * scripts' fetch trust that certificate.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestGateway, type TestGateway } from '../helpers/harness.js';
import { closedPort, KIT } from './kit.js';
import { fetchTrusting, makeCertificate } from './local-oauth.js';
import { getUserOutcome, loginOutcome, ScriptContainer } from './sandbox.js';

const AUDIENCE = 'https://legacy-gateway.simulacrum.test';
const CLIENT_ID = 'kit-simulacrum-client';

interface Simulator {
  port?: number;
  ensureClose(): Promise<void>;
}

describe('the scripts with tokens from @simulacrum/auth0-simulator', () => {
  const home = mkdtempSync(path.join(tmpdir(), 'lg-simulacrum-'));
  const tls = makeCertificate();
  let sim: Simulator;
  let port = 0;
  let trusting: Awaited<ReturnType<typeof fetchTrusting>>;
  let relaxed: TestGateway;
  let strict: TestGateway;
  let issuer = '';

  before(async () => {
    const certs = path.join(home, '.simulacrum', 'certs');
    mkdirSync(certs, { recursive: true });
    writeFileSync(path.join(certs, 'localhost.pem'), tls.cert);
    writeFileSync(path.join(certs, 'localhost-key.pem'), tls.key);
    const realHome = process.env.HOME;
    process.env.HOME = home;
    let simulation: (args: unknown) => { listen(port: number): Promise<Simulator> };
    try {
      // The CommonJS build: on Node 20 the package's ESM build fails at /oauth/token ("jwt.sign is not a function":
      // it imports jsonwebtoken as a namespace; the package asks for Node >= 22.19).
      ({ simulation } = createRequire(import.meta.url)('@simulacrum/auth0-simulator') as { simulation: typeof simulation });
    } finally {
      process.env.HOME = realHome;
    }
    port = await closedPort();
    sim = await simulation({ options: { domain: 'localhost', audience: AUDIENCE, clientID: CLIENT_ID, scope: [{ clientID: CLIENT_ID, audience: AUDIENCE, scope: 'verify:credentials read:users migrate:users' }] } }).listen(port);
    trusting = await fetchTrusting(tls.cert);
    https.globalAgent.options.ca = tls.cert; // the gateway's JWKS fetch (express-oauth2-jwt-bearer uses https.get)
    const discovery = (await (await trusting.fetch(`https://localhost:${port}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    issuer = discovery.issuer;
    const auth = { issuer, jwks_uri: discovery.jwks_uri, audience: AUDIENCE };
    relaxed = await startTestGateway({ logLevel: 'warn', config: { auth: { ...auth, require_client_subject: false } } as never });
    strict = await startTestGateway({ logLevel: 'warn', config: { auth } as never });
  });
  after(async () => {
    await relaxed?.close();
    await strict?.close();
    await sim?.ensureClose();
    await trusting?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const container = (gw: TestGateway) =>
    new ScriptContainer({
      configuration: { AUTH0_DOMAIN: `localhost:${port}`, GATEWAY_URL: gw.url, GATEWAY_AUDIENCE: AUDIENCE, GATEWAY_CLIENT_ID: CLIENT_ID, GATEWAY_CLIENT_SECRET: 'any-secret' },
      fetch: trusting.fetch,
    });

  test('the simulator\'s token: RS256, issuer and audience as configured, no sub, no azp (the gap)', async () => {
    const res = await trusting.fetch(`https://localhost:${port}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: 'any-secret', audience: AUDIENCE }),
    });
    assert.equal(res.status, 200);
    const { access_token } = (await res.json()) as { access_token: string };
    const [header, payload] = access_token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>) as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(header.alg, 'RS256');
    assert.equal(payload.iss, issuer);
    assert.equal(payload.aud, AUDIENCE);
    assert.equal(payload.sub, undefined, 'no sub: the gateway\'s @clients rule cannot hold');
    assert.equal(payload.azp, undefined);
    assert.equal(payload.gty, 'client_credentials');
  });

  test('with the gateway\'s default subject rule: refused (401 invalid_token), one renewal, then an Error', async () => {
    const c = container(strict);
    const run = await c.login(KIT.login, 'alice', 'correct horse battery staple');
    assert.deepEqual(c.violations, []);
    assert.match((run.error as Error).message, /answered 401 invalid_token/);
    assert.deepEqual(c.requests.filter((r) => r.url.startsWith(strict.url)).map((r) => r.status), [401, 401]);
  });

  test('with the rule off (auth.require_client_subject: false, this test only): still refused, because there is no sub at all', async () => {
    // The token itself is sound: it verifies against the simulator's JWKS for this issuer and audience.
    const res = await trusting.fetch(`https://localhost:${port}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: 'any-secret', audience: AUDIENCE }),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    const jwks = (await (await trusting.fetch(`https://localhost:${port}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const { payload } = await jwtVerify(access_token, createLocalJWKSet(jwks), { issuer, audience: AUDIENCE, algorithms: ['RS256'] });
    assert.equal(payload.sub, undefined);
    // The gateway turns the "@clients" suffix off, but still wants a string sub (src/auth.ts): the scripts get an Error.
    const c = container(relaxed);
    const login = await c.login(KIT.login, 'alice', 'correct horse battery staple');
    const lookup = await c.getUser(KIT.getUser, 'alice@example.com');
    assert.deepEqual(c.violations, []);
    assert.equal(loginOutcome(login).kind, 'error');
    assert.equal(getUserOutcome(lookup).kind, 'error');
    assert.match((login.error as Error).message, /answered 401 invalid_token/);
    assert.deepEqual(c.requests.filter((r) => r.url.startsWith(relaxed.url)).map((r) => r.status), [401, 401, 401, 401]);
    assert.equal(c.requests.filter((r) => r.url.endsWith('/oauth/token')).length, 3, 'one token, renewed once per refused call');
  });
});
