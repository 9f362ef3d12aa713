/**
 * Bearer-token checks with express-oauth2-jwt-bearer: issuer, audience, signature from the issuer's JWKS,
 * an asymmetric algorithm allow-list, expiry, the "@clients" subject rule and the optional client allow-list.
 * A token that passed all of them is remembered (TokenCache) so that the RSA/ECDSA verification is not redone on
 * every request with the same token.
 */
import { hash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { auth, InsufficientScopeError, InvalidRequestError, requiredScopes, UnauthorizedError } from 'express-oauth2-jwt-bearer';
import { decodeJwt, decodeProtectedHeader } from 'jose';
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
    const e = new InvalidRequestError('Send the access token in the Authorization header, not the URL or the body.');
    next(Object.assign(e, { tokenReason: 'not_in_header' satisfies TokenRejectionReason }));
    return;
  }
  next();
};

/** What express-oauth2-jwt-bearer puts in req.auth after a successful verification. */
export interface VerifiedToken {
  payload: Record<string, unknown>;
  header: Record<string, unknown>;
  token: string;
}

interface CachedToken {
  /** The entry's own key: reordering reinserts this string, long-lived like the entry, never a request's copy. */
  key: string;
  payload: Readonly<Record<string, unknown>>;
  header: Readonly<Record<string, unknown>>;
  /** Epoch ms after which the entry is never used: the token's exp, or sooner (maxAgeMs). */
  until: number;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * Tokens that passed every check, keyed by SHA-256 of the whole token (so a token with the same header and payload
 * but another signature is a different key: a miss, verified in full, refused). Bounded: least recently used first
 * out. An entry is used only before the token's exp, never within the clock tolerance after it (the library decides
 * those, as it does for a token it never saw), and at most maxAgeMs after it was verified (the JWKS cache lifetime:
 * a key withdrawn from the JWKS stops working within the same window as without this cache).
 */
export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();
  /**
   * The key most recently set or reordered, last in the map's order while it is in the map: a hit on it has nothing
   * to reorder. (Once deleted, a get of it misses before this is read, and only set() adds it again.)
   */
  private newest: string | undefined;
  hits = 0;
  misses = 0;

  constructor(
    readonly maxEntries = 10_000,
    readonly maxAgeMs = 600_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url');
  }

  get(token: string): VerifiedToken | undefined {
    const key = TokenCache.keyOf(token);
    const e = this.entries.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (this.now() >= e.until) {
      this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    // Most recently used last. Not on every hit: an IdP sends one token for hours, and a delete and set per request
    // made the map rehash every few hundred requests, each time into a new table, the dead one still pointing at this
    // request's key (README, "Garbage collection: the responses in flight", and InFlightList in src/server.ts).
    // Reinserted under the entry's own key, never this request's copy of it.
    if (key !== this.newest) {
      this.entries.delete(e.key);
      this.entries.set(e.key, e);
      this.newest = e.key;
    }
    this.hits++;
    return { payload: e.payload as Record<string, unknown>, header: e.header as Record<string, unknown>, token };
  }

  /** Remember a token the library has just accepted (its payload and header, as the library returned them). */
  set(verified: VerifiedToken): void {
    const exp = verified.payload.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp) || this.maxEntries <= 0) return;
    const now = this.now();
    const until = Math.min(exp * 1000, now + this.maxAgeMs);
    if (until <= now) return;
    const key = TokenCache.keyOf(verified.token);
    this.entries.delete(key);
    this.entries.set(key, { key, payload: deepFreeze(verified.payload), header: deepFreeze(verified.header), until });
    this.newest = key;
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

// What express-oauth2-jwt-bearer checks before it verifies a token (resolveHost, normalizeUrl, getToken), kept
// stricter here: a request that does not have this plain shape never uses the cache and goes to the library.
const HOST_RE = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$/;
const PROTOCOL_IN_PATH_RE = /^\/[a-z][a-z0-9+.-]*:\/\//i;
const BEARER_RE = /^Bearer ([^\s]+)$/i;

/** The host the library puts in the request URL (its resolveHost): X-Forwarded-Host only from a trusted proxy. */
function hostOf(req: Request): string | undefined {
  const trust: unknown = req.app?.get?.('trust proxy fn');
  let host = req.get('X-Forwarded-Host');
  if (!host || !(typeof trust === 'function' && trust(req.socket?.remoteAddress, 0))) {
    host = req.get('Host');
  } else {
    const i = host.indexOf(',');
    if (i !== -1) host = host.substring(0, i).trimEnd();
  }
  return typeof host === 'string' && host.length > 0 && HOST_RE.test(host) ? host : undefined;
}

/**
 * The token of a request the library would take straight to verification: exactly "Bearer <token>" in the
 * Authorization header, no DPoP header (a DPoP proof is checked per request), a valid host (as the library
 * resolves it) and a request URL the library accepts. Anything else: undefined (the library decides).
 */
export function plainBearerToken(req: Request): string | undefined {
  const h = req.headers;
  const authz = h.authorization;
  if (typeof authz !== 'string' || 'dpop' in h) return undefined;
  const m = BEARER_RE.exec(authz);
  if (!m || typeof req.method !== 'string' || req.method.length === 0) return undefined;
  const host = hostOf(req);
  if (host === undefined) return undefined;
  const target = req.originalUrl ?? req.url;
  if (typeof target !== 'string' || !target.startsWith('/')) return undefined;
  try {
    const u = new URL(`${req.protocol}://${host}${target}`);
    if (!HOST_RE.test(u.host) || u.pathname.startsWith('//') || PROTOCOL_IN_PATH_RE.test(u.pathname)) return undefined;
  } catch {
    return undefined;
  }
  return m[1];
}

export interface TokenCheckOptions {
  /** The verified-token cache (default: 10,000 tokens, each at most auth.jwks.cache_max_age_s). */
  cache?: TokenCache;
}

export function tokenCheck(a: Config['auth'], opts: TokenCheckOptions = {}): RequestHandler[] {
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
  const cache = opts.cache ?? new TokenCache(10_000, a.jwks.cache_max_age_s * 1000);
  // headerOnly has run for this request (it runs on every request, hit or miss).
  const cached: RequestHandler = (req, res, next) => {
    const token = plainBearerToken(req);
    if (token === undefined) {
      check(req, res, next);
      return;
    }
    const hit = cache.get(token);
    if (hit) {
      (req as Request & { auth?: VerifiedToken }).auth = hit;
      next();
      return;
    }
    check(req, res, (err?: unknown) => {
      const verified = (req as Request & { auth?: VerifiedToken }).auth;
      // Only a token the library (with our validators) has just accepted, for this very request.
      if (err === undefined && verified && verified.token === token && typeof verified.payload === 'object' && verified.payload !== null) {
        cache.set(verified);
      }
      next(err as Error | undefined);
    });
  };
  return [headerOnly, cached];
}

export const requireScope = (scope: string): RequestHandler => requiredScopes(scope);

/**
 * Why a token was refused, for the operator's log line and legacy_gateway_token_rejections_total{reason}. A closed
 * set: the caller's answer never says which (always 401 invalid_token, or 403 insufficient_scope).
 */
export const TOKEN_REJECTION_REASONS = [
  'missing',
  'malformed',
  'not_in_header',
  'audience',
  'issuer',
  'expired',
  'not_yet_valid',
  'algorithm',
  'signature',
  'unknown_kid',
  'jwks_unreachable',
  'client_not_allowed',
  'subject_not_client',
  'insufficient_scope',
  'other',
] as const;
export type TokenRejectionReason = (typeof TOKEN_REJECTION_REASONS)[number];

export interface TokenRejection {
  reason: TokenRejectionReason;
  /** The token header's kid, as sent: unverified unless the reason is insufficient_scope. */
  kid?: string;
  /** azp / client_id / sub "<id>@clients", as sent: unverified unless the reason is insufficient_scope. */
  client?: string;
  /** True when kid and client come from a token whose signature and claims were verified. */
  verified: boolean;
}

/**
 * True for an error of express-oauth2-jwt-bearer (or headerOnly): a refused token. By class, never by name: every
 * error of the library extends UnauthorizedError, and a class's name is not the source's once bundled (esbuild names
 * the library's InvalidRequestError "InvalidRequestError2").
 */
export function isTokenError(err: unknown): err is UnauthorizedError {
  return err instanceof UnauthorizedError;
}

/** No token at all: the library's base class itself (every other refusal is a subclass of it). */
export function isMissingToken(err: unknown): boolean {
  return isTokenError(err) && Object.getPrototypeOf(err) === UnauthorizedError.prototype;
}

/** A token that was valid but lacks the operation's scope (403), as against every other refusal (401). */
export function isScopeError(err: unknown): err is InsufficientScopeError {
  return err instanceof InsufficientScopeError;
}

// A key id or client id as an operator would read it: printable, short. Anything else is not echoed (it is the
// caller's text): "[unprintable]".
const LOGGABLE_ID_RE = /^[\w.:@|+/=~-]{1,128}$/;
function loggableId(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  return LOGGABLE_ID_RE.test(v) ? v : '[unprintable]';
}

/**
 * The library's (and jose's) reason, from its message: the library rethrows every verification failure as
 * InvalidTokenError(message), so the message is all that is left of the cause. Checked in this order.
 */
const MESSAGE_REASONS: [RegExp, TokenRejectionReason][] = [
  // JWKS fetch: connection refused/reset, DNS, timeout ("request timed out"), non-200, not JSON, not a JWKS.
  [/fetch failed|request timed out|Expected 200 OK|JSON Web Key Set HTTP response|JSON Web Key Set malformed|JSON Web Key Set members|E(?:CONNREFUSED|CONNRESET|NOTFOUND|TIMEDOUT|HOSTUNREACH|AI_AGAIN)|socket hang up|Failed to fetch/i, 'jwks_unreachable'],
  [/no applicable key found|multiple matching keys/i, 'unknown_kid'],
  [/signature verification failed/i, 'signature'],
  [/"exp" claim timestamp|Unexpected 'exp' value/i, 'expired'],
  [/"nbf" claim timestamp|"iat" claim timestamp check failed \(it should be in the past\)/i, 'not_yet_valid'],
  [/Unexpected 'aud' value|"aud"/i, 'audience'],
  [/Unexpected 'iss' value|issuer is not allowed|"iss"/i, 'issuer'],
  [/Unexpected 'alg' value|"alg"|algorithm/i, 'algorithm'],
  [/Unexpected 'client_id' value/i, 'client_not_allowed'],
  [/Unexpected 'sub' value/i, 'subject_not_client'],
  [/Compact JWS|JWS Protected Header|JWT Claims Set|Invalid JWT|Invalid Token|must be a number|missing required/i, 'malformed'],
];

/**
 * What an operator needs to know about a refused token: the reason, and the kid and client id read from the token
 * WITHOUT verifying it (so: what the caller claims). Never the token, or any part of its signature.
 */
export function describeRejection(err: unknown, req: Request, a: Config['auth']): TokenRejection {
  const x = err as { message?: unknown; tokenReason?: TokenRejectionReason };
  if (x.tokenReason) return { reason: x.tokenReason, verified: false };
  if (isScopeError(err)) {
    const v = (req as Request & { auth?: VerifiedToken }).auth;
    return { reason: 'insufficient_scope', kid: loggableId(v?.header.kid), client: loggableId(v && clientIdOf(v.payload)), verified: v !== undefined };
  }
  const authz = req.headers.authorization;
  if (authz === undefined) return { reason: 'missing', verified: false };
  const m = typeof authz === 'string' ? BEARER_RE.exec(authz) : null;
  if (!m) return { reason: 'malformed', verified: false };
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(m[1]!) as Record<string, unknown>;
    payload = decodeJwt(m[1]!) as Record<string, unknown>;
  } catch {
    return { reason: 'malformed', verified: false };
  }
  const claimed = { kid: loggableId(header.kid), client: loggableId(clientIdOf(payload)), verified: false };
  const message = typeof x.message === 'string' ? x.message : '';
  const jwksDown = MESSAGE_REASONS[0]![0].test(message);
  // A disallowed algorithm is named as such even when jose refused it on its own terms first.
  if (!jwksDown && !(typeof header.alg === 'string' && (a.algorithms as readonly string[]).includes(header.alg))) {
    return { reason: 'algorithm', ...claimed };
  }
  const hit = MESSAGE_REASONS.find(([re]) => re.test(message));
  return { reason: hit ? hit[1] : 'other', ...claimed };
}
