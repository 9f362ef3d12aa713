/**
 * A local OAuth2 issuer for the demo and the tests: an RS256 key pair, its JWKS served on loopback,
 * and client-credentials-style access tokens signed with it. Never used by `serve`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

export async function startLocalIssuer(audience = 'https://legacy-gateway.local', clientId = 'local-client'): Promise<LocalIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `local-${Date.now().toString(36)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}/`;
  return {
    issuer,
    jwksUri: `${issuer}.well-known/jwks.json`,
    audience,
    privateKey,
    publicJwk,
    kid,
    async mint(claims = {}, opts = {}) {
      const payload: JWTPayload = { sub: `${clientId}@clients`, azp: clientId, gty: 'client-credentials', scope: ALL_SCOPES, ...claims };
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
}
