/**
 * A local OAuth2 issuer for the demo, `legacy-gateway dev-issuer` and the tests: an RS256 key pair, its JWKS served on
 * loopback, client-credentials-style access tokens signed with it, and (with a client secret) a POST /oauth/token
 * endpoint handing them out. Development only: it binds loopback addresses only. Never used by `serve`.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface LocalIssuer {
  issuer: string;
  jwksUri: string;
  audience: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  /** Sign a token; claims override the defaults (sub "<client>@clients", azp, scope, iat/exp). */
  mint(claims?: JWTPayload & { scope?: string }, opts?: { expiresIn?: string | number; kid?: string; alg?: string; key?: CryptoKey | Uint8Array }): Promise<string>;
  close(): Promise<void>;
}

export const ALL_SCOPES = 'verify:credentials read:users migrate:users read:migration';

export interface LocalIssuerOptions {
  /** A loopback address (default 127.0.0.1); anything else is refused. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Scopes of minted tokens and the most /oauth/token grants (default ALL_SCOPES). */
  scopes?: string;
  /** Lifetime of the tokens /oauth/token hands out, in seconds (default 3600). */
  ttlSeconds?: number;
  /** When set, POST /oauth/token grants client_credentials to clientId with this secret. */
  clientSecret?: string;
}

/** 127.0.0.0/8, ::1, localhost: the only addresses a development issuer may listen on. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export async function startLocalIssuer(audience = 'https://legacy-gateway.local', clientId = 'local-client', opts: LocalIssuerOptions = {}): Promise<LocalIssuer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) throw new Error(`a local issuer binds loopback addresses only, not ${host}`);
  const scopes = opts.scopes ?? ALL_SCOPES;
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `local-${Date.now().toString(36)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  let self: LocalIssuer;
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    } else if (req.url === '/oauth/token' && opts.clientSecret !== undefined) {
      tokenEndpoint(req, res, self, { clientId, clientSecret: opts.clientSecret, scopes, ttlSeconds: opts.ttlSeconds ?? 3600 });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  self = {
    issuer,
    jwksUri: `${issuer}.well-known/jwks.json`,
    audience,
    privateKey,
    publicJwk,
    kid,
    async mint(claims = {}, opts = {}) {
      const payload: JWTPayload = { sub: `${clientId}@clients`, azp: clientId, gty: 'client-credentials', scope: scopes, ...claims };
      const alg = opts.alg ?? 'RS256';
      return new SignJWT(payload)
        .setProtectedHeader({ alg, kid: opts.kid ?? kid, typ: 'JWT' })
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer)
        .setAudience(claims.aud ?? audience)
        .setIssuedAt(typeof claims.iat === 'number' ? claims.iat : undefined)
        .setExpirationTime(typeof claims.exp === 'number' ? claims.exp : (opts.expiresIn ?? '1h'))
        .sign(opts.key ?? privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return self;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * POST /oauth/token, grant_type=client_credentials, as JSON or as a form; the client authenticates in the body
 * (client_id, client_secret) or with HTTP Basic. The requested scopes must be among the issuer's; none asked: all.
 */
function tokenEndpoint(req: IncomingMessage, res: ServerResponse, issuer: LocalIssuer, grant: { clientId: string; clientSecret: string; scopes: string; ttlSeconds: number }): void {
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'use POST' });
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    raw += chunk;
    if (raw.length > 65_536) req.destroy();
  });
  req.on('end', () => {
    let body: Record<string, unknown>;
    try {
      body = (req.headers['content-type'] ?? '').includes('json') ? (JSON.parse(raw) as Record<string, unknown>) : Object.fromEntries(new URLSearchParams(raw));
      if (!body || typeof body !== 'object') throw new Error('not an object');
    } catch {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'the body is neither JSON nor a form' });
    }
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const [basicId, basicSecret] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':', 2) : [];
    const id = typeof body.client_id === 'string' ? body.client_id : basicId;
    const secret = typeof body.client_secret === 'string' ? body.client_secret : basicSecret;
    if (body.grant_type !== 'client_credentials') return sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'only client_credentials' });
    if (id !== grant.clientId || secret === undefined || !sameSecret(secret, grant.clientSecret)) {
      return sendJson(res, 401, { error: 'access_denied', error_description: 'Unauthorized (unknown client_id or wrong client_secret)' });
    }
    if (body.audience !== undefined && body.audience !== issuer.audience) {
      return sendJson(res, 403, { error: 'access_denied', error_description: `Service not found: ${String(body.audience)}` });
    }
    const allowed = grant.scopes.split(' ').filter(Boolean);
    const asked = typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : allowed;
    const refused = asked.filter((s) => !allowed.includes(s));
    if (refused.length) return sendJson(res, 403, { error: 'access_denied', error_description: `scope not granted: ${refused.join(' ')}` });
    const scope = asked.join(' ');
    issuer.mint({ scope }, { expiresIn: `${grant.ttlSeconds}s` }).then(
      (token) => sendJson(res, 200, { access_token: token, token_type: 'Bearer', expires_in: grant.ttlSeconds, scope }),
      () => sendJson(res, 500, { error: 'server_error' }),
    );
  });
}
