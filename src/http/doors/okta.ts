/**
 * Okta: the password import inline hook, and (optionally) an Event Hook that confirms Okta stored the password.
 *
 * POST /v1/idp/okta/password-import — inline hook type `com.okta.user.credential.password.import`. Okta posts the
 * password the user typed at their first sign-in in `data.context.credential.{username,password}` (the documented
 * sample; older prose says `data.credential`, also read). The answer is always 200 with one command,
 * `com.okta.action.update` → `{"credential":"VERIFIED"}` on a match and `"UNVERIFIED"` for everything else. A store
 * outage is 503, never UNVERIFIED: Okta then fails this sign-in (and retries the call at most once) but calls the
 * hook again on the next one, while UNVERIFIED would turn a right password away as wrong.
 *   https://developer.okta.com/docs/api/openapi/okta-management/management/tags/inlinehook/webhooks/createpasswordimportinlinehook
 *   https://developer.okta.com/docs/concepts/inline-hooks/ ("Time out and retry": 3 s, at most one retry, none on a
 *   2xx or 4xx; a password import hook failure stops the sign-in and the next sign-in calls the hook again)
 *
 * GET|POST /v1/idp/okta/events — an Okta Event Hook subscribed to `user.import.password`. The one-time GET carries
 * `X-Okta-Verification-Challenge`, answered as `{"verification": "<value>"}`. Each POST carries System Log events in
 * `data.events[]`; for `user.import.password` with `outcome.result` SUCCESS (Okta saved the password) the user named
 * by the event's User target (`alternateId`, the Okta login) is marked migrated. The answer is an empty 204. A store
 * failure while marking is 503: a 2xx would drop the marks for good, a 5xx gets Okta's one retry (marks are
 * idempotent); a 4xx is never retried, so only a delivery that cannot be read at all is refused with one.
 *   https://developer.okta.com/docs/concepts/event-hooks/ (one-time verification, `data.events`, 3 s timeout,
 *   at most one retry, 4xx not retried, "responses ... should be empty ... 200 (OK) or 204 (No Content)")
 */
import { Router } from 'express';
import { bodyObject, jsonBody, requireJson } from '../body.js';
import { ApiError, storeUnavailable } from '../../errors.js';
import type { CallerGateway } from '../../gateway.js';
import { loginSchema, passwordSchema } from '../../routes.js';
import { attempt, doorAuth, field, markAfterMatch, type Attempt, type DoorDeps } from './common.js';
import type { OktaDoorConfig } from './config.js';
import { clientGone } from '../gone.js';

export const OKTA_HOOK_EVENT_TYPE = 'com.okta.user.credential.password.import';
export const OKTA_IMPORT_EVENT_TYPE = 'user.import.password';
/** Most System Log events one delivery may hold (Okta groups events that occur close together). */
export const MAX_EVENTS_PER_DELIVERY = 200;
/** Marks run this many at a time, and stop (503, Okta retries once) when they would not fit in Okta's 3 s. */
const MARK_CONCURRENCY = 4;
const MARK_BUDGET_MS = 2000;
const CHALLENGE_MAX = 1024;

export type OktaVerdict = 'VERIFIED' | 'UNVERIFIED';

export function oktaVerdict(credential: OktaVerdict) {
  return { commands: [{ type: 'com.okta.action.update', value: { credential } }] };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Where this request carries the credential: the documented `data.context.credential`, or the older `data.credential`. */
function credentialPath(body: Record<string, unknown>): string {
  const data = isObject(body.data) ? body.data : {};
  const context = isObject(data.context) ? data.context : {};
  return !isObject(context.credential) && isObject(data.credential) ? 'data.credential' : 'data.context.credential';
}

/** The metric/log outcome of an UNVERIFIED answer (the body is the same for all of them). */
const UNVERIFIED_CODE: Record<Exclude<Attempt['kind'], 'match'>, string> = {
  mismatch: 'invalid_credentials',
  blocked: 'user_blocked',
  limited: 'too_many_attempts',
  ambiguous: 'ambiguous_login',
};

/** Logins named as the User target of `user.import.password` SUCCESS events; `skipped`: such events naming none. */
export function importedLogins(events: unknown[]): { logins: string[]; skipped: number } {
  const logins = new Map<string, string>();
  let skipped = 0;
  events.forEach((ev, i) => {
    if (!isObject(ev)) throw new ApiError(400, 'invalid_request', `data.events[${i}]: must be an object`);
    if (ev.eventType !== OKTA_IMPORT_EVENT_TYPE) return;
    if (!isObject(ev.outcome) || ev.outcome.result !== 'SUCCESS') return;
    let named = false;
    for (const t of Array.isArray(ev.target) ? ev.target : []) {
      if (!isObject(t) || t.type !== 'User') continue;
      const login = loginSchema.safeParse(t.alternateId);
      if (!login.success) continue;
      logins.set(login.data.toLowerCase(), login.data);
      named = true;
    }
    if (!named) skipped++;
  });
  return { logins: [...logins.values()], skipped };
}

/**
 * Mark each login migrated, a few at a time. The first store failure is thrown (after the marks in flight settle);
 * running out of the time budget is a 503 as well, so that Okta's retry finishes the rest.
 */
async function markAll(gateway: CallerGateway, logins: string[]): Promise<{ marked: number; notFound: number }> {
  const deadline = performance.now() + MARK_BUDGET_MS;
  let next = 0;
  let marked = 0;
  let notFound = 0;
  let failure: unknown;
  let late = false;
  const worker = async () => {
    while (failure === undefined && next < logins.length) {
      if (performance.now() > deadline) {
        late = true;
        return;
      }
      const login = logins[next++]!;
      try {
        if (await gateway.markMigratedByLogin(login)) marked++;
        else notFound++;
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(MARK_CONCURRENCY, logins.length) }, worker));
  if (failure !== undefined) throw failure;
  if (late) throw storeUnavailable();
  return { marked, notFound };
}

export function oktaDoor(cfg: OktaDoorConfig, deps: DoorDeps): Router {
  const r = Router();

  r.post('/password-import', ...doorAuth(cfg.auth, deps.config), ...jsonBody(deps.config.server.body_limit), async (req, res) => {
    requireJson(req);
    const body = bodyObject(req);
    if (body.eventType !== undefined && body.eventType !== OKTA_HOOK_EVENT_TYPE) {
      throw new ApiError(400, 'invalid_request', `eventType: must be ${OKTA_HOOK_EVENT_TYPE} (this URL is for the password import inline hook)`);
    }
    const at = credentialPath(body);
    const username = field(loginSchema, body, `${at}.username`);
    const password = field(passwordSchema, body, `${at}.password`);
    const a = await attempt(() => deps.gateway.verify(username, password, clientGone(res)));
    if (a.kind === 'match') {
      res.json(oktaVerdict('VERIFIED'));
      // After the answer: Okta waits 3 s for the verdict, not for the mark.
      void markAfterMatch(deps, 'okta', cfg.mark_on_success, a.profile);
      return;
    }
    res.locals.errorCode = UNVERIFIED_CODE[a.kind];
    res.json(oktaVerdict('UNVERIFIED'));
  });

  const events = cfg.events;
  if (events) {
    r.get('/events', ...doorAuth(events.auth, deps.config), (req, res) => {
      const challenge = req.get('x-okta-verification-challenge');
      if (challenge === undefined || challenge.length === 0 || challenge.length > CHALLENGE_MAX) {
        throw new ApiError(400, 'invalid_request', `X-Okta-Verification-Challenge: required header of 1 to ${CHALLENGE_MAX} characters`);
      }
      res.json({ verification: challenge });
    });

    r.post('/events', ...doorAuth(events.auth, deps.config), ...jsonBody(events.body_limit), async (req, res) => {
      requireJson(req);
      const body = bodyObject(req);
      const data = body.data;
      if (!isObject(data) || !Array.isArray(data.events)) {
        throw new ApiError(400, 'invalid_request', 'data.events: required (the array of System Log events)');
      }
      if (data.events.length > MAX_EVENTS_PER_DELIVERY) {
        throw new ApiError(400, 'invalid_request', `data.events: at most ${MAX_EVENTS_PER_DELIVERY} events per delivery`);
      }
      const { logins, skipped } = importedLogins(data.events);
      const { marked, notFound } = await markAll(deps.gateway, logins);
      if (logins.length > 0 || skipped > 0) {
        // Counts only: never a login.
        deps.logger.info({ door: 'okta', events: data.events.length, marked, not_found: notFound, skipped }, 'okta event hook: password imports marked migrated');
      }
      if (skipped > 0) deps.logger.warn({ door: 'okta', skipped }, 'okta event hook: a user.import.password SUCCESS event named no User target with a usable alternateId');
      res.status(204).end();
    });
  }
  return r;
}
