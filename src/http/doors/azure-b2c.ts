/**
 * Azure AD B2C seamless migration: the RESTful technical profile a custom policy runs as a validation technical
 * profile of local-account sign-in, for a user still flagged extension_requiresMigration.
 * POST /v1/idp/azure-b2c/verify, SendClaimsIn=Body: {"email", "password"}. Microsoft's seamless-migration sample
 * sends the signInName claim with PartnerClaimType="email"; a profile that leaves it unmapped sends "signInName",
 * which is read when "email" is absent.
 *
 * 200 {"tokenSuccess":true,"migrationRequired":false} on a match: the policy then writes the password and persists
 * migrationRequired into extension_requiresMigration, so B2C never calls again for that user (mark_on_success).
 * 409 with B2C's error body for everything else (wrong password, unknown, migrated, blocked, ambiguous, too many
 * failures): one userMessage, which B2C shows on the sign-in page. 400/413/415 in the same shape for a body the
 * policy should never send, and 429 too_many_requests over limits.client_requests. 503 when the store is down: a
 * 5xx, so B2C shows its own "request failed" message (DefaultUserMessageIfRequestFailed) instead of calling the
 * password wrong.
 */
import { Router, type ErrorRequestHandler, type Response } from 'express';
import { ApiError } from '../../errors.js';
import { bodyObject, bodyParserError, jsonBody, requireJson } from '../body.js';
import { loginSchema, passwordSchema } from '../../routes.js';
import { attempt, doorAuth, field, markAfterMatch, type DoorDeps } from './common.js';
import type { AzureB2cDoorConfig } from './config.js';
import { clientGone } from '../gone.js';

/** userMessage for a request the policy should never send: the user cannot fix it by typing something else. */
export const B2C_BAD_REQUEST_MESSAGE = 'The sign-in could not be completed.';

/**
 * B2C's error body. B2C requires "status": 409 in the body whatever the HTTP status (any 4xx), shows userMessage
 * to the user, and code, requestId and developerMessage only with the technical profile's DebugMode on.
 */
function b2cError(res: Response, httpStatus: number, code: string, userMessage: string, developerMessage: string): void {
  res.locals.errorCode = code;
  res.status(httpStatus).json({
    version: '1.0.0',
    status: 409,
    code,
    userMessage,
    developerMessage,
    requestId: String(res.getHeader('X-Request-Id') ?? ''),
  });
}

/** B2C's userMessage for the door's request rate (limits.client_requests): the caller, not the password, is wrong. */
export const B2C_TOO_MANY_REQUESTS_MESSAGE = 'Too many sign-in requests. Try again in a moment.';

/**
 * The 400/413/415 answers of this door (its own, and the body parser's, mapped as the API maps them) and the
 * request rate's 429, as ApiErrors; undefined for anything else (401, 403, 503 keep the API's shape).
 */
function clientError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return [400, 413, 415].includes(err.status) || err.code === 'too_many_requests' ? err : undefined;
  return bodyParserError(err);
}

/**
 * Bad input and the request rate's 429 in B2C's shape (B2C shows a 4xx body only in that shape); anything else goes
 * on to the app's handler. Mounted after the door's router (src/app.ts), so it also sees the 429 raised before it.
 */
export const b2cErrors: ErrorRequestHandler = (err, _req, res, next) => {
  const e = clientError(err);
  if (!e || res.headersSent) {
    next(err);
    return;
  }
  res.set(e.headers);
  b2cError(res, e.status, e.code, e.code === 'too_many_requests' ? B2C_TOO_MANY_REQUESTS_MESSAGE : B2C_BAD_REQUEST_MESSAGE, e.message);
};

export function azureB2cDoor(cfg: AzureB2cDoorConfig, deps: DoorDeps): Router {
  const r = Router();
  r.post('/verify', ...doorAuth(cfg.auth, deps.config), ...jsonBody(deps.config.server.body_limit), async (req, res) => {
    requireJson(req);
    const body = bodyObject(req);
    // "email" as the sample maps it; "signInName" when the profile sends the claim unmapped. "email" wins.
    const login = field(loginSchema, body, body.email === undefined && body.signInName !== undefined ? 'signInName' : 'email');
    const password = field(passwordSchema, body, 'password');
    const a = await attempt(() => deps.gateway.verify(login, password, clientGone(res)));
    if (a.kind === 'match') {
      res.json({ tokenSuccess: true, migrationRequired: false });
      // After the answer: B2C waits for nothing but the match.
      void markAfterMatch(deps, 'azure_b2c', cfg.mark_on_success, a.profile);
      return;
    }
    // One userMessage for every non-match: the sign-in page does not learn whether the user exists, is blocked, or
    // is only locked out for a while (B2C ignores Retry-After; the operator sees the code with DebugMode).
    if (a.kind === 'limited') {
      res.set('Retry-After', String(a.retryAfterS));
      b2cError(res, 409, 'too_many_attempts', cfg.user_message, `Too many failed attempts for this login. Try again in ${a.retryAfterS} s.`);
      return;
    }
    b2cError(res, 409, 'invalid_credentials', cfg.user_message, 'Wrong username or password.');
  });
  // b2cErrors is mounted after this router by src/app.ts (src/http/doors/index.ts), not here: it must see the
  // request rate's 429 too, raised before the router.
  return r;
}
