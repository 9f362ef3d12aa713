/**
 * Keycloak user-migration plugin (daniel-frak/keycloak-user-migration, "User migration using a REST client"): two
 * routes on one path, under the REST client URI /v1/idp/keycloak/users.
 *
 *   GET  /users/{username or email}  → 200 the plugin's user shape, or 404 (the plugin reads any non-200 as "not
 *                                      found"). A store outage is 503: the plugin still reads "not found", but our
 *                                      logs and metrics show an outage, not a miss.
 *   POST /users/{username or id}     {"password"} → 200 {} on a match only (the plugin then stores the password
 *                                      and severs the federation link: the user is marked migrated), 401 for every
 *                                      other answer, 429 when limited, 503 when the store is down (all "invalid
 *                                      credentials" to the plugin).
 *
 * The path segment is decoded as the plugin encodes it: java.net.URLEncoder (Keycloak's Encode.urlEncode), i.e.
 * application/x-www-form-urlencoded, where '+' is a space and '%2B' a plus sign.
 */
import { Router, type Request, type Response } from 'express';
import { ApiError } from '../../errors.js';
import type { Profile } from '../../profile.js';
import { loginSchema, passwordSchema, userIdParam } from '../../routes.js';
import { bodyObject, jsonBody, requireJson } from '../body.js';
import { attempt, doorAuth, field, markAfterMatch, type DoorDeps } from './common.js';
import type { KeycloakDoorConfig } from './config.js';
import { clientGone } from '../gone.js';

/** Keycloak's user id column (USER_ENTITY.ID) is 36 characters. */
const KEYCLOAK_ID_MAX = 36;

/** The user as the plugin's LegacyUser reads it (Jackson, unknown properties refused: only these keys are sent). */
export interface KeycloakUser {
  id: string;
  username: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  enabled: boolean;
  emailVerified: boolean;
  attributes: Record<string, string[]>;
  roles: string[];
  groups: string[];
}

/** One metadata value as a Keycloak attribute value (a string). */
function attributeText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString();
  // A bigint inside an object has no JSON form of its own: its decimal text.
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? '';
}

/**
 * app_metadata and user_metadata as Keycloak attributes ({name: [values]}): an array stays a list (its null items
 * dropped, every other item as text), a string, number or boolean becomes a one-value list, an object is one
 * JSON-encoded value, a null value leaves the key out. On a key in both, app_metadata wins.
 */
export function keycloakAttributes(p: Pick<Profile, 'app_metadata' | 'user_metadata'>): Record<string, string[]> {
  const out = new Map<string, string[]>();
  for (const meta of [p.user_metadata, p.app_metadata]) {
    for (const [k, v] of Object.entries(meta)) {
      if (v === null || v === undefined) continue;
      out.set(k, Array.isArray(v) ? v.filter((x) => x !== null && x !== undefined).map(attributeText) : [attributeText(v)]);
    }
  }
  // fromEntries defines own properties: a key named "__proto__" stays a plain key.
  return Object.fromEntries(out);
}

/** The profile in the plugin's user shape; null when it has neither a username nor an email (Keycloak needs one). */
export function keycloakUser(p: Profile, cfg: Pick<KeycloakDoorConfig, 'roles' | 'groups'>): KeycloakUser | null {
  // Keycloak needs a username: a legacy user without one gets its email (both are lower-cased by the profile, as
  // Keycloak stores usernames; the plugin refuses a user whose username Keycloak would change).
  const username = p.username ?? p.email;
  if (username === undefined) return null;
  return {
    id: p.user_id,
    username,
    ...(p.email !== undefined ? { email: p.email } : {}),
    ...(p.given_name !== undefined ? { firstName: p.given_name } : {}),
    ...(p.family_name !== undefined ? { lastName: p.family_name } : {}),
    enabled: !p.blocked,
    emailVerified: p.email_verified === true,
    attributes: keycloakAttributes(p),
    roles: [...cfg.roles],
    groups: [...cfg.groups],
  };
}

/**
 * The plugin keeps a looked-up user only when the answer's email (email lookup) or username (username lookup)
 * equals what it asked, upper-cased (String.toUpperCase(Locale.ROOT)). The gateway's matching rule is looser (it
 * trims, and lower-cases with JavaScript's rule): an answer the plugin would drop is not sent at all.
 */
export function echoesAsked(asked: string, u: Pick<KeycloakUser, 'email' | 'username'>): boolean {
  const a = asked.toUpperCase();
  return a === u.username.toUpperCase() || (u.email !== undefined && a === u.email.toUpperCase());
}

/**
 * The {usernameOrEmail} / {id} segment, decoded as the plugin encodes it (form encoding: '+' is a space). Express has
 * already decoded the same segment as the route parameter and answered 400 when it is not valid percent-encoded
 * UTF-8, so decoding it again cannot fail here.
 */
function pathParam(req: Request): string {
  const m = /^\/users\/([^/]+)\/?$/i.exec(req.path);
  if (!m) throw new ApiError(404, 'not_found', 'No such endpoint.');
  return decodeURIComponent(m[1]!.replace(/\+/g, ' '));
}

function userNotFound(res: Response): void {
  res.locals.errorCode = 'user_not_found';
  res.status(404).json({ error: 'user_not_found', message: 'No such user.' });
}

export function keycloakDoor(cfg: KeycloakDoorConfig, deps: DoorDeps): Router {
  const r = Router();
  const auth = doorAuth(cfg.auth, deps.config);
  /** Keycloak keeps the id as the user's own id, in a 36-character column: said once, for the operator. */
  let warnedLongId = false;

  r.get('/users/:usernameOrEmail', ...auth, async (req, res) => {
    const asked = pathParam(req);
    const login = field(loginSchema, { usernameOrEmail: asked }, 'usernameOrEmail');
    let profile: Profile;
    try {
      profile = await deps.gateway.lookup(login);
    } catch (e) {
      // Unknown, already migrated, or naming two accounts: "not found" is all the plugin can take. An outage
      // (store_unavailable, deadline_exceeded) goes on to the error handler: 503, logged and counted as such.
      if (e instanceof ApiError && (e.code === 'user_not_found' || e.code === 'ambiguous_login')) return userNotFound(res);
      throw e;
    }
    const user = keycloakUser(profile, cfg);
    if (!user || !echoesAsked(asked, user)) return userNotFound(res);
    if (user.id.length > KEYCLOAK_ID_MAX && !warnedLongId) {
      warnedLongId = true;
      deps.logger.warn({ door: 'keycloak', id_length: user.id.length, max: KEYCLOAK_ID_MAX }, 'front door: a user_id is longer than Keycloak stores as a user id; shorten profile.user_id_prefix');
    }
    res.json(user);
  });

  r.post('/users/:usernameOrId', ...auth, ...jsonBody(deps.config.server.body_limit), async (req, res) => {
    requireJson(req);
    const param = pathParam(req);
    const byId = cfg.verify_by === 'id';
    // Validated before the body: a bad path is a 400 whatever the body says.
    const who = byId ? field(userIdParam, { id: param }, 'id') : field(loginSchema, { username: param }, 'username');
    const password = field(passwordSchema, bodyObject(req), 'password');
    const a = await attempt(() => (byId ? deps.gateway.verifyById(who, password, clientGone(res)) : deps.gateway.verify(who, password, clientGone(res))));
    if (a.kind === 'match') {
      // The plugin decides on the status alone (it still reads a 200's entity as text): a small JSON body, not none.
      res.json({});
      // After the answer: the plugin waits for the verdict, not for the mark.
      void markAfterMatch(deps, 'keycloak', cfg.mark_on_success, a.profile);
      return;
    }
    if (a.kind === 'limited') {
      res.locals.errorCode = 'too_many_attempts';
      res.status(429).set('Retry-After', String(a.retryAfterS)).json({ error: 'too_many_attempts', message: 'Too many failed attempts for this login. Try again later.' });
      return;
    }
    res.locals.errorCode = 'invalid_credentials';
    res.status(401).json({ error: 'invalid_credentials', message: 'Wrong username or password.' });
  });
  return r;
}
