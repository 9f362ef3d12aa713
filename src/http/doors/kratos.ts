/**
 * Ory Kratos password migration hook: POST /v1/idp/kratos/password-migration with Kratos's default body
 * {"identifier", "password"}. 200 {"status":"password_match"} on a match (Kratos then stores its own hash and never
 * calls again for that identity); 403 for everything that is not a match (invalid_credentials, or
 * too_many_attempts with Retry-After); 503 when the store is down (Kratos answers its user 502 for any status but
 * 200 and 403, and never retries a 403).
 */
import { Router } from 'express';
import { bodyObject, jsonBody, requireJson } from '../body.js';
import { loginSchema, passwordSchema } from '../../routes.js';
import { attempt, doorAuth, field, markAfterMatch, type DoorDeps } from './common.js';
import type { KratosDoorConfig } from './config.js';
import { clientGone } from '../gone.js';

export function kratosDoor(cfg: KratosDoorConfig, deps: DoorDeps): Router {
  const r = Router();
  r.post('/password-migration', ...doorAuth(cfg.auth, deps.config), ...jsonBody(deps.config.server.body_limit), async (req, res) => {
    requireJson(req);
    const body = bodyObject(req);
    const identifier = field(loginSchema, body, 'identifier');
    const password = field(passwordSchema, body, 'password');
    const a = await attempt(() => deps.gateway.verify(identifier, password, clientGone(res)));
    if (a.kind === 'match') {
      res.json({ status: 'password_match' });
      // After the answer: Kratos waits for the verdict, not for the mark.
      void markAfterMatch(deps, 'kratos', cfg.mark_on_success, a.profile);
      return;
    }
    // Kratos reads only the status: 403 is "invalid credentials" to its user. The body says which, for the logs.
    if (a.kind === 'limited') {
      res.set('Retry-After', String(a.retryAfterS));
      res.locals.errorCode = 'too_many_attempts';
      res.status(403).json({ error: 'too_many_attempts', message: 'Too many failed attempts for this login. Try again later.' });
      return;
    }
    res.locals.errorCode = 'invalid_credentials';
    res.status(403).json({ error: 'invalid_credentials', message: 'Wrong username or password.' });
  });
  return r;
}
