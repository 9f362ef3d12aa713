/** JSON request bodies, for the /v1 API and the IdP front doors alike: UTF-8 only, bounded, objects only. */
import express, { type Request, type RequestHandler } from 'express';
import { ApiError } from '../errors.js';

/** Bodies are UTF-8 JSON; body-parser alone would also take utf-16. */
export const utf8Only: RequestHandler = (req, _res, next) => {
  const type = req.headers['content-type'];
  if (type) {
    const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(type);
    if (m && m[1]!.toLowerCase() !== 'utf-8' && m[1]!.toLowerCase() !== 'utf8') {
      next(new ApiError(415, 'unsupported_media_type', 'Send the body as UTF-8 application/json.'));
      return;
    }
  }
  next();
};

/**
 * utf8Only, then express.json(). strict: false so that a bare "str" / 42 / null parses and is refused as
 * invalid_request (not a JSON object) rather than as malformed JSON. `type` widens what counts as JSON (an IdP that
 * sends application/cloudevents+json).
 */
export function jsonBody(limit: string, type: string | string[] = 'application/json'): RequestHandler[] {
  return [utf8Only, express.json({ limit, strict: false, type })];
}

export function requireJson(req: Request, type: string | string[] = 'application/json'): void {
  if (!req.is(type)) {
    throw new ApiError(415, 'unsupported_media_type', 'Send the body as application/json.');
  }
}

/** The parsed body as a plain object; anything else (an array, a string, null, no body) is a 400. */
export function bodyObject(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === undefined || b === null || typeof b !== 'object' || Array.isArray(b)) {
    throw new ApiError(400, 'invalid_request', 'The body must be a JSON object.');
  }
  return b as Record<string, unknown>;
}
