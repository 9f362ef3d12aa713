/**
 * Refused tokens explain themselves to the operator (one warn line with a stable reason, the token's kid and client
 * id as claimed, and the route) and are counted in legacy_gateway_token_rejections_total{reason}, while the caller's
 * answer stays the same. Real tokens signed by a local key; a JWKS endpoint that is down (closed port, 500, not
 * JSON, too slow) is told apart from a bad token. No log line ever holds the token or a part of it.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { call, startTestGateway, type ApiResponse, type TestGateway } from '../helpers/harness.js';

const VERIFY = '/v1/credentials/verify';
const ALICE = { login: 'alice@example.com', password: 'correct horse battery staple' };
const now = () => Math.floor(Date.now() / 1000);

const sentTokens = new Set<string>();
const gateways: TestGateway[] = [];

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function rejectionLines(gw: TestGateway, from: number): Line[] {
  return gw.logs
    .slice(from)
    .map((s) => JSON.parse(s) as Line)
    .filter((l) => l.msg === 'token rejected');
}

async function rejections(gw: TestGateway): Promise<Map<string, number>> {
  const r = await call(gw.url, 'GET', '/metrics');
  assert.equal(r.status, 200);
  const out = new Map<string, number>();
  for (const m of r.text.matchAll(/^legacy_gateway_token_rejections_total\{reason="([a-z_]+)"\} (\d+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/**
 * One call, and what it left behind: exactly one rejection line (returned) and the reason's counter moved by one
 * (and no other reason's).
 */
async function refused(
  gw: TestGateway,
  token: string | undefined,
  reason: string,
  opts: { path?: string; headers?: Record<string, string>; status?: number } = {},
): Promise<{ line: Line; res: ApiResponse }> {
  if (token) sentTokens.add(token);
  const before = await rejections(gw);
  const from = gw.logs.length;
  const res = await call(gw.url, 'POST', opts.path ?? VERIFY, { token, body: ALICE, headers: opts.headers });
  const status = opts.status ?? 401;
  assert.equal(res.status, status, res.text);
  // The caller's answer is the one it always was: the error code, nothing about the reason.
  assert.equal(res.json?.error, status === 401 ? 'invalid_token' : 'insufficient_scope');
  assert.ok(!res.text.includes(reason) || reason === 'insufficient_scope', res.text);
  const lines = rejectionLines(gw, from);
  assert.equal(lines.length, 1, `one rejection line, got ${JSON.stringify(lines)}`);
  const line = lines[0]!;
  assert.equal(line.reason, reason, JSON.stringify(line));
  assert.equal(line.level, 40, 'logged at warn');
  assert.equal(line.route, VERIFY);
  const after = await rejections(gw);
  for (const [k, v] of after) assert.equal(v - (before.get(k) ?? 0), k === reason ? 1 : 0, `counter ${k}`);
  return { line, res };
}

function assertClaimed(line: Line, kid: string, client: string): void {
  assert.equal(line.unverified_kid, kid);
  assert.equal(line.unverified_client_id, client);
  assert.equal(line.kid, undefined);
  assert.equal(line.client_id, undefined);
}

function assertNoTokenInLogs(gw: TestGateway): void {
  assert.ok(sentTokens.size > 0);
  for (const token of sentTokens) {
    const parts = [token, ...token.split('.').filter((p) => p.length >= 8)];
    const sig = token.split('.')[2];
    if (sig && sig.length >= 16) for (let i = 0; i + 16 <= sig.length; i += 16) parts.push(sig.slice(i, i + 16));
    for (const line of gw.logs) for (const p of parts) assert.ok(!line.includes(p), `token text in a log line: ${line}`);
  }
}

after(async () => {
  for (const gw of gateways) await gw.close();
});

describe('a refused token: one log line, a reason, a counter', () => {
  let gw: TestGateway;
  let kid: string;
  before(async () => {
    gw = await startTestGateway({ config: { auth: { clients: ['test-client'], algorithms: ['RS256'] } } });
    gateways.push(gw);
    kid = gw.issuer.kid;
  });

  test('a valid token passes and logs no rejection (the refusals below are about the token)', async () => {
    const from = gw.logs.length;
    const r = await call(gw.url, 'POST', VERIFY, { token: await gw.token(), body: ALICE });
    assert.equal(r.status, 200, r.text);
    assert.equal(rejectionLines(gw, from).length, 0);
  });

  test('missing, malformed, and in the URL', async () => {
    await refused(gw, undefined, 'missing');
    await refused(gw, undefined, 'malformed', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    const { line } = await refused(gw, 'not-a-jwt', 'malformed');
    assert.equal(line.unverified_kid, undefined);
    const token = await gw.token();
    sentTokens.add(token);
    await refused(gw, undefined, 'not_in_header', { path: `${VERIFY}?access_token=${token}` });
  });

  test('audience, issuer, expired, not yet valid', async () => {
    assertClaimed((await refused(gw, await gw.issuer.mint({ aud: 'https://someone-else.test' }), 'audience')).line, kid, 'test-client');
    assertClaimed((await refused(gw, await gw.issuer.mint({ iss: 'https://evil.test/' }), 'issuer')).line, kid, 'test-client');
    assertClaimed((await refused(gw, await gw.issuer.mint({ exp: now() - 3600, iat: now() - 7200 }), 'expired')).line, kid, 'test-client');
    assertClaimed((await refused(gw, await gw.issuer.mint({ nbf: now() + 3600 }), 'not_yet_valid')).line, kid, 'test-client');
  });

  test('algorithm, signature, unknown kid', async () => {
    // PS256 (RSA-PSS), the issuer's kid: an algorithm this gateway does not allow (auth.algorithms: [RS256]).
    const pss = await generateKeyPair('PS256');
    assertClaimed((await refused(gw, await gw.issuer.mint({}, { alg: 'PS256', key: pss.privateKey }), 'algorithm')).line, kid, 'test-client');
    // HS256 (a symmetric secret) is never accepted.
    assertClaimed((await refused(gw, await gw.issuer.mint({}, { alg: 'HS256', key: new Uint8Array(32).fill(7) }), 'algorithm')).line, kid, 'test-client');
    const other = await generateKeyPair('RS256');
    assertClaimed((await refused(gw, await gw.issuer.mint({}, { key: other.privateKey }), 'signature')).line, kid, 'test-client');
    assertClaimed((await refused(gw, await gw.issuer.mint({}, { kid: 'retired-key-1' }), 'unknown_kid')).line, 'retired-key-1', 'test-client');
  });

  test('client not allowed, subject not a client, insufficient scope', async () => {
    assertClaimed((await refused(gw, await gw.issuer.mint({ azp: 'intruder', sub: 'intruder@clients' }), 'client_not_allowed')).line, kid, 'intruder');
    // client_id (another issuer's claim) when there is no azp.
    const t = await new SignJWT({ sub: 'auth0|user-1', client_id: 'test-client', scope: 'verify:credentials' })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(gw.issuer.issuer)
      .setAudience(gw.issuer.audience)
      .setExpirationTime('1h')
      .sign(gw.issuer.privateKey);
    assertClaimed((await refused(gw, t, 'subject_not_client')).line, kid, 'test-client');
    const { line } = await refused(gw, await gw.issuer.mint({ scope: 'read:users' }), 'insufficient_scope', { status: 403 });
    // Verified by then: the kid and client id are the token's, not claims.
    assert.equal(line.kid, kid);
    assert.equal(line.client_id, 'test-client');
    assert.equal(line.unverified_kid, undefined);
  });

  test('a kid or client id that is not printable is not echoed', async () => {
    const { line } = await refused(gw, await gw.issuer.mint({ azp: 'a\nb"c', sub: 'x@clients' }, { kid: 'k\u0000id' }), 'unknown_kid');
    assertClaimed(line, '[unprintable]', '[unprintable]');
  });

  test('the request log and /metrics name the route of a 401, not "unmatched"', async () => {
    const from = gw.logs.length;
    await call(gw.url, 'POST', VERIFY, { body: ALICE });
    await call(gw.url, 'GET', '/v1/users/42');
    await call(gw.url, 'PUT', '/v1/users/42/migration');
    await call(gw.url, 'POST', '/v1/no-such-thing');
    await new Promise((r) => setTimeout(r, 50)); // the request line is written on 'finish'
    const routes = gw.logs
      .slice(from)
      .map((s) => JSON.parse(s) as Line)
      .filter((l) => l.msg === 'request')
      .map((l) => l.route);
    assert.deepEqual(routes, ['/v1/credentials/verify', '/v1/users/:user_id', '/v1/users/:user_id/migration', 'unmatched']);
    const m = await call(gw.url, 'GET', '/metrics');
    assert.match(m.text, /legacy_gateway_http_requests_total\{method="PUT",route="\/v1\/users\/:user_id\/migration",status="401",outcome="invalid_token"\} 1/);
  });

  test('no log line holds a token, or a part of one', () => assertNoTokenInLogs(gw));
});

/** A JWKS endpoint whose answer the test chooses. */
async function jwksServer(): Promise<{ url: string; mode: { now: 'status500' | 'html' | 'hang' | 'garbage' }; server: Server }> {
  const mode = { now: 'status500' as 'status500' | 'html' | 'hang' | 'garbage' };
  const server = createServer((_req, res) => {
    if (mode.now === 'status500') res.writeHead(500).end('oops');
    else if (mode.now === 'html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    else if (mode.now === 'garbage') res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"none"}');
    // hang: never answer
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, mode, server };
}

describe('an unreachable JWKS is told apart from a bad token', () => {
  test('closed port: jwks_unreachable for a good token, while a bad token elsewhere is a bad token', async () => {
    // A port that was just open and is now closed: connection refused.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const down = await startTestGateway({ config: { auth: { jwks_uri: `http://127.0.0.1:${port}/jwks.json` } } });
    gateways.push(down);
    const { line } = await refused(down, await down.token(), 'jwks_unreachable');
    assertClaimed(line, down.issuer.kid, 'test-client');
    // Without keys nothing else can be checked, but a token that cannot even be read is still named malformed.
    await refused(down, 'garbage', 'malformed');
    assertNoTokenInLogs(down);
  });

  test('500, not JSON, not a JWKS, too slow: jwks_unreachable each time', async () => {
    const j = await jwksServer();
    try {
      const gw = await startTestGateway({ config: { auth: { jwks_uri: j.url, jwks: { timeout_ms: 300, cooldown_s: 0, cache_max_age_s: 0 } } } });
      gateways.push(gw);
      for (const m of ['status500', 'html', 'garbage', 'hang'] as const) {
        j.mode.now = m;
        const { line } = await refused(gw, await gw.token(), 'jwks_unreachable');
        assert.equal(line.unverified_kid, gw.issuer.kid, m);
      }
      assertNoTokenInLogs(gw);
    } finally {
      j.server.closeAllConnections();
      await new Promise<void>((r) => j.server.close(() => r()));
    }
  });
});
