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
 * The raw query string of a request target: what follows the first "?" (the same split url.parse/parseurl make),
 * or "" when there is none. Plain string work: nothing here can throw, whatever the target.
 */
export function rawQuery(target: string | undefined): string {
  if (typeof target !== 'string') return '';
  const q = target.indexOf('?');
  return q === -1 ? '' : target.slice(q + 1);
}

/**
 * True when the request target's query string has an access_token parameter (any case, any suffix), after
 * percent-decoding as the library's query parser would see it. URLSearchParams never throws: "%zz" and other
 * garbage stay as they are. A fragment is not cut off first, so this sees a superset of what req.query holds.
 */
export function queryHasAccessToken(target: string | undefined): boolean {
  const query = rawQuery(target);
  if (query === '') return false;
  // The library reads exactly "access_token"; ACCESS_TOKEN and access_token[] are refused too (a token in a URL
  // is the thing to stop, whatever the spelling).
  for (const key of new URLSearchParams(query).keys()) if (key.toLowerCase().startsWith('access_token')) return true;
  return false;
}

/**
 * The library also accepts ?access_token= in the URL (which lands tokens in proxy and access logs, RFC 6750 §5.3)
 * and access_token in a form body. Only the Authorization header is accepted here. This guard never throws:
 * every request target reaches a 401, never a 500.
 */
const headerOnly: RequestHandler = (req, _res, next) => {
  let smuggled: boolean;
  try {
    const body = (req as { body?: unknown }).body;
    smuggled =
      queryHasAccessToken(req.originalUrl) ||
      queryHasAccessToken(req.url) ||
      (typeof body === 'object' && body !== null && Object.hasOwn(body, 'access_token'));
  } catch {
    smuggled = true; // unreachable by construction; refuse rather than fail open or answer 500
  }
  if (smuggled) {
    next(new InvalidRequestError('Send the access token in the Authorization header, not the URL or the body.'));
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
    // JWKS fetching: how long fetched keys are used, how soon another fetch may follow (an unknown kid triggers
    // one), and how long a fetch may take. Milliseconds for the library.
    cacheMaxAge: a.jwks.cache_max_age_s * 1000,
    cooldownDuration: a.jwks.cooldown_s * 1000,
    timeoutDuration: a.jwks.timeout_ms,
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
