/** The v1 HTTP routes: validate input with zod, call the use case, shape the response. */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { requireScope, SCOPES } from './auth.js';
import { ApiError } from './errors.js';
import { requireJson } from './http/body.js';
import type { CallerGateway } from './gateway.js';
import { clientGone } from './http/gone.js';

const noNul = (s: string) => !s.includes('\u0000');
const stringError = { error: (i: { input?: unknown }) => (i.input === undefined ? 'required' : 'must be a string') };
export const loginSchema = z
  .string(stringError)
  .trim()
  .min(1, 'must not be empty')
  .max(320, 'must be at most 320 characters')
  .refine(noNul, 'must not contain NUL characters');
/**
 * Longest password, in bytes of UTF-8. Several legacy schemes cost more as the password grows (sha-crypt and
 * md5-crypt hash it once per round, phpass once per iteration): the bound keeps one verification bounded, and it is
 * checked before anything else, so it answers the same for every login, known or not.
 */
export const PASSWORD_MAX_BYTES = 1024;
export const passwordSchema = z
  .string(stringError)
  .min(1, 'must not be empty')
  .refine((s) => Buffer.byteLength(s, 'utf8') <= PASSWORD_MAX_BYTES, `must be at most ${PASSWORD_MAX_BYTES} bytes of UTF-8`)
  .refine(noNul, 'must not contain NUL characters');

const verifyBody = z.object({ login: loginSchema, password: passwordSchema }).strict();
const lookupBody = z.object({ login: loginSchema }).strict();
/** A public user_id (a path parameter): /v1/users/{user_id}, and the Keycloak door's POST /users/{id}. */
export const userIdParam = z
  .string()
  .min(1)
  .max(256, 'must be at most 256 characters')
  .refine(noNul, 'must not contain NUL characters');

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(400, 'invalid_request', 'The body must be a JSON object.');
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const msg = r.error.issues
    .slice(0, 5)
    .map((i) => {
      if (i.code === 'unrecognized_keys') return `unknown field(s): ${i.keys.map((k) => k.slice(0, 40)).join(', ')}`;
      const path = i.path.join('.') || 'body';
      return `${path}: ${/received undefined/.test(i.message) ? 'required' : i.message}`;
    })
    .join('; ');
  throw new ApiError(400, 'invalid_request', msg.slice(0, 500));
}

function userId(req: Request): string {
  const r = userIdParam.safeParse(req.params.user_id);
  if (!r.success) throw new ApiError(400, 'invalid_request', `user_id: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

/**
 * gatewayFor: the use cases as the request's caller runs them (src/app.ts binds the token's client), so that every
 * audit event names who asked.
 */
export function v1Routes(gatewayFor: (req: Request) => CallerGateway): Router {
  const r = Router();

  r.post('/credentials/verify', requireScope(SCOPES.verify), async (req, res) => {
    requireJson(req);
    const body = parse(verifyBody, req.body);
    res.json({ user: await gatewayFor(req).verify(body.login, body.password, clientGone(res)) });
  });

  r.post('/users/lookup', requireScope(SCOPES.readUsers), async (req, res) => {
    requireJson(req);
    const body = parse(lookupBody, req.body);
    res.json({ user: await gatewayFor(req).lookup(body.login) });
  });

  r.get('/users/:user_id', requireScope(SCOPES.readUsers), async (req, res) => {
    res.json({ user: await gatewayFor(req).getById(userId(req)) });
  });

  r.put('/users/:user_id/migration', requireScope(SCOPES.migrate), async (req, res) => {
    res.json(await gatewayFor(req).markMigrated(userId(req)));
  });

  r.delete('/users/:user_id/migration', requireScope(SCOPES.migrate), async (req, res) => {
    await gatewayFor(req).unmarkMigrated(userId(req));
    res.status(204).end();
  });

  r.get('/migration/status', requireScope(SCOPES.readMigration), async (req, res) => {
    res.json(await gatewayFor(req).status());
  });

  return r;
}
