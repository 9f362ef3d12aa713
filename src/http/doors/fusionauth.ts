/**
 * FusionAuth Generic Connector: POST /v1/idp/fusionauth/connector with FusionAuth's body {"applicationId",
 * "loginId", "password", "eventInfo", "newDevice", "noJWT", ...}. 200 {"user": {...}} (a Login-API user) on a match
 * only; every other answer is 404, as FusionAuth requires ("the only other status code FusionAuth will accept from
 * your connector is a 404"; it turns any other status into a 404 itself). That includes an outage (the store down,
 * the deadline passed, the limiter's Redis down): FusionAuth cannot be told, so it is logged here (a warn line naming
 * the door and the reason, never the login) and counted under its own outcome (store_unavailable, ...) in the request
 * metrics, besides the gateway's own "legacy store unavailable" line. Input FusionAuth never sends (not JSON, no loginId, ...) is a 400 with the
 * API's error codes, which FusionAuth also shows as a failed login.
 */
import { Router, type Response } from 'express';
import { v5 as uuidv5 } from 'uuid';
import { ApiError, type ErrorCode } from '../../errors.js';
import type { Profile } from '../../profile.js';
import { loginSchema, passwordSchema } from '../../routes.js';
import { bodyObject, jsonBody, requireJson } from '../body.js';
import { attempt, doorAuth, field, markAfterMatch, type Attempt, type DoorDeps } from './common.js';
import type { FusionauthDoorConfig } from './config.js';
import { clientGone } from '../gone.js';

/** The user as FusionAuth's Login API shapes it (only the fields the gateway knows). */
export interface FusionauthUser {
  id: string;
  email?: string;
  username?: string;
  firstName?: string;
  lastName?: string;
  fullName?: string;
  active: boolean;
  verified: boolean;
  data: Record<string, unknown>;
  registrations: { applicationId: string; roles: string[] }[];
}

/**
 * The profile as a FusionAuth user. id = UUIDv5(user_id, uuid_namespace): the same UUID at every login and on
 * every gateway with the same namespace. data = user_metadata, then app_metadata over it (app_metadata wins on a
 * shared key), then legacy_user_id (the profile's user_id), which always wins.
 */
export function fusionauthUser(p: Profile, cfg: Pick<FusionauthDoorConfig, 'uuid_namespace' | 'registrations'>): FusionauthUser {
  return {
    id: uuidv5(p.user_id, cfg.uuid_namespace),
    ...(p.email !== undefined ? { email: p.email } : {}),
    ...(p.username !== undefined ? { username: p.username } : {}),
    ...(p.given_name !== undefined ? { firstName: p.given_name } : {}),
    ...(p.family_name !== undefined ? { lastName: p.family_name } : {}),
    ...(p.name !== undefined ? { fullName: p.name } : {}),
    active: !p.blocked,
    verified: p.email_verified === true,
    // Spread defines own properties: a metadata key named "__proto__" stays a plain key.
    data: { ...p.user_metadata, ...p.app_metadata, legacy_user_id: p.user_id },
    registrations: cfg.registrations.map((r) => ({ applicationId: r.applicationId, roles: [...r.roles] })),
  };
}

function notFound(res: Response, code: ErrorCode, message: string): void {
  res.locals.errorCode = code;
  res.status(404).json({ error: code, message });
}

export function fusionauthDoor(cfg: FusionauthDoorConfig, deps: DoorDeps): Router {
  const r = Router();
  r.post('/connector', ...doorAuth(cfg.auth, deps.config), ...jsonBody(deps.config.server.body_limit), async (req, res) => {
    requireJson(req);
    const body = bodyObject(req);
    const loginId = field(loginSchema, body, 'loginId');
    const password = field(passwordSchema, body, 'password');
    let a: Attempt;
    try {
      a = await attempt(() => deps.gateway.verify(loginId, password, clientGone(res)));
    } catch (e) {
      // A 503: the store is down or its breaker open (store_unavailable), the answer took too long
      // (deadline_exceeded), the limiter's Redis is down (limiter_unavailable). FusionAuth takes 200 or 404 only:
      // the outage must not look like a wrong password in our own logs.
      if (!(e instanceof ApiError) || e.status !== 503) throw e;
      // Its caller left before the password was checked (request_abandoned): no outage, and no one to answer.
      if (e.code === 'request_abandoned') return;
      deps.logger.warn({ door: 'fusionauth', reason: e.code }, 'front door: the gateway could not answer (outage); answered 404, which FusionAuth shows as a failed login');
      notFound(res, e.code, e.message);
      return;
    }
    if (a.kind === 'match') {
      res.json({ user: fusionauthUser(a.profile, cfg) });
      // After the answer: FusionAuth waits for the user, not for the mark.
      void markAfterMatch(deps, 'fusionauth', cfg.mark_on_success, a.profile);
      return;
    }
    if (a.kind === 'limited') {
      res.set('Retry-After', String(a.retryAfterS));
      notFound(res, 'too_many_attempts', 'Too many failed attempts for this login. Try again later.');
      return;
    }
    // Unknown user, wrong password, already migrated, blocked, ambiguous: one answer.
    notFound(res, 'invalid_credentials', 'Wrong username or password.');
  });
  return r;
}
