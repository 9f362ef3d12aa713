/**
 * What every IdP front door shares: its own authentication (compared in constant time), the verify outcome in a
 * shape a door can translate into its IdP's signalling, and marking the user migrated after a match.
 * The use cases themselves (matching rule, profile, limiter, timing decoy, logs, metrics) are the Gateway's.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Request, RequestHandler } from 'express';
import type { z } from 'zod';
import { ALLOWED_ALGORITHMS, type Config } from '../../config.js';
import { tokenCheck } from '../../auth.js';
import { ApiError } from '../../errors.js';
import type { Gateway } from '../../gateway.js';
import { errorClass, type Logger } from '../../logger.js';
import type { Profile } from '../../profile.js';
import type { DoorAuth } from './config.js';

export interface DoorDeps {
  gateway: Gateway;
  logger: Logger;
  config: Config;
}

/** Equal in constant time, whatever the lengths (both sides are hashed to 32 bytes first). */
export function secretEquals(given: string | undefined, expected: string): boolean {
  const a = createHash('sha256').update(given ?? '').digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
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
    const { name, value } = a.header;
    return [(req, _res, next) => next(secretEquals(req.get(name), value) ? undefined : unauthorized(`Header name="${name}"`))];
  }
  if ('basic' in a) {
    const { username, password } = a.basic;
    return [
      (req, _res, next) => {
        const c = basicCredentials(req.headers.authorization);
        // Both parts are always compared, so the time does not say which one was wrong.
        const userOk = secretEquals(c?.[0], username);
        const passOk = secretEquals(c?.[1], password);
        next(c && userOk && passOk ? undefined : unauthorized(`Basic realm="${REALM}", charset="UTF-8"`));
      },
    ];
  }
  if ('bearer' in a) {
    const expected = a.bearer;
    return [(req, _res, next) => next(secretEquals(bearerToken(req.headers.authorization), expected) ? undefined : unauthorized(`Bearer realm="${REALM}"`))];
  }
  if ('jwt' in a) {
    const j = a.jwt;
    return tokenCheck({
      issuer: j.issuer,
      audience: j.audience,
      jwks_uri: j.jwks_uri,
      allow_insecure_http: j.allow_insecure_http,
      jwks: config.auth.jwks,
      clients: [],
      algorithms: [...ALLOWED_ALGORITHMS],
      // An IdP's own token (Entra's, Okta's OAuth client) is not a client-credentials token of our issuer.
      require_client_subject: false,
      clock_tolerance_s: config.auth.clock_tolerance_s,
    });
  }
  const allowed = new Set(a.client_cert.fingerprints_sha256.map(normFingerprint));
  return [
    (req, _res, next) => {
      const f = clientCertFingerprint(req);
      next(f !== undefined && (allowed.size === 0 || allowed.has(normFingerprint(f))) ? undefined : unauthorized(`Certificate realm="${REALM}"`));
    },
  ];
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
 * A failed mark does not undo the match the IdP is about to act on: it is logged (the door and the error's class,
 * never the login) and can be caught up with `legacy-gateway reconcile`.
 */
export async function markAfterMatch(deps: DoorDeps, door: string, enabled: boolean, profile: Profile): Promise<void> {
  if (!enabled) return;
  try {
    await deps.gateway.markMigrated(profile.user_id);
  } catch (e) {
    deps.logger.warn({ door, err_class: errorClass(e), ...(e instanceof ApiError ? { err_code: e.code } : {}) }, 'front door: the user matched but could not be marked migrated');
  }
}

/**
 * A field of a parsed JSON body (a dotted path) checked with one of the API's own schemas (loginSchema,
 * passwordSchema from src/routes.ts), or a 400 invalid_request naming the field.
 */
export function field<T>(schema: z.ZodType<T>, body: unknown, path: string): T {
  let v: unknown = body;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new ApiError(400, 'invalid_request', `${path}: ${v === undefined ? 'required' : (issue?.message ?? 'invalid')}`.slice(0, 300));
}
