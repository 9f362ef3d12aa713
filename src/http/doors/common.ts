/**
 * What every IdP front door shares: its own authentication (compared in constant time), the verify outcome in a
 * shape a door can translate into its IdP's signalling, and marking the user migrated after a match.
 * The use cases themselves (matching rule, profile, limiter, timing decoy, logs, metrics) are the Gateway's.
 */
import crypto from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Request, RequestHandler } from 'express';
import type { z } from 'zod';
import { ALLOWED_ALGORITHMS, type Config } from '../../config.js';
import { clientIdOf, tokenCheck } from '../../auth.js';
import { ApiError } from '../../errors.js';
import type { CallerGateway, Gateway } from '../../gateway.js';
import { errorClass, type Logger } from '../../logger.js';
import type { Profile } from '../../profile.js';
import type { DoorAuth } from './config.js';

/** What frontDoors builds the doors from. */
export interface FrontDoorDeps {
  gateway: Gateway;
  logger: Logger;
  config: Config;
}

/** What a door is built with: the use cases as the door runs them (its audit events name "door:<key>"). */
export type DoorDeps = Omit<FrontDoorDeps, 'gateway'> & { gateway: CallerGateway };

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest();

/**
 * A constant-time check against one fixed secret: the expected value is hashed once, here (when the door is built);
 * each check hashes only the given value and compares the two 32-byte digests with timingSafeEqual, whatever the
 * lengths. An absent value never matches.
 */
export function secretMatcher(expected: string): (given: string | undefined) => boolean {
  const want = sha256(expected);
  // crypto.timingSafeEqual looked up at call time (not a bound import), so a test can watch that it runs.
  return (given) => crypto.timingSafeEqual(sha256(given ?? ''), want) && given !== undefined;
}

/** Equal in constant time, whatever the lengths. For a fixed secret checked again and again, use secretMatcher. */
export function secretEquals(given: string | undefined, expected: string): boolean {
  return secretMatcher(expected)(given);
}

const REALM = 'legacy-gateway';

function unauthorized(challenge: string): ApiError {
  return new ApiError(401, 'unauthorized', 'This front door needs its configured credentials.', { 'WWW-Authenticate': challenge });
}

/** "Basic base64(user:pass)" → [user, pass]; undefined when the header is not a well-formed Basic credential. */
function basicCredentials(header: string | undefined): [string, string] | undefined {
  const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? undefined : [text.slice(0, i), text.slice(i + 1)];
}

function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '');
  return m?.[1];
}

/** The SHA-256 fingerprint of the verified client certificate on this request's TLS socket, if any. */
function clientCertFingerprint(req: Request): string | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (socket.encrypted !== true || socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  return cert && typeof cert.fingerprint256 === 'string' && cert.fingerprint256 ? cert.fingerprint256 : undefined;
}

const normFingerprint = (f: string) => f.replace(/:/g, '').toUpperCase();

/**
 * The door's authentication as middleware. A refusal is a 401 `unauthorized` with a challenge (for a JWT the token
 * check's own 401 `invalid_token`), before the body is read.
 */
export function doorAuth(a: DoorAuth, config: Config): RequestHandler[] {
  if ('header' in a) {
    const { name } = a.header;
    const matches = secretMatcher(a.header.value);
    return [(req, _res, next) => next(matches(req.get(name)) ? undefined : unauthorized(`Header name="${name}"`))];
  }
  if ('basic' in a) {
    const userMatches = secretMatcher(a.basic.username);
    const passMatches = secretMatcher(a.basic.password);
    return [
      (req, _res, next) => {
        const c = basicCredentials(req.headers.authorization);
        // Both parts are always compared, so the time does not say which one was wrong.
        const userOk = userMatches(c?.[0]);
        const passOk = passMatches(c?.[1]);
        next(c && userOk && passOk ? undefined : unauthorized(`Basic realm="${REALM}", charset="UTF-8"`));
      },
    ];
  }
  if ('bearer' in a) {
    const matches = secretMatcher(a.bearer);
    return [(req, _res, next) => next(matches(bearerToken(req.headers.authorization)) ? undefined : unauthorized(`Bearer realm="${REALM}"`))];
  }
  if ('jwt' in a) {
    const j = a.jwt;
    const check = tokenCheck({
      issuer: j.issuer,
      audience: j.audience,
      jwks_uri: j.jwks_uri,
      allow_insecure_http: j.allow_insecure_http,
      jwks: config.auth.jwks,
      // The clients allow-list is checked below (doorClientId also reads Okta's cid).
      clients: [],
      algorithms: [...ALLOWED_ALGORITHMS],
      // An IdP's own token (Entra's, Okta's OAuth client) is not a client-credentials token of our issuer.
      require_client_subject: false,
      clock_tolerance_s: config.auth.clock_tolerance_s,
    });
    return j.clients.length === 0 ? check : [...check, clientAllowed(new Set(j.clients))];
  }
  const allowed = new Set(a.client_cert.fingerprints_sha256.map(normFingerprint));
  return [
    (req, _res, next) => {
      const f = clientCertFingerprint(req);
      next(f !== undefined && (allowed.size === 0 || allowed.has(normFingerprint(f))) ? undefined : unauthorized(`Certificate realm="${REALM}"`));
    },
  ];
}

/**
 * The verified token's client: azp, client_id (auth.ts clientIdOf, also sub "<id>@clients"), Okta's cid, or an
 * Entra v1 token's appid.
 */
export function doorClientId(payload: Record<string, unknown>): string | undefined {
  const id = clientIdOf(payload);
  if (id !== undefined) return id;
  for (const k of ['cid', 'appid'] as const) if (typeof payload[k] === 'string') return payload[k] as string;
  return undefined;
}

/** After the token check: a door jwt's `clients`, when listed, must name the token's client; else 401 invalid_token. */
function clientAllowed(clients: ReadonlySet<string>): RequestHandler {
  return (req, _res, next) => {
    const payload = (req as Request & { auth?: { payload?: Record<string, unknown> } }).auth?.payload ?? {};
    const id = doorClientId(payload);
    next(
      id !== undefined && clients.has(id)
        ? undefined
        : new ApiError(401, 'invalid_token', 'The bearer token is not valid for this API.', { 'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token"` }),
    );
  };
}

/** A verify's result as a door sees it. A store outage is not an attempt: it is thrown (a 503 ApiError). */
export type Attempt =
  | { kind: 'match'; profile: Profile }
  /** Unknown user, wrong password, already migrated, no usable scheme: one answer, as for /v1/credentials/verify. */
  | { kind: 'mismatch' }
  | { kind: 'blocked' }
  | { kind: 'limited'; retryAfterS: number }
  | { kind: 'ambiguous' };

export async function attempt(verify: () => Promise<Profile>): Promise<Attempt> {
  try {
    return { kind: 'match', profile: await verify() };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    switch (e.code) {
      case 'invalid_credentials':
        return { kind: 'mismatch' };
      case 'user_blocked':
        return { kind: 'blocked' };
      case 'too_many_attempts':
        return { kind: 'limited', retryAfterS: Number(e.headers['Retry-After'] ?? '60') || 60 };
      case 'ambiguous_login':
        return { kind: 'ambiguous' };
      default:
        throw e;
    }
  }
}

/**
 * After a match at a door whose IdP never calls again for that user: mark the user migrated (mark_on_success).
 * Started after the door has answered, never awaited by it: the IdP gets its answer within its own timeout however
 * slow the mark is (an IdP that timed out would fail the sign-in while the late mark locks the user out).
 * A failed mark does not undo the match the IdP acts on: it is logged (the door and the error's class, never the
 * login) and can be caught up with `legacy-gateway reconcile`. The returned promise never rejects.
 */
export async function markAfterMatch(deps: DoorDeps, door: string, enabled: boolean, profile: Profile): Promise<void> {
  if (!enabled) return;
  try {
    await deps.gateway.markMigrated(profile.user_id);
  } catch (e) {
    deps.logger.warn({ door, err_class: errorClass(e), ...(e instanceof ApiError ? { err_code: e.code } : {}) }, 'front door: the user matched but could not be marked migrated');
  }
}

/** The value at a dotted path of a parsed JSON body (objects only: an array or a scalar on the way is undefined). */
export function valueAt(body: unknown, path: string): unknown {
  let v: unknown = body;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/**
 * A field of a parsed JSON body (a dotted path) checked with one of the API's own schemas (loginSchema,
 * passwordSchema from src/routes.ts), or a 400 invalid_request naming the field.
 */
export function field<T>(schema: z.ZodType<T>, body: unknown, path: string): T {
  const v = valueAt(body, path);
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new ApiError(400, 'invalid_request', `${path}: ${v === undefined ? 'required' : (issue?.message ?? 'invalid')}`.slice(0, 300));
}
