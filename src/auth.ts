/**
 * Bearer-token checks with express-oauth2-jwt-bearer: issuer, audience, signature from the issuer's JWKS,
 * an asymmetric algorithm allow-list, expiry, the "@clients" subject rule and the optional client allow-list.
 */
import type { RequestHandler } from 'express';
import { auth, InvalidRequestError, requiredScopes } from 'express-oauth2-jwt-bearer';
import type { Config } from './config.js';

export const SCOPES = {
  verify: 'verify:credentials',
  readUsers: 'read:users',
  migrate: 'migrate:users',
  readMigration: 'read:migration',
} as const;

/** The JWKS location: configured, or the issuer's /.well-known/jwks.json (Auth0's layout). */
export function jwksUriFor(a: Config['auth']): string {
  if (a.jwks_uri) return a.jwks_uri;
  return new URL('.well-known/jwks.json', a.issuer.endsWith('/') ? a.issuer : `${a.issuer}/`).toString();
}

/** The calling client's id: Auth0 puts it in azp (and in sub as "<id>@clients"); other issuers use client_id. */
export function clientIdOf(payload: Record<string, unknown>): string | undefined {
  for (const k of ['azp', 'client_id'] as const) if (typeof payload[k] === 'string') return payload[k] as string;
  const sub = payload.sub;
  return typeof sub === 'string' && sub.endsWith('@clients') ? sub.slice(0, -'@clients'.length) : undefined;
}

/**
 * The library also accepts ?access_token= in the URL, which lands tokens in proxy and access logs
 * (RFC 6750 §5.3). Only the Authorization header is accepted here.
 */
const headerOnly: RequestHandler = (req, _res, next) => {
  if (new URL(req.originalUrl, 'http://x').searchParams.has('access_token')) {
    next(new InvalidRequestError('Send the access token in the Authorization header, not the URL.'));
    return;
  }
  next();
};

export function tokenCheck(a: Config['auth']): RequestHandler[] {
  const algorithms: readonly string[] = a.algorithms;
  const clients = new Set(a.clients);
  const check = auth({
    issuer: a.issuer,
    audience: a.audience,
    jwksUri: jwksUriFor(a),
    // The library falls back to ISSUER_BASE_URL / SECRET / TOKEN_SIGNING_ALG from the environment when these
    // are undefined. Empty strings switch those fallbacks off: no discovery, and never a symmetric secret.
    issuerBaseURL: '',
    secret: '',
    tokenSigningAlg: '',
    clockTolerance: a.clock_tolerance_s,
    authRequired: true,
    validators: {
      alg: (alg: unknown) => typeof alg === 'string' && algorithms.includes(alg),
      sub: (sub: unknown) => typeof sub === 'string' && (!a.require_client_subject || sub.endsWith('@clients')),
      client_id: (_v: unknown, payload: Record<string, unknown>) => {
        if (clients.size === 0) return true;
        const id = clientIdOf(payload);
        return id !== undefined && clients.has(id);
      },
    },
  } as Parameters<typeof auth>[0]);
  return [headerOnly, check];
}

export const requireScope = (scope: string): RequestHandler => requiredScopes(scope);
