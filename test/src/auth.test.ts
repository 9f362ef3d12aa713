/**
 * The verified-token cache (src/auth.ts TokenCache): a token enters it only after express-oauth2-jwt-bearer and our
 * validators accepted it, it is served from it without a signature check (proven with the issuer's JWKS gone), and
 * it never outlives the token's exp. Real signed tokens, a real Express app on loopback.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import { generateKeyPair, SignJWT } from 'jose';
import { requireScope, SCOPES, TokenCache, tokenCheck } from '../../src/auth.js';
import type { Config } from '../../src/config.js';
import { demoConfig } from '../../src/demo.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/devtokens.js';

const now = () => Math.floor(Date.now() / 1000);

interface App {
  url: string;
  close(): Promise<void>;
}

/** GET /lookup needs read:users and answers the token's sub; errors are 401/403 by the library's error names. */
async function startApp(auth: Config['auth'], cache: TokenCache): Promise<App> {
  const app = express();
  app.get('/lookup', tokenCheck(auth, { cache }), requireScope(SCOPES.readUsers), (req: Request, res: Response) => {
    res.json({ sub: (req as unknown as { auth: { payload: { sub: string } } }).auth.payload.sub });
  });
  const onError: ErrorRequestHandler = (err: { name?: string }, _req, res, _next) => {
    res.status(err.name === 'InsufficientScopeError' ? 403 : 401).json({ error: err.name });
  };
  app.use(onError);
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function authConfig(issuer: LocalIssuer, over: Partial<Config['auth']> = {}): Config['auth'] {
  return { ...demoConfig('/nonexistent.sqlite', issuer.issuer, issuer.audience, 0).auth, ...over };
}

async function get(app: App, token: string, query = ''): Promise<number> {
  const r = await fetch(`${app.url}/lookup${query}`, { headers: { authorization: `Bearer ${token}` } });
  await r.arrayBuffer();
  return r.status;
}

describe('verified-token cache', () => {
  let issuer: LocalIssuer;
  const apps: App[] = [];
  const start = async (cache: TokenCache, over: Partial<Config['auth']> = {}) => {
    const a = await startApp(authConfig(issuer, over), cache);
    apps.push(a);
    return a;
  };
  before(async () => {
    issuer = await startLocalIssuer('https://legacy-gateway.test', 'test-client');
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await issuer.close();
  });

  test('a verified token is served from the cache: accepted with the JWKS unreachable, by an instance that never fetched it', async () => {
    const cache = new TokenCache();
    const token = await issuer.mint({ scope: SCOPES.readUsers });
    const first = await start(cache);
    assert.equal(await get(first, token), 200);
    assert.equal(cache.size, 1);
    assert.equal(await get(first, token), 200);
    assert.equal(cache.hits, 1);

    // A second token checker (its own, empty JWKS cache) sharing the token cache, with the issuer's JWKS gone: the
    // cached token is accepted without any key (no fetch, no signature check); a token not in the cache is refused.
    const other = await start(cache, { jwks_uri: 'http://127.0.0.1:9/.well-known/jwks.json', jwks: { cache_max_age_s: 600, cooldown_s: 30, timeout_ms: 200 } });
    assert.equal(await get(other, token), 200);
    assert.equal(cache.hits, 2);
    const fresh = await issuer.mint({ scope: SCOPES.readUsers, jti: 'fresh' });
    assert.equal(await get(other, fresh), 401, 'a token the cache has not seen is verified, and the JWKS is unreachable');
  });

  test('a tampered token (same header and payload, another signature) is never a cache hit', async () => {
    const cache = new TokenCache();
    const app = await start(cache);
    const token = await issuer.mint({ scope: SCOPES.readUsers });
    assert.equal(await get(app, token), 200);
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    const { privateKey } = await generateKeyPair('RS256');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const resigned = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: issuer.kid, typ: 'JWT' }).sign(privateKey);
    assert.ok(resigned.startsWith(`${h}.${p}.`), 'same header and payload');
    const hits = cache.hits;
    for (const bad of [flipped, resigned, `${h}.${p}.`, `${h}.${p}`]) assert.equal(await get(app, bad), 401);
    assert.equal(cache.hits, hits, 'no hit for any of them');
    assert.equal(cache.size, 1, 'none of them was cached');
  });

  test('an expired token is refused even though it was cached (clock tolerance 0)', async () => {
    const cache = new TokenCache();
    const app = await start(cache, { clock_tolerance_s: 0 });
    const token = await issuer.mint({ scope: SCOPES.readUsers, exp: now() + 2 });
    assert.equal(await get(app, token), 200);
    assert.equal(await get(app, token), 200);
    assert.equal(cache.hits, 1);
    await new Promise((r) => setTimeout(r, (now() + 2 - Date.now() / 1000) * 1000 + 1100));
    assert.equal(await get(app, token), 401);
    assert.equal(cache.hits, 1, 'not served from the cache after exp');
  });

  test('insufficient scope is still 403 on a cache hit', async () => {
    const cache = new TokenCache();
    const app = await start(cache);
    const token = await issuer.mint({ scope: SCOPES.verify });
    assert.equal(await get(app, token), 403);
    assert.equal(cache.size, 1, 'the token itself is valid: cached');
    assert.equal(await get(app, token), 403);
    assert.equal(cache.hits, 1);
  });

  test('a token our validators refuse (user subject, client not allowed, audience, algorithm not allowed) is never cached', async () => {
    const cache = new TokenCache();
    const app = await start(cache, { clients: ['test-client'] });
    const ok = await issuer.mint({ scope: SCOPES.readUsers });
    assert.equal(await get(app, ok), 200, 'control');
    const refused = [
      await issuer.mint({ scope: SCOPES.readUsers, sub: 'auth0|123' }),
      await issuer.mint({ scope: SCOPES.readUsers, azp: 'other-client', sub: 'other-client@clients' }),
      await issuer.mint({ scope: SCOPES.readUsers, aud: 'https://another-api.test' }),
      await issuer.mint({ scope: SCOPES.readUsers, exp: now() - 60 }),
    ];
    for (const t of refused) {
      assert.equal(await get(app, t), 401);
      assert.equal(await get(app, t), 401);
    }
    assert.equal(cache.size, 1, 'only the control token');
    const psOnly = await start(cache, { algorithms: ['PS256'] });
    const rs = await issuer.mint({ scope: SCOPES.readUsers, jti: 'rs256' });
    assert.equal(await get(psOnly, rs), 401);
    assert.equal(cache.size, 1, 'an RS256 token refused by the allow-list is not cached');
  });

  test('the header-only rule runs on every request: a cached token with ?access_token in the URL is refused', async () => {
    const cache = new TokenCache();
    const app = await start(cache);
    const token = await issuer.mint({ scope: SCOPES.readUsers });
    assert.equal(await get(app, token), 200);
    assert.equal(await get(app, token, '?access_token=x'), 401);
    assert.equal(await get(app, token, '?ACCESS_TOKEN=x'), 401);
  });

  test('a request with a DPoP header, or another Authorization shape, never uses the cache', async () => {
    const cache = new TokenCache();
    const app = await start(cache);
    const token = await issuer.mint({ scope: SCOPES.readUsers });
    assert.equal(await get(app, token), 200);
    const hits = cache.hits;
    const r1 = await fetch(`${app.url}/lookup`, { headers: { authorization: `Bearer ${token}`, dpop: 'x' } });
    assert.equal(r1.status, 401);
    const r2 = await fetch(`${app.url}/lookup`, { headers: { authorization: `Bearer  ${token}` } });
    assert.equal(r2.status, 401);
    const r3 = await fetch(`${app.url}/lookup`, { headers: { authorization: `DPoP ${token}` } });
    assert.equal(r3.status, 401);
    assert.equal(cache.hits, hits);
  });
});

describe('TokenCache', () => {
  const verified = (token: string, exp: number) => ({ token, payload: { sub: 'c@clients', exp, scope: 'a b' }, header: { alg: 'RS256' } });

  test('bounded: the least recently used token goes first', () => {
    const t = 1_700_000_000_000;
    const cache = new TokenCache(3, 600_000, () => t);
    for (const k of ['a', 'b', 'c']) cache.set(verified(k, t / 1000 + 3600));
    assert.ok(cache.get('a'), 'a is now the most recently used');
    cache.set(verified('d', t / 1000 + 3600));
    assert.equal(cache.size, 3);
    assert.equal(cache.get('b'), undefined, 'b was the least recently used');
    assert.ok(cache.get('a') && cache.get('c') && cache.get('d'));
    for (let i = 0; i < 100; i++) cache.set(verified(`x${i}`, t / 1000 + 3600));
    assert.equal(cache.size, 3);
  });

  test('repeated hits on the most recent token keep the order; a hit on another moves it last', () => {
    const t = 1_700_000_000_000;
    const cache = new TokenCache(3, 600_000, () => t);
    for (const k of ['a', 'b', 'c']) cache.set(verified(k, t / 1000 + 3600));
    for (let i = 0; i < 5; i++) assert.ok(cache.get('c'));
    assert.ok(cache.get('a'), 'order now b, c, a');
    assert.ok(cache.get('c'), 'order now b, a, c: c was not the most recent any more');
    cache.set(verified('d', t / 1000 + 3600));
    cache.set(verified('e', t / 1000 + 3600));
    assert.equal(cache.get('b'), undefined, 'b went first');
    assert.equal(cache.get('a'), undefined, 'then a');
    assert.ok(cache.get('c') && cache.get('d') && cache.get('e'));
    assert.equal(cache.hits, 10);
  });

  test('an expired most recent token is gone, and the next set of it is the most recent again', () => {
    let t = 1_700_000_000_000;
    const cache = new TokenCache(2, 600_000, () => t);
    cache.set(verified('old', t / 1000 + 3600));
    cache.set(verified('short', t / 1000 + 10));
    t += 10_000;
    assert.equal(cache.get('short'), undefined);
    assert.equal(cache.size, 1);
    cache.set(verified('short', t / 1000 + 3600));
    assert.ok(cache.get('old'), 'order now short, old');
    cache.set(verified('new', t / 1000 + 3600));
    assert.equal(cache.get('short'), undefined, 'short was the least recently used');
    assert.ok(cache.get('old') && cache.get('new'));
  });

  test('an entry is never used at or after exp, nor after maxAgeMs, and an expired token is not stored', () => {
    let t = 1_700_000_000_000;
    const cache = new TokenCache(10, 60_000, () => t);
    cache.set(verified('short', t / 1000 + 10));
    cache.set(verified('long', t / 1000 + 7200));
    cache.set(verified('expired', t / 1000 - 1));
    cache.set({ token: 'no-exp', payload: { sub: 'c@clients' }, header: {} });
    assert.equal(cache.size, 2);
    t += 9_999;
    assert.ok(cache.get('short'));
    t += 1;
    assert.equal(cache.get('short'), undefined, 'at exp');
    assert.ok(cache.get('long'));
    t += 50_001;
    assert.equal(cache.get('long'), undefined, 'after maxAgeMs, even before exp');
    assert.equal(cache.size, 0);
  });

  test('keys are SHA-256 of the whole token; a cached payload is frozen and handed out as the library does', () => {
    const t = Date.now();
    const cache = new TokenCache(10, 60_000, () => t);
    cache.set(verified('h.p.s1', t / 1000 + 60));
    assert.equal(cache.get('h.p.s2'), undefined);
    const hit = cache.get('h.p.s1')!;
    assert.deepEqual(Object.keys(hit).sort(), ['header', 'payload', 'token']);
    assert.equal(hit.token, 'h.p.s1');
    assert.ok(Object.isFrozen(hit.payload) && Object.isFrozen(hit.header));
    assert.match(TokenCache.keyOf('x'), /^[A-Za-z0-9_-]{43}$/);
  });
});
